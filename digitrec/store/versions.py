"""One linear history of model versions, shared by every worker through optimistic concurrency.

Version 0 is the shipped originals and has nothing stored. Version N > 0 is::

    weights/<N:010d>-<uuid>.npz     the weights, written first under a unique name
    versions/<N:010d>.json          the record, created with put_if_absent (commit point)

Writers race for N = parent + 1; exactly one record creation succeeds, the
losers delete their weights and learn the new latest. A writer may ``stage`` the
weights before it knows it will publish them (uploading while a check still runs),
then ``publish`` the staged key or ``discard`` it. A version published
without weights means "back to the originals" (a reset). Records are kept
forever; weights are kept for the last ``keep_last`` versions and every
``keep_every``-th one: each publish deletes the weights that just fell out of
that window, and ``prune`` sweeps everything else (leftovers of crashed writers).
Non-version happenings (a refused update) go to an append-only event log under
``events/``.

``latest()`` is what followers poll: one stat() on a local store when nothing
changed, one short list call on S3 (callers throttle how often). Versions have no
gaps, so ``page()`` reads a page of the history, newest first, straight from the
record keys, without listing them. Records are immutable, so every ``BLOCK``
complete versions also get one copy of theirs in ``history/<first:010d>.json``
(written by the publisher of the block's last version, or by the first reader
that finds it missing): a page of 50 costs a few block reads and at most
``BLOCK - 1`` record reads, all in flight at once. ``events_between()`` lists only
the events from a time on (event ids carry their time).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from digitrec.store.blobs import BlobNotFound, BlobStore, StoreUnavailable
from digitrec.store.samples import id_time, iso_utc, new_id, time_prefix

_VERSION_KEY = re.compile(r"versions/(\d{10})\.json", re.ASCII)
_WEIGHTS_KEY = re.compile(r"weights/(\d{10})-[0-9a-f]{32}\.npz", re.ASCII)
_RESERVED = frozenset({"version", "parent", "created", "weights_key"})
_EVENT_KEY = re.compile(r"events/([0-9a-z]{26})\.json", re.ASCII)
_EVENTS_BATCH = 1000
BLOCK = 10  # versions per block of records (see the module docstring)
# A page's records are independent GETs: on S3 their latency overlaps instead of adding up.
_READS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="version-reads")


def _version_key(version: int) -> str:
    return f"versions/{version:010d}.json"


def _block_key(first: int) -> str:
    """The copy of records ``first`` .. ``first + BLOCK - 1`` in one blob."""
    return f"history/{first:010d}.json"


def _block_of(version: int) -> int:
    return (version - 1) // BLOCK * BLOCK + 1


def _weights_key(version: int) -> str:
    """A fresh, unique name for weights of ``version`` (racing writers never collide)."""
    return f"weights/{version:010d}-{uuid.uuid4().hex}.npz"


@dataclass(frozen=True)
class StagedWeights:
    """Weights already uploaded for ``version`` by ``ModelHistory.stage``, not yet published."""

    version: int
    key: str


@dataclass(frozen=True)
class VersionRecord:
    """A published model version; ``info`` is the publisher's free-form JSON."""

    version: int
    parent: int
    created: str
    weights_key: str | None
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Flat view for the API: version, parent, created, then the info fields."""
        return {
            "version": self.version,
            "parent": self.parent,
            "created": self.created,
            **self.info,
        }

    def _stored(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "parent": self.parent,
            "created": self.created,
            "weights_key": self.weights_key,
            "info": self.info,
        }

    def _dump(self) -> bytes:
        return json.dumps(self._stored()).encode()

    @classmethod
    def _load(cls, data: bytes) -> VersionRecord:
        return cls._from_stored(json.loads(data))

    @classmethod
    def _from_stored(cls, raw: dict[str, Any]) -> VersionRecord:
        return cls(
            int(raw["version"]),
            int(raw["parent"]),
            str(raw["created"]),
            raw["weights_key"],
            dict(raw["info"]),
        )


def _check_info(info: dict[str, Any]) -> None:
    if not isinstance(info, dict):
        raise TypeError("info must be a dict")
    clash = _RESERVED & info.keys()
    if clash:
        raise ValueError(f"info may not set {sorted(clash)}")


class ModelHistory:
    """The version history on a BlobStore; safe to share between threads and processes."""

    def __init__(self, blobs: BlobStore, keep_last: int = 20, keep_every: int = 50) -> None:
        if keep_last < 1 or keep_every < 1:
            raise ValueError("keep_last and keep_every must be >= 1")
        self.blobs = blobs
        self.keep_last = keep_last
        self.keep_every = keep_every
        self._lock = threading.Lock()
        self._latest = 0  # highest version seen so far; versions are never removed
        self._records: dict[int, VersionRecord] = {}  # records are immutable, so cache them
        self._events: dict[str, dict[str, Any]] = {}  # so are events, by key
        self._listed_token: object = None  # change token of versions/ when last listed

    def _seen(self, version: int) -> int:
        with self._lock:
            self._latest = max(self._latest, version)
            return self._latest

    def latest(self) -> int:
        """The highest published version (0 if none).

        Skips the store entirely when the backend's change token says versions/ is as it
        was at the last listing; otherwise lists only the keys past the last version seen.
        """
        token = self.blobs.change_token("versions")
        if token is not None and token == self._listed_token:
            return self._latest  # only ever raised, under the lock
        known = self._seen(0)
        start_after = _version_key(known) if known else ""
        newest = known
        for key in self.blobs.list("versions/", start_after=start_after):
            match = _VERSION_KEY.fullmatch(key)
            if match:
                newest = max(newest, int(match[1]))
        self._listed_token = token  # taken before listing, so a change during it is not missed
        return self._seen(newest)

    def stage(self, version: int, weights: bytes) -> StagedWeights:
        """Upload weights meant for ``version`` ahead of publishing it; pass the result to
        ``publish`` (as its weights) or to ``discard``. Until then nothing references them,
        and ``prune`` leaves them alone while ``version`` is unpublished."""
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f"version must be a version number >= 1, not {version!r}")
        staged = StagedWeights(version, _weights_key(version))
        self.blobs.put(staged.key, weights)
        return staged

    def discard(self, staged: StagedWeights) -> None:
        """Delete staged weights that will not be published."""
        self.blobs.delete(staged.key)

    def publish(
        self, parent: int, weights: bytes | StagedWeights | None, info: dict[str, Any]
    ) -> VersionRecord | None:
        """Create version ``parent + 1``; None if another writer created it first.

        ``weights`` None publishes a version whose models are the shipped originals;
        staged weights must have been staged for ``parent + 1``. Weights of a lost race are
        deleted. ValueError if ``parent`` is not a published version (the history has no gaps).
        """
        _check_info(info)
        if isinstance(parent, bool) or not isinstance(parent, int) or parent < 0:
            raise ValueError(f"parent must be a version number, not {parent!r}")
        version = parent + 1
        if isinstance(weights, StagedWeights) and weights.version != version:
            raise ValueError(f"weights staged for version {weights.version} cannot be version {version}")
        if parent < self._seen(0):
            self._discard_own(weights)
            return None
        if parent > self.latest():
            raise ValueError(f"version {parent} does not exist yet")
        if isinstance(weights, StagedWeights):
            weights_key = weights.key
        else:
            weights_key = _weights_key(version) if weights is not None else None
        record = VersionRecord(version, parent, iso_utc(datetime.now(UTC)), weights_key, dict(info))
        body = record._dump()  # serialise before uploading, so bad info leaves nothing behind
        if isinstance(weights, bytes):
            self.blobs.put(weights_key, weights)
        if not self.blobs.put_if_absent(_version_key(version), body) and not self._is_ours(record):
            if weights_key is not None:
                self.blobs.delete(weights_key)
            return None
        self._records[version] = record
        self._seen(version)
        self._drop_weights_out_of_window(version)
        if version % BLOCK == 0:
            self._write_block(_block_of(version))
        return record

    def _write_block(self, first: int) -> None:
        # Best effort: a missing block only means its records are read one by one.
        try:
            versions = range(first, first + BLOCK)
            list(_READS.map(self.get, [v for v in versions if v not in self._records]))
            body = json.dumps([self.get(v)._stored() for v in versions]).encode()
            self.blobs.put(_block_key(first), body)
        except (KeyError, StoreUnavailable):
            return

    def _discard_own(self, weights: bytes | StagedWeights | None) -> None:
        if isinstance(weights, StagedWeights):
            self.discard(weights)

    def _is_ours(self, record: VersionRecord) -> bool:
        # A refused create may still be ours (a retried request whose first attempt landed),
        # or nobody's (S3's 409 for a concurrent conditional write): read what is there.
        try:
            stored = self.get(record.version)
        except KeyError:
            return False
        return stored.created == record.created and stored.weights_key == record.weights_key

    def _drop_weights_out_of_window(self, published: int) -> None:
        # Each version is published once, so this deletes every version's weights exactly
        # when it leaves the window; prune() catches what a crash in between left behind.
        version = published - self.keep_last
        if version < 1 or self._keeps(version, published):
            return
        try:
            weights_key = self.get(version).weights_key
            if weights_key is not None:
                self.blobs.delete(weights_key)
        except (KeyError, StoreUnavailable):
            return  # the version is published either way; the next prune() retries

    def record_event(self, info: dict[str, Any]) -> None:
        """Append a non-version event (e.g. a refused update) to the log, with its time."""
        if not isinstance(info, dict):
            raise TypeError("info must be a dict")
        if "created" in info:
            raise ValueError("info may not set 'created'")
        event_id = new_id()
        body = json.dumps({"created": id_time(event_id), **info}).encode()
        self.blobs.put(f"events/{event_id}.json", body)

    def events(self) -> list[dict[str, Any]]:
        """Every logged event, oldest first (one list call; only events not seen before are read)."""
        events = []
        for key in self.blobs.list("events/"):
            if key not in self._events:
                self._events[key] = json.loads(self.blobs.get(key))
            events.append(dict(self._events[key]))  # a copy: callers may change theirs
        return events

    def events_between(self, after: str | None, until: str | None) -> list[dict[str, Any]]:
        """Logged events created in (``after``, ``until``] (ISO 8601 UTC as ``iso_utc`` writes;
        None: unbounded), oldest first. Lists from ``after`` on and reads only those events."""
        start_after = f"events/{time_prefix(after)}" if after is not None else ""
        chosen = []
        while True:
            keys = self.blobs.list("events/", start_after=start_after, limit=_EVENTS_BATCH)
            for key in keys:
                match = _EVENT_KEY.fullmatch(key)
                if not match:
                    continue
                created = id_time(match[1])
                if until is not None and created > until:
                    return self._read_events(chosen)
                if after is None or created > after:
                    chosen.append(key)
            if len(keys) < _EVENTS_BATCH:
                return self._read_events(chosen)
            start_after = keys[-1]

    def _read_events(self, keys: list[str]) -> list[dict[str, Any]]:
        missing = [key for key in keys if key not in self._events]
        for key, body in zip(missing, _READS.map(self.blobs.get, missing), strict=True):
            self._events[key] = json.loads(body)
        return [dict(self._events[key]) for key in keys]  # copies: callers may change theirs

    def page(self, limit: int, below: int | None = None) -> list[VersionRecord]:
        """Up to ``limit`` records newest first, from the latest version (or from ``below - 1``) down.

        Reads only what the page needs and is not cached: the blocks of its complete blocks,
        the other records one by one, all in flight at once.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive integer")
        latest = self.latest()
        top = latest if below is None else min(below - 1, latest)
        versions = list(range(top, max(top - limit, 0), -1))
        missing = [version for version in versions if version not in self._records]
        complete = sorted({_block_of(v) for v in missing if _block_of(v) + BLOCK - 1 <= latest})
        unwritten = []
        blocks = self.blobs.read_many([_block_key(first) for first in complete])
        for first, body in zip(complete, blocks, strict=True):
            if body is None:
                unwritten.append(first)  # from before blocks existed, or its writer failed
                continue
            for raw in json.loads(body):
                self._records.setdefault(int(raw["version"]), VersionRecord._from_stored(raw))
        list(_READS.map(self.get, [v for v in missing if v not in self._records]))  # get() caches
        for first in unwritten:
            self._write_block(first)
        return [self.get(version) for version in versions]

    def get(self, version: int) -> VersionRecord:
        """The record of ``version``; KeyError if it does not exist (or is 0)."""
        if version in self._records:
            return self._records[version]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise KeyError(version)
        try:
            record = VersionRecord._load(self.blobs.get(_version_key(version)))
        except BlobNotFound:
            raise KeyError(version) from None
        self._records[version] = record
        self._seen(version)
        return record

    def weights(self, version: int) -> bytes:
        """The weights of ``version``; KeyError for 0, a reset version, or pruned weights."""
        record = self.get(version)
        if record.weights_key is None:
            raise KeyError(version)
        return self.blobs.get(record.weights_key)

    def latest_with_weights(self, at_most: int) -> int:
        """The newest version <= ``at_most`` that can be loaded; 0 means the originals.

        Versions whose weights were pruned are skipped; a reset version answers 0.
        """
        version = min(at_most, self.latest())
        while version > 0:
            record = self.get(version)
            if record.weights_key is None:
                return 0
            if self.blobs.exists(record.weights_key):
                return version
            version -= 1
        return 0

    def history(self) -> list[VersionRecord]:
        """Every version record, oldest first."""
        versions = [int(m[1]) for key in self.blobs.list("versions/") if (m := _VERSION_KEY.fullmatch(key))]
        return [self.get(version) for version in versions]

    def _keeps(self, version: int, latest: int) -> bool:
        return version > latest - self.keep_last or version % self.keep_every == 0

    def prune(self) -> int:
        """Delete weights no longer kept, and losers' leftovers; returns how many were deleted.

        Weights named for a version not yet published are left alone: their writer
        may still be racing for it. Once that version exists, any weights named for
        it that its record does not reference can never be used and go.
        """
        latest = self.latest()
        deleted = 0
        for key in self.blobs.list("weights/"):
            match = _WEIGHTS_KEY.fullmatch(key)
            if not match or not 1 <= int(match[1]) <= latest:
                continue
            version = int(match[1])
            if key == self.get(version).weights_key and self._keeps(version, latest):
                continue
            self.blobs.delete(key)
            deleted += 1
        return deleted
