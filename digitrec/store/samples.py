"""Write-once labelled drawings: the PNG plus an index entry that makes it visible.

Sample ids are 26 characters of lowercase Crockford base32 (``0-9`` and
``a-z`` without ``i l o u``): 11 characters of microseconds since the Unix
epoch, then 15 random characters (75 bits). Ids sort by creation time as
plain strings, and the creation time is read back from the id itself.

Layout in the blob store, for a sample of digit 3 from feedback::

    samples/digit3__<id>.png                            the drawing, written first
    index/<inverted id>__3__feedback__<id>.json         the record, written last

The index entry is the commit point: a drawing without it is invisible. Its
key alone carries everything a listing shows, so a page of 50 samples costs one
list call, not 50 reads. The inverted id (every character replaced by its
complement in the alphabet) sorts newest first.
"""

from __future__ import annotations

import json
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
_ENTRY = re.compile(
    rf"(?P<inverted>[{ALPHABET}]{{26}})__(?P<digit>[0-9])__(?P<source>{'|'.join(SOURCES)})"
    rf"__(?P<sample_id>[{ALPHABET}]{{26}})",
    re.ASCII,
)
_SCAN_BATCH = 1000  # index keys fetched per list call when filtering by digit
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

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
    micros = 0
    for char in any_id[:_TIME_CHARS]:
        micros = micros * 32 + ALPHABET.index(char)
    return iso_utc(_EPOCH + timedelta(microseconds=micros))


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


def _index_key(name: str) -> str:
    return f"index/{name}.json"


def _image_key(record: SampleRecord) -> str:
    return f"samples/digit{record.digit}__{record.sample_id}.png"


def _parse_index_key(key: str) -> SampleRecord | None:
    name = key.removeprefix("index/").removesuffix(".json")
    match = _ENTRY.fullmatch(name)
    if not match or match["inverted"] != match["sample_id"].translate(_INVERT):
        return None
    sample_id = match["sample_id"]
    return SampleRecord(sample_id, int(match["digit"]), match["source"], id_time(sample_id))


def _check_digit(digit: int) -> int:
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an integer 0-9, not {digit!r}")
    return digit


class SampleStore:
    """Labelled drawings, listed newest first, on any BlobStore."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def add(self, png: bytes, digit: int, source: str) -> SampleRecord:
        """Store a drawing under a new id; the index entry goes last (the commit point)."""
        _check_digit(digit)
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        sample_id = new_id()
        record = SampleRecord(sample_id, digit, source, id_time(sample_id))
        self.blobs.put(_image_key(record), png)
        self._commit(record)
        return record

    def _commit(self, record: SampleRecord) -> None:
        name = _entry_name(record.sample_id, record.digit, record.source)
        self.blobs.put(_index_key(name), json.dumps(record.to_json()).encode())

    def _find(self, sample_id: str) -> tuple[SampleRecord, str]:
        if not isinstance(sample_id, str) or not _ID.fullmatch(sample_id):
            raise KeyError(sample_id)
        for key in self.blobs.list(f"index/{sample_id.translate(_INVERT)}__", limit=1):
            record = _parse_index_key(key)
            if record is not None and record.sample_id == sample_id:
                return record, key
        raise KeyError(sample_id)

    def get(self, sample_id: str) -> SampleRecord:
        """The record of ``sample_id``; KeyError if unknown or not a well-formed id."""
        return self._find(sample_id)[0]

    def png(self, sample_id: str) -> bytes:
        """The drawing's PNG bytes; KeyError if unknown."""
        return self.blobs.get(_image_key(self.get(sample_id)))

    def _scan(self, start_after: str = "") -> Iterator[tuple[SampleRecord, str]]:
        # Index keys newest first, one list call per batch.
        while True:
            keys = self.blobs.list("index/", start_after=start_after, limit=_SCAN_BATCH)
            for key in keys:
                record = _parse_index_key(key)
                if record is not None:
                    yield record, key
            if len(keys) < _SCAN_BATCH:
                return
            start_after = keys[-1]

    def list(
        self, digit: int | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[SampleRecord], str | None]:
        """One page of records, newest first, and the cursor of the next page (None if last).

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
            start_after = _index_key(cursor)
        page: list[SampleRecord] = []
        # Peek one record past the page so the last page reports no next cursor.
        for record, _key in self._scan(start_after):
            if digit is None or record.digit == digit:
                if len(page) == limit:
                    last = page[-1]
                    return page, _entry_name(last.sample_id, last.digit, last.source)
                page.append(record)
        return page, None

    def all(self) -> Iterator[tuple[SampleRecord, bytes]]:
        """Every sample with its PNG, newest first (for export and training)."""
        for record, _key in self._scan():
            try:
                yield record, self.blobs.get(_image_key(record))
            except BlobNotFound:
                continue  # deleted while we were iterating

    def count_by_digit(self) -> dict[int, int]:
        """How many samples each digit 0-9 has (from the index keys alone)."""
        counts = dict.fromkeys(range(10), 0)
        for record, _key in self._scan():
            counts[record.digit] += 1
        return counts

    def delete(self, sample_id: str) -> None:
        """Remove a sample: index entry first (it disappears at once), then the drawing."""
        record, key = self._find(sample_id)
        self.blobs.delete(key)
        self.blobs.delete(_image_key(record))

    def relabel(self, sample_id: str, digit: int) -> SampleRecord:
        """Change a sample's digit (an admin fixing a wrong label); same id and time.

        The new drawing and entry are written before the old ones are deleted, so a
        crash in between leaves the sample listed under both labels, never lost.
        """
        _check_digit(digit)
        old, old_key = self._find(sample_id)
        if old.digit == digit:
            return old
        new = SampleRecord(old.sample_id, digit, old.source, old.created)
        self.blobs.put(_image_key(new), self.blobs.get(_image_key(old)))
        self._commit(new)
        self.blobs.delete(old_key)
        self.blobs.delete(_image_key(old))
        return new
