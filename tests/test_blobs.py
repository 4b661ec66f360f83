"""BlobStore: the same behaviour on a local directory and on S3 (moto's server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ReadTimeoutError

from digitrec.store import blobs as blobs_module
from digitrec.store.blobs import (
    BlobNotFound,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    StoreUnavailable,
    open_blob_store,
)
from tests.s3_server import S3Server, free_port, running_s3

BAD_KEYS = [
    "",
    "/abs",
    "../escape",
    "a/../../b",
    "a/./b",
    "a//b",
    "a/",
    ".hidden",
    "a/.tmp-123",
    "a b",
    "a\\b",
    "caf\u00e9",
    "a\x00b",
    "C:/x",
]


def test_put_then_get_returns_the_bytes(blobs: BlobStore) -> None:
    blobs.put("a/b.bin", b"\x00\x01payload")
    assert blobs.get("a/b.bin") == b"\x00\x01payload"


def test_put_overwrites(blobs: BlobStore) -> None:
    blobs.put("k", b"old")
    blobs.put("k", b"new")
    assert blobs.get("k") == b"new"


def test_get_of_a_missing_key_raises_blob_not_found(blobs: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        blobs.get("nothing/here")


def test_exists_tells_present_from_missing(blobs: BlobStore) -> None:
    blobs.put("dir/x", b"1")
    assert blobs.exists("dir/x")
    assert not blobs.exists("dir/y")
    assert not blobs.exists("dir")


def test_delete_removes_and_is_idempotent(blobs: BlobStore) -> None:
    blobs.put("gone", b"1")
    blobs.delete("gone")
    blobs.delete("gone")
    blobs.delete("never/was")
    assert not blobs.exists("gone")


def test_list_is_ascending_and_filtered_by_prefix(blobs: BlobStore) -> None:
    for key in ["v/3", "v/1", "v/10", "w/1", "v/2", "vx"]:
        blobs.put(key, b"")
    assert blobs.list("v/") == ["v/1", "v/10", "v/2", "v/3"]
    assert blobs.list("v") == ["v/1", "v/10", "v/2", "v/3", "vx"]
    assert blobs.list("") == ["v/1", "v/10", "v/2", "v/3", "vx", "w/1"]
    assert blobs.list("nothing/") == []


def test_list_prefix_may_end_inside_a_name(blobs: BlobStore) -> None:
    for key in ["index/ab__1", "index/ab__2", "index/abc", "index/b"]:
        blobs.put(key, b"")
    assert blobs.list("index/ab__") == ["index/ab__1", "index/ab__2"]


def test_list_start_after_and_limit_page_through_keys(blobs: BlobStore) -> None:
    keys = [f"p/{i:03d}" for i in range(7)]
    for key in keys:
        blobs.put(key, b"")
    assert blobs.list("p/", limit=3) == keys[:3]
    assert blobs.list("p/", start_after=keys[2], limit=3) == keys[3:6]
    assert blobs.list("p/", start_after=keys[5]) == keys[6:]
    assert blobs.list("p/", start_after=keys[6]) == []
    assert blobs.list("p/", limit=0) == []


def test_s3_list_follows_continuation_tokens(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = S3BlobStore(s3.create_bucket(), endpoint_url=s3.endpoint_url)
    keys = [f"k/{i:02d}" for i in range(11)]
    for key in keys:
        blobs.put(key, b"")
    monkeypatch.setattr(blobs_module, "_LIST_PAGE", 3)  # force several pages of 3
    assert blobs.list("k/") == keys
    assert blobs.list("k/", start_after=keys[1], limit=7) == keys[2:9]


def test_s3_prefixes_isolate_stores_in_one_bucket(s3: S3Server) -> None:
    bucket = s3.create_bucket()
    first = S3BlobStore(bucket, "site-a", endpoint_url=s3.endpoint_url)
    second = S3BlobStore(bucket, "site-b/", endpoint_url=s3.endpoint_url)
    first.put("k", b"a")
    second.put("k", b"b")
    assert first.get("k") == b"a"
    assert second.list("") == ["k"]
    objects = s3.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(item["Key"] for item in objects) == ["site-a/k", "site-b/k"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_refused_before_any_io(blobs: BlobStore, key: str) -> None:
    for call in (
        lambda: blobs.put(key, b"x"),
        lambda: blobs.put_if_absent(key, b"x"),
        lambda: blobs.get(key),
        lambda: blobs.exists(key),
        lambda: blobs.delete(key),
    ):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("prefix", ["/abs", "../", "a//", ".tmp", "a b"])
def test_invalid_list_prefixes_are_refused(blobs: BlobStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        blobs.list(prefix)


def test_a_local_key_cannot_escape_the_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    with pytest.raises(ValueError):
        store.put("../outside", b"x")
    assert sorted(os.listdir(tmp_path)) == []


def test_put_if_absent_creates_once(blobs: BlobStore) -> None:
    assert blobs.put_if_absent("once", b"first") is True
    assert blobs.put_if_absent("once", b"second") is False
    assert blobs.get("once") == b"first"


def test_put_if_absent_has_exactly_one_winner_among_racing_threads(blobs: BlobStore) -> None:
    results: dict[int, bool] = {}
    start = threading.Barrier(16)

    def race(n: int) -> None:
        start.wait()
        results[n] = blobs.put_if_absent("contested", f"writer {n}".encode())

    threads = [threading.Thread(target=race, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, won in results.items() if won]
    assert len(results) == 16
    assert len(winners) == 1
    assert blobs.get("contested") == f"writer {winners[0]}".encode()


def test_readers_see_whole_blobs_while_a_writer_overwrites(blobs: BlobStore) -> None:
    versions = [bytes([n]) * 300_000 for n in range(2)]
    blobs.put("big", versions[0])
    stop = threading.Event()
    seen: list[bytes] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(blobs.get("big"))

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(8):
        blobs.put("big", versions[n % 2])
    stop.set()
    reader.join()
    assert seen
    assert all(data in versions for data in seen)


def test_listings_never_show_temporary_files(blobs: BlobStore) -> None:
    stop = threading.Event()
    listings: list[list[str]] = []

    def list_repeatedly() -> None:
        while not stop.is_set():
            listings.append(blobs.list("t/"))

    lister = threading.Thread(target=list_repeatedly)
    lister.start()
    for n in range(40):
        blobs.put(f"t/{n:02d}", b"x" * 10_000)
        blobs.put_if_absent(f"t/{n:02d}", b"y")
    stop.set()
    lister.join()
    allowed = {f"t/{n:02d}" for n in range(40)}
    assert listings
    assert all(set(listing) <= allowed for listing in listings)
    assert blobs.list("t/") == sorted(allowed)


def test_local_store_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("d/a", b"1")
    store.put("d/a", b"2")
    store.put_if_absent("d/a", b"3")
    store.put_if_absent("d/b", b"4")
    assert sorted(os.listdir(tmp_path / "d")) == ["a", "b"]


def test_local_change_token_is_stable_until_a_key_is_added(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("versions/1", b"")
    past = time.time_ns() - 10 * 10**9
    os.utime(tmp_path / "versions", ns=(past, past))  # as if the last change were long ago
    token = store.change_token("versions")
    assert token is not None
    assert store.change_token("versions") == token
    store.put("versions/2", b"")
    assert store.change_token("versions") != token


def test_local_change_token_is_withheld_right_after_a_change(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("versions/1", b"")
    assert store.change_token("versions") is None  # two changes in one mtime tick look alike


def test_local_change_token_of_a_missing_folder_changes_once_a_key_is_added(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    missing = store.change_token("versions")
    assert missing is not None and store.change_token("versions") == missing
    store.put("versions/1", b"")
    assert store.change_token("versions") != missing  # None at first: too recent to trust
    past = time.time_ns() - 10 * 10**9
    os.utime(tmp_path / "versions", ns=(past, past))
    assert store.change_token("versions") not in (None, missing)
    (tmp_path / "versions" / "1").unlink()
    (tmp_path / "versions").rmdir()
    assert store.change_token("versions") == missing


def test_local_change_token_is_withheld_when_the_folder_cannot_be_read(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("versions", b"a file where the folder should be")
    assert store.change_token("versions/inner") is None  # the caller lists, and hears why


def test_s3_has_no_change_token(s3: S3Server) -> None:
    store = S3BlobStore(s3.create_bucket(), endpoint_url=s3.endpoint_url)
    assert store.change_token("versions") is None


def test_an_unreachable_s3_endpoint_raises_store_unavailable() -> None:
    store = S3BlobStore("bucket", endpoint_url=f"http://127.0.0.1:{free_port()}")
    for call in (
        lambda: store.put("k", b"x"),
        lambda: store.put_if_absent("k", b"x"),
        lambda: store.get("k"),
        lambda: store.exists("k"),
        lambda: store.list(""),
        lambda: store.delete("k"),
    ):
        with pytest.raises(StoreUnavailable):
            call()


def test_a_missing_bucket_raises_store_unavailable_not_blob_not_found(s3: S3Server) -> None:
    store = S3BlobStore("no-such-bucket-here", endpoint_url=s3.endpoint_url)
    for call in (lambda: store.get("k"), lambda: store.put("k", b"x"), lambda: store.list("")):
        with pytest.raises(StoreUnavailable):
            call()


def test_a_stopped_and_restarted_server_recovers(tmp_path: Path) -> None:
    with running_s3() as server:
        store = S3BlobStore(server.create_bucket("recovering"), endpoint_url=server.endpoint_url)
        store.put("k", b"1")
        server.stop()
        with pytest.raises(StoreUnavailable):
            store.get("k")
        server.start()
        server.create_bucket("recovering")  # moto's data lives in memory: the bucket is new
        store.put("k", b"2")
        assert store.get("k") == b"2"


def test_an_unwritable_local_store_raises_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"not a directory")
    store = LocalBlobStore(tmp_path / "file")
    with pytest.raises(StoreUnavailable):
        store.put("k", b"x")
    with pytest.raises(StoreUnavailable):
        store.put_if_absent("k", b"x")
    with pytest.raises(BlobNotFound):
        store.get("k")


def test_open_blob_store_picks_the_backend_from_the_url(tmp_path: Path) -> None:
    local = open_blob_store(str(tmp_path / "store"))
    assert isinstance(local, LocalBlobStore)
    assert local.root == tmp_path / "store"
    remote = open_blob_store("s3://my-bucket/some/prefix", endpoint_url="http://127.0.0.1:9")
    assert isinstance(remote, S3BlobStore)
    assert (remote.bucket, remote.prefix) == ("my-bucket", "some/prefix/")
    assert open_blob_store("s3://my-bucket").prefix == ""


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "s3://bucket/../x", "s3://bucket/a//b"])
def test_open_blob_store_refuses_malformed_s3_urls(url: str) -> None:
    with pytest.raises(ValueError):
        open_blob_store(url)


def test_a_request_the_bucket_policy_denies_raises_store_unavailable(s3: S3Server) -> None:
    bucket = s3.create_bucket()
    deny_puts = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny_puts))
    store = S3BlobStore(bucket, endpoint_url=s3.endpoint_url)
    with pytest.raises(StoreUnavailable):
        store.put("k", b"x")


class _FlakyS3:
    """A stand-in boto3 client whose calls fail with a timeout while `down`, counting calls."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0

    def put_object(self, **kwargs) -> dict:
        self.calls += 1
        if self.down:
            raise ReadTimeoutError(endpoint_url="http://s3.test")
        return {}


class _StallingBody:
    """An object body whose stream times out after its headers arrived."""

    def read(self) -> bytes:
        raise ReadTimeoutError(endpoint_url="http://s3.test")


def test_a_body_that_stalls_while_it_streams_is_an_outage_too() -> None:
    class Stalling(_FlakyS3):
        def get_object(self, **kwargs) -> dict:
            self.calls += 1
            return {"Body": _StallingBody()}

    client = Stalling()
    store = S3BlobStore("bucket", client=client)
    with pytest.raises(StoreUnavailable):
        store.get("a")
    with pytest.raises(StoreUnavailable, match="a moment ago"):
        store.get("a")  # the breaker opened: S3 is not asked again at once
    assert client.calls == 1


def test_while_s3_hangs_one_call_at_a_time_tries_it_the_rest_fail_at_once(monkeypatch) -> None:
    monkeypatch.setattr(blobs_module.Outage, "RETRY_SECONDS", 0.2)
    client = _FlakyS3()
    store = S3BlobStore("bucket", client=client)
    with pytest.raises(StoreUnavailable):
        store.put("a", b"1")
    with pytest.raises(StoreUnavailable, match="a moment ago"):
        store.put("a", b"1")
    assert client.calls == 1  # refused without asking S3
    time.sleep(0.25)
    with pytest.raises(StoreUnavailable):
        store.put("a", b"1")  # the probe: S3 is asked again, and still fails
    assert client.calls == 2
    client.down = False
    time.sleep(0.25)
    store.put("a", b"1")  # the next probe gets an answer: the store is up again
    store.put("b", b"2")
    assert client.calls == 4
