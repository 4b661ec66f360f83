"""Write-once labelled drawings: the PNG, the model input, and catalog entries that make it visible.

Sample ids are 26 characters of lowercase Crockford base32 (``0-9`` and
``a-z`` without ``i l o u``): 11 characters of microseconds since the Unix
epoch, then 15 random characters (75 bits). Ids sort by creation time as
plain strings, and the creation time is read back from the id itself.

Layout in the blob store, for a sample of digit 3 from feedback::

    samples/digit3__<id>.png              the drawing, written first
    catalog/digit3/<t>/<t>/<t>/<entry>    the digit's listing entry (empty)
    catalog/all/<t>/<t>/<t>/<entry>       the model input, written last

where ``<entry>`` is ``<inverted id>__3__feedback__<id>``. The inverted id (every
character replaced by its complement in the alphabet) sorts newest first, and
the ``<t>`` folders are its first 4, next 2 and next 2 characters (time windows
of about 9.5 hours, 34 seconds and 33 ms), so no folder grows with the dataset
and a page, with or without a digit, reads only the few folders it touches (one
bounded list call on S3). The ``all`` entry is the commit point: a drawing
without it is invisible. Its key alone carries everything a listing shows; its
body is the model input (the 28x28 uint8 the models saw, 784 bytes row by row,
ink = 255), so exporting or retraining reads one small file per sample and
never preprocesses again. A sample stored without one has an empty body and gets
its input written back on first need (``save_model_input``). Entries of the
earlier flat layout (``index/<entry>.json``) move into the catalog on first use.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from digitrec.store.blobs import BlobNotFound, BlobStore

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, ascending in ASCII
SOURCES = ("feedback", "collect")
_TIME_CHARS = 11  # 55 bits of microseconds: good until the year 3111
_RANDOM_CHARS = 15
_ID = re.compile(f"[{ALPHABET}]{{26}}", re.ASCII)
_INVERT = str.maketrans(ALPHABET, ALPHABET[::-1])
_AS_PYTHON_BASE32 = str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuv")  # int(text, 32)'s digits
_ENTRY = re.compile(
    rf"(?P<inverted>[{ALPHABET}]{{26}})__(?P<digit>[0-9])__(?P<source>{'|'.join(SOURCES)})"
    rf"__(?P<sample_id>[{ALPHABET}]{{26}})",
    re.ASCII,
)
_SCAN_BATCH = 1000  # catalog keys fetched per list call when reading every sample
MODEL_INPUT_BYTES = 28 * 28  # a model input: 28x28 uint8, row by row, ink = 255
_BUCKETS = ((0, 4), (4, 6), (6, 8))  # the folders' slices of the inverted id (see the docstring)
_LEGACY = "index/"  # the earlier flat layout
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)

_clock_lock = threading.Lock()
_last_micros = 0


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rest = divmod(value, 32)
        chars.append(ALPHABET[rest])
    return "".join(reversed(chars))


def _micros_now() -> int:
    # Strictly increasing within the process, so ids made in one burst keep their order.
    global _last_micros
    with _clock_lock:
        _last_micros = max(time.time_ns() // 1000, _last_micros + 1)
        return _last_micros


def new_id() -> str:
    """A fresh 26-character time-sortable id (see the module docstring)."""
    random_part = _encode(secrets.randbits(5 * _RANDOM_CHARS), _RANDOM_CHARS)
    return _encode(_micros_now(), _TIME_CHARS) + random_part


def id_time(any_id: str) -> str:
    """The creation time encoded in an id, as ISO 8601 UTC with microseconds."""
    micros = int(any_id[:_TIME_CHARS].translate(_AS_PYTHON_BASE32), 32)
    moment = _NAIVE_EPOCH + timedelta(microseconds=micros)  # naive: no time-zone conversion per id
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}Z"


def time_prefix(iso: str) -> str:
    """The first characters of every id made in the microsecond ``iso`` (as ``iso_utc`` writes it)."""
    moment = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return _encode((moment - _EPOCH) // timedelta(microseconds=1), _TIME_CHARS)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z, e.g. ``2026-11-25T11:30:00.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class SampleRecord:
    """One stored drawing's label; ``created`` is ISO 8601 UTC."""

    sample_id: str
    digit: int
    source: str
    created: str

    def to_json(self) -> dict:
        """The record as the API shows it."""
        return asdict(self)


def _entry_name(sample_id: str, digit: int, source: str) -> str:
    return f"{sample_id.translate(_INVERT)}__{digit}__{source}__{sample_id}"


def _folders(name: str) -> str:
    return "/".join(name[a:b] for a, b in _BUCKETS)


def _catalog_key(name: str, digit: int | None = None) -> str:
    """The entry ``name``'s key in the catalog of every sample (``digit`` None) or of one digit."""
    return f"{_catalog_prefix(digit)}{_folders(name)}/{name}"


def _catalog_prefix(digit: int | None) -> str:
    return "catalog/all/" if digit is None else f"catalog/digit{digit}/"


def _image_key(record: SampleRecord) -> str:
    return f"samples/digit{record.digit}__{record.sample_id}.png"


def _parse_entry_key(key: str) -> SampleRecord | None:
    name = key.rpartition("/")[2].removesuffix(".json")
    match = _ENTRY.fullmatch(name)
    if not match or match["inverted"] != match["sample_id"].translate(_INVERT):
        return None
    sample_id = match["sample_id"]
    return SampleRecord(sample_id, int(match["digit"]), match["source"], id_time(sample_id))


def _check_digit(digit: int) -> int:
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an integer 0-9, not {digit!r}")
    return digit


def _check_model_input(model_input: bytes | None) -> None:
    if model_input is not None and (
        not isinstance(model_input, bytes) or len(model_input) != MODEL_INPUT_BYTES
    ):
        raise ValueError(f"a model input is {MODEL_INPUT_BYTES} bytes (28x28 uint8)")


def _stored_input(body: bytes) -> bytes | None:
    """The model input an entry's body holds; None when it has none yet (an empty body)."""
    return body if len(body) == MODEL_INPUT_BYTES else None


class SampleStore:
    """Labelled drawings, listed newest first, on any BlobStore."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self._migrated = False  # whether this process has checked for the earlier layout

    def add(self, png: bytes, digit: int, source: str, model_input: bytes | None = None) -> SampleRecord:
        """Store a drawing under a new id; the ``all`` catalog entry goes last (the commit point).

        ``model_input``: the 28x28 uint8 the models saw (784 bytes, ink = 255), or None
        to have it computed from the PNG on first need.
        """
        _check_digit(digit)
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        _check_model_input(model_input)
        sample_id = new_id()
        record = SampleRecord(sample_id, digit, source, id_time(sample_id))
        self.blobs.put(_image_key(record), png)
        self._commit(record, model_input)
        return record

    def _commit(self, record: SampleRecord, model_input: bytes | None) -> None:
        name = _entry_name(record.sample_id, record.digit, record.source)
        digit_key = _catalog_key(name, record.digit)
        self.blobs.put(digit_key, b"")
        try:
            self.blobs.put(_catalog_key(name), model_input or b"")
        except BaseException:
            self.blobs.delete(digit_key)  # the sample is not stored: its digit must not list it
            raise

    def _migrate_legacy(self) -> None:
        # Moves entries of the flat layout into the catalog: write the new entries, then delete
        # the old one, so a crash in between repeats the move rather than losing the sample.
        if self._migrated:
            return
        while keys := self.blobs.list(_LEGACY, limit=_SCAN_BATCH):
            for key in keys:
                record = _parse_entry_key(key)
                if record is not None:
                    self._commit(record, None)
                self.blobs.delete(key)
        self._migrated = True

    def _find(self, sample_id: str) -> tuple[SampleRecord, str]:
        if not isinstance(sample_id, str) or not _ID.fullmatch(sample_id):
            raise KeyError(sample_id)
        self._migrate_legacy()
        inverted = sample_id.translate(_INVERT)
        for key in self.blobs.list(f"catalog/all/{_folders(inverted)}/{inverted}__", limit=1):
            record = _parse_entry_key(key)
            if record is not None and record.sample_id == sample_id:
                return record, key
        raise KeyError(sample_id)

    def get(self, sample_id: str) -> SampleRecord:
        """The record of ``sample_id``; KeyError if unknown or not a well-formed id."""
        return self._find(sample_id)[0]

    def png(self, sample_id: str) -> bytes:
        """The drawing's PNG bytes; KeyError if unknown."""
        return self.blobs.get(_image_key(self.get(sample_id)))

    def _scan_batches(self) -> Iterator[list[tuple[SampleRecord, str]]]:
        # Catalog entries newest first, one list call per batch.
        self._migrate_legacy()
        start_after = ""
        while True:
            keys = self.blobs.list("catalog/all/", start_after=start_after, limit=_SCAN_BATCH)
            yield [(record, key) for key in keys if (record := _parse_entry_key(key)) is not None]
            if len(keys) < _SCAN_BATCH:
                return
            start_after = keys[-1]

    def _scan(self) -> Iterator[tuple[SampleRecord, str]]:
        for batch in self._scan_batches():
            yield from batch

    def list(
        self, digit: int | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[SampleRecord], str | None]:
        """One page of records, newest first, and the cursor of the next page (None if last).

        One list call of ``limit + 1`` keys in the catalog of every sample or of ``digit``.
        ``cursor`` is the opaque string a previous call returned; ValueError if malformed.
        """
        if digit is not None:
            _check_digit(digit)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive integer")
        start_after = ""
        if cursor is not None:
            if not isinstance(cursor, str) or not _ENTRY.fullmatch(cursor):
                raise ValueError("invalid cursor")
            start_after = _catalog_key(cursor, digit)
        self._migrate_legacy()
        # One key past the page, so the last page reports no next cursor.
        keys = self.blobs.list(_catalog_prefix(digit), start_after=start_after, limit=limit + 1)
        records = [record for key in keys if (record := _parse_entry_key(key)) is not None]
        if len(keys) <= limit:
            return records, None
        page = records[:limit]
        last = page[-1]
        return page, _entry_name(last.sample_id, last.digit, last.source)

    def all(self) -> Iterator[tuple[SampleRecord, bytes]]:
        """Every sample with its PNG, newest first."""
        for record, _key in self._scan():
            try:
                yield record, self.blobs.get(_image_key(record))
            except BlobNotFound:
                continue  # deleted while we were iterating

    def entries(self) -> Iterator[tuple[SampleRecord, bytes | None]]:
        """Every sample with its stored model input (784 bytes, or None if it has none yet), newest first.

        Reads one catalog entry per sample, a batch of keys at a time (``read_many``).
        """
        for batch in self._scan_batches():
            bodies = self.blobs.read_many([key for _record, key in batch])
            for (record, _key), body in zip(batch, bodies, strict=True):
                if body is not None:  # else deleted while we were iterating
                    yield record, _stored_input(body)

    def save_model_input(self, record: SampleRecord, model_input: bytes) -> None:
        """Write back the model input of a sample stored without one (computed from its PNG)."""
        if model_input is None:
            raise ValueError("a model input is required")
        _check_model_input(model_input)
        key = _catalog_key(_entry_name(record.sample_id, record.digit, record.source))
        if self.blobs.exists(key):  # not a sample deleted or relabelled meanwhile
            self.blobs.put(key, model_input)

    def model_input(self, sample_id: str) -> bytes | None:
        """The stored model input of ``sample_id`` (None if it has none yet); KeyError if unknown."""
        _record, key = self._find(sample_id)
        try:
            return _stored_input(self.blobs.get(key))
        except BlobNotFound:
            raise KeyError(sample_id) from None

    def count_by_digit(self) -> dict[int, int]:
        """How many samples each digit 0-9 has (from the catalog keys alone)."""
        counts = dict.fromkeys(range(10), 0)
        for record, _key in self._scan():
            counts[record.digit] += 1
        return counts

    def delete(self, sample_id: str) -> None:
        """Remove a sample: the commit point first (it disappears at once), then the rest."""
        record, key = self._find(sample_id)
        self.blobs.delete(key)
        self.blobs.delete(_catalog_key(_entry_name(sample_id, record.digit, record.source), record.digit))
        self.blobs.delete(_image_key(record))

    def relabel(self, sample_id: str, digit: int) -> SampleRecord:
        """Change a sample's digit (an admin fixing a wrong label); same id, time and model input.

        The new drawing and entries are written before the old ones are deleted, so a
        crash in between leaves the sample listed under both labels, never lost.
        """
        _check_digit(digit)
        old, old_key = self._find(sample_id)
        if old.digit == digit:
            return old
        model_input = _stored_input(self.blobs.get(old_key))
        new = SampleRecord(old.sample_id, digit, old.source, old.created)
        self.blobs.put(_image_key(new), self.blobs.get(_image_key(old)))
        self._commit(new, model_input)
        self.blobs.delete(old_key)
        self.blobs.delete(_catalog_key(_entry_name(sample_id, old.digit, old.source), old.digit))
        self.blobs.delete(_image_key(old))
        return new
