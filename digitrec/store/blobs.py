"""A tiny key/value interface for immutable-ish blobs, on a local directory or on S3.

Keys are "/"-separated paths whose segments use only ``[A-Za-z0-9._-]`` and do
not start with a dot (dot-names are reserved for temporary files, and this also
rules out "." and ".."). Both backends validate keys the same way, list keys in
ascending byte order, and give the two guarantees the stores above rely on:
``put`` is atomic (a reader sees the old or the new bytes, never a mix) and
``put_if_absent`` lets exactly one of several racing writers create a key.
``change_token`` is the cheap "did anything change here?" check that lets a
follower skip listing when nothing did.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ParamValidationError,
    ReadTimeoutError,
)

_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]*"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*", re.ASCII)
_LIST_PAGE = 1000  # S3's maximum keys per ListObjectsV2 call
# Fail fast when the endpoint is down or hangs: a call gives up after 2 attempts of at most
# 1 s to connect and 2 s between bytes (~5 s in all), and callers answer 503.
_S3_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2})
# S3 errors that say "the store is not usable right now" rather than "no such key"
# (besides any 5xx and any 403: a denied request is a misconfigured store, not a bad key).
_UNAVAILABLE_CODES = frozenset(
    {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
)
# S3 answers a GET after milliseconds of latency, not CPU: a batch of GETs overlaps them.
_S3_READS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="s3-reads")
# A directory's mtime is only trusted as a change token once it is this old, because
# two changes within one filesystem timestamp tick would otherwise look like one.
_MTIME_SETTLE_NS = 1_000_000_000
_MISSING_FOLDER = (0, 0)  # no file has inode 0


class BlobNotFound(KeyError):
    """No blob under this key."""


class StoreUnavailable(RuntimeError):
    """The backend cannot be reached or failed on its side (callers answer HTTP 503)."""


class BlobStore(Protocol):
    """What the sample and model stores need from a backend."""

    def put(self, key: str, data: bytes) -> None:
        """Write (or overwrite) ``key`` atomically."""

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key``; False when it already exists (the loser of a race)."""

    def get(self, key: str) -> bytes:
        """The blob's bytes; raises BlobNotFound."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a blob."""

    def read_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's bytes, None for a missing key; as fast as the backend allows."""

    def list(self, prefix: str, start_after: str = "", limit: int | None = None) -> list[str]:
        """Keys starting with ``prefix`` and greater than ``start_after``, ascending."""

    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it is already gone."""

    def change_token(self, folder: str) -> Sequence[int] | None:
        """A cheap token that differs whenever a key directly under ``folder/`` was added or
        removed since an equal token was returned; None when the backend cannot tell cheaply
        (the caller then lists)."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid blob key, else raise ValueError."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"invalid blob key: {key!r}")
    return key


def _check_prefix(prefix: str) -> str:
    # A prefix is "" or a key, possibly cut inside a segment or followed by "/".
    if prefix and not (isinstance(prefix, str) and _KEY.fullmatch(prefix.removesuffix("/"))):
        raise ValueError(f"invalid blob key prefix: {prefix!r}")
    return prefix


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")


@contextmanager
def _local_errors(key: str, reading: bool) -> Iterator[None]:
    # A file missing on read is the caller's business; any other OS error (disk full,
    # permissions, an unmounted volume) means the store is unusable: callers answer 503.
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as err:
        if reading:
            raise BlobNotFound(key) from None
        raise StoreUnavailable(f"local store cannot write {key!r}: {err}") from err
    except OSError as err:
        raise StoreUnavailable(f"local store failed on {key!r}: {err}") from err


class LocalBlobStore:
    """Blobs as files under ``root``; atomicity comes from rename and hard links."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _write_temp(self, path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".tmp-{uuid.uuid4().hex}")
        try:
            with open(temp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp

    def put(self, key: str, data: bytes) -> None:
        """Write a temp file in the same directory, fsync it, then rename over ``key``."""
        path = self._path(key)
        with _local_errors(key, reading=False):
            temp = self._write_temp(path, data)
            try:
                os.replace(temp, path)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Hard-link a complete temp file to ``key``: link() fails if the name exists."""
        path = self._path(key)
        with _local_errors(key, reading=False):
            temp = self._write_temp(path, data)
            try:
                os.link(temp, path)
                return True
            except FileExistsError:
                return False
            finally:
                temp.unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        """The file's bytes; raises BlobNotFound."""
        path = self._path(key)
        with _local_errors(key, reading=True):
            return path.read_bytes()

    def exists(self, key: str) -> bool:
        """Whether a file holds ``key``."""
        return self._path(key).is_file()

    def read_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each file's bytes (None if missing), read one after another with plain paths and fds."""
        root = str(self.root)
        blobs: list[bytes | None] = []
        for key in keys:
            path = os.path.join(root, check_key(key))
            try:
                with _local_errors(key, reading=True):
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        blobs.append(_read_fd(fd))
                    finally:
                        os.close(fd)
            except BlobNotFound:
                blobs.append(None)
        return blobs

    def list(self, prefix: str, start_after: str = "", limit: int | None = None) -> list[str]:
        """Walk the directories under ``prefix`` in key order, stopping after ``limit`` keys.

        Directories wholly before ``start_after`` or outside ``prefix`` are never read, so a
        page of a nested key layout costs the few directories it touches, not the whole tree.
        Temp files are never listed.
        """
        _check_prefix(prefix)
        _check_limit(limit)
        keys: list[str] = []
        if limit == 0:
            return keys
        folder = prefix.rpartition("/")[0]
        for key in self._sorted_keys(f"{folder}/" if folder else "", prefix, start_after):
            keys.append(key)
            if limit is not None and len(keys) >= limit:
                break
        return keys

    def _sorted_keys(self, folder: str, prefix: str, start_after: str) -> Iterator[str]:
        """Keys under ``folder`` ("" or "a/b/") starting with ``prefix``, after ``start_after``, ascending."""
        try:
            with os.scandir(self.root / folder if folder else self.root) as entries:
                # A directory's keys all start with "name/": sorting it as that keeps key order.
                names = [
                    entry.name + "/" if entry.is_dir() else entry.name
                    for entry in entries
                    if not entry.name.startswith(".")
                ]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as err:
            raise StoreUnavailable(f"local store cannot list {folder!r}: {err}") from err
        for name in sorted(names):
            key = folder + name
            if not name.endswith("/"):
                if key > start_after and key.startswith(prefix):
                    yield key
            elif (key.startswith(prefix) or prefix.startswith(key)) and (
                key > start_after or start_after.startswith(key)
            ):
                yield from self._sorted_keys(key, prefix, start_after)

    def delete(self, key: str) -> None:
        """Unlink the file if present (directories stay: a concurrent put may need them)."""
        path = self._path(key)
        try:
            with _local_errors(key, reading=True):
                path.unlink(missing_ok=True)
        except BlobNotFound:
            return  # a parent directory is missing: the key is gone already

    def change_token(self, folder: str) -> tuple[int, int] | None:
        """The folder's (inode, mtime in ns): one stat(), no listing.

        Creating or removing a name in a directory updates its mtime; None while that
        mtime is too recent to tell two changes apart, and when the folder cannot be
        read. A missing folder holds no keys until it is made: its token is (0, 0).
        """
        try:
            stat = os.stat(os.path.join(self.root, check_key(folder)))
        except FileNotFoundError:
            return _MISSING_FOLDER
        except OSError:
            return None
        if time.time_ns() - stat.st_mtime_ns < _MTIME_SETTLE_NS:
            return None
        return stat.st_ino, stat.st_mtime_ns


def _read_fd(fd: int) -> bytes:
    """Everything left in an open file (one read() for a small file)."""
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _unavailable(err: Exception) -> bool:
    if isinstance(err, BotoCoreError):
        # Transport, timeouts, missing credentials; a malformed call is our bug, not an outage.
        return not isinstance(err, ParamValidationError)
    if isinstance(err, ClientError):
        code, status = _error_code(err)
        return status >= 500 or status == 403 or code in _UNAVAILABLE_CODES
    return False


def _error_code(err: ClientError) -> tuple[str, int]:
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return err.response.get("Error", {}).get("Code", ""), status


class Outage:
    """A circuit breaker for a hanging S3: once a call times out, calls fail at once for
    RETRY_SECONDS, then one call at a time tries S3 again until one gets an answer.

    A call to a hanging S3 costs its caller seconds of timeouts; during a hang only the probing
    call pays that, so a correction is refused within one call's timeouts. A refused connection
    fails at once anyway and opens nothing.
    """

    RETRY_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None  # time.monotonic() of the last failure, None: up
        self._probing = False

    def admit(self) -> bool:
        """Whether this call is the probe of an outage; StoreUnavailable if it may not go out."""
        with self._lock:
            if self._down_since is None:
                return False
            if self._probing or time.monotonic() - self._down_since < self.RETRY_SECONDS:
                raise StoreUnavailable("S3 did not answer a moment ago")
            self._probing = True
            return True

    def ended(self, probe: bool, *, answered: bool, timed_out: bool = False) -> None:
        """A call came back: `answered` by S3 (even with an error of its own), or `timed_out`."""
        with self._lock:
            if answered:
                self._down_since = None
            elif timed_out:
                self._down_since = time.monotonic()
            if probe:
                self._probing = False


class S3BlobStore:
    """Blobs as objects in an S3 bucket (or any S3-compatible server), under ``prefix``.

    Credentials come from boto3's default chain (environment, profile, role).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix)
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url, config=_S3_CONFIG)
        self._outage = Outage()

    def _call(self, method: str, read_body: bool = False, **kwargs: Any) -> Any:
        # One place that turns transport failures, 5xx and a missing bucket into StoreUnavailable.
        # `read_body`: the response's Body, read here, so a timeout while it streams counts too.
        probe = self._outage.admit()
        try:
            result = getattr(self.client, method)(Bucket=self.bucket, **kwargs)
            if read_body:
                result = result["Body"].read()
        except (BotoCoreError, ClientError) as err:
            unavailable = _unavailable(err)
            timed_out = isinstance(err, ConnectTimeoutError | ReadTimeoutError)
            self._outage.ended(probe, answered=not unavailable, timed_out=timed_out)
            if unavailable:
                raise StoreUnavailable(f"S3 {method} failed: {err}") from err
            raise
        except BaseException:
            self._outage.ended(probe, answered=False)
            raise
        self._outage.ended(probe, answered=True)
        return result

    def put(self, key: str, data: bytes) -> None:
        """PUT the object; S3 makes a single PUT visible all at once."""
        self._call("put_object", Key=self.prefix + check_key(key), Body=data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Conditional PUT (If-None-Match: *); 412 or 409 means another writer won."""
        try:
            self._call(
                "put_object",
                Key=self.prefix + check_key(key),
                Body=data,
                IfNoneMatch="*",
            )
            return True
        except ClientError as err:
            code, status = _error_code(err)
            if status in (409, 412) or code in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                return False
            raise

    def get(self, key: str) -> bytes:
        """The object's bytes; raises BlobNotFound."""
        try:
            return self._call("get_object", read_body=True, Key=self.prefix + check_key(key))
        except ClientError as err:
            code, status = _error_code(err)
            if status == 404 or code in ("NoSuchKey", "404"):
                raise BlobNotFound(key) from None
            raise

    def exists(self, key: str) -> bool:
        """HEAD the object."""
        try:
            self._call("head_object", Key=self.prefix + check_key(key))
            return True
        except ClientError as err:
            if _error_code(err)[1] == 404:
                return False
            raise

    def read_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each object's bytes (None if missing), several GETs in flight at once."""
        return list(_S3_READS.map(self._get_or_none, keys))

    def _get_or_none(self, key: str) -> bytes | None:
        try:
            return self.get(key)
        except BlobNotFound:
            return None

    def list(self, prefix: str, start_after: str = "", limit: int | None = None) -> list[str]:
        """ListObjectsV2 from ``start_after``, following continuation tokens up to ``limit``."""
        _check_prefix(prefix)
        _check_limit(limit)
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Prefix": self.prefix + prefix}
        if start_after:
            kwargs["StartAfter"] = self.prefix + start_after
        while limit is None or len(keys) < limit:
            wanted = _LIST_PAGE if limit is None else min(_LIST_PAGE, limit - len(keys))
            page = self._call("list_objects_v2", MaxKeys=wanted, **kwargs)
            keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
            if not page.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
        return keys if limit is None else keys[:limit]

    def delete(self, key: str) -> None:
        """DELETE the object (S3 deletes are idempotent)."""
        self._call("delete_object", Key=self.prefix + check_key(key))

    def change_token(self, folder: str) -> None:
        """S3 has no cheap change marker: callers list (and throttle how often they do)."""
        check_key(folder)
        return None


def open_blob_store(url: str, endpoint_url: str | None = None) -> BlobStore:
    """``s3://bucket/prefix`` opens an S3BlobStore; anything else is a local directory."""
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        return S3BlobStore(bucket, prefix, endpoint_url=endpoint_url)
    return LocalBlobStore(Path(url))
