"""ModelHistory: one linear version history under racing writers, on a local directory and on S3."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from digitrec.store.blobs import BlobStore, LocalBlobStore, S3BlobStore, StoreUnavailable
from digitrec.store.versions import BLOCK, ModelHistory
from tests.s3_server import S3Server, free_port


class CountingBlobs:
    """A BlobStore wrapper that counts the calls made through it."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


def weights_of(version: int) -> bytes:
    return f"weights for version {version}".encode()


def publish_chain(history: ModelHistory, count: int) -> None:
    for version in range(1, count + 1):
        assert history.publish(version - 1, weights_of(version), {"n": version}) is not None


def check_history_is_one_chain(history: ModelHistory, latest: int) -> None:
    records = history.history()
    assert [record.version for record in records] == list(range(1, latest + 1))
    assert all(record.parent == record.version - 1 for record in records)


def test_an_empty_history_is_at_version_0(blobs: BlobStore) -> None:
    history = ModelHistory(blobs)
    assert history.latest() == 0
    assert history.history() == []
    assert history.latest_with_weights(0) == 0


def test_publish_creates_the_next_version_with_its_weights(blobs: BlobStore) -> None:
    history = ModelHistory(blobs)
    record = history.publish(0, b"npz bytes", {"sample_id": "s1", "digit": 4})
    assert record is not None
    assert (record.version, record.parent) == (1, 0)
    assert record.to_json()["digit"] == 4
    assert history.latest() == 1
    assert history.weights(1) == b"npz bytes"
    assert ModelHistory(blobs).get(1) == record


def test_versions_form_one_chain(blobs: BlobStore) -> None:
    history = ModelHistory(blobs)
    publish_chain(history, 5)
    check_history_is_one_chain(ModelHistory(blobs), 5)


def test_a_stale_parent_loses_and_leaves_no_weights(blobs: BlobStore) -> None:
    first, second = ModelHistory(blobs), ModelHistory(blobs)
    assert first.publish(0, b"a", {}) is not None
    assert second.publish(0, b"b", {}) is None
    assert second.latest() == 1
    assert len(blobs.list("weights/")) == 1
    assert second.weights(1) == b"a"


def test_publishing_past_the_latest_is_refused(blobs: BlobStore) -> None:
    history = ModelHistory(blobs)
    with pytest.raises(ValueError):
        history.publish(3, b"w", {})
    assert blobs.list("") == []


@pytest.mark.parametrize("parent", [-1, True, 1.0, "0", None])
def test_a_malformed_parent_is_refused(blobs: BlobStore, parent: object) -> None:
    with pytest.raises(ValueError):
        ModelHistory(blobs).publish(parent, b"w", {})  # type: ignore[arg-type]


@pytest.mark.parametrize("info", [{"version": 9}, {"parent": 0}, {"weights_key": "x"}, {"bad": object()}])
def test_bad_info_is_refused_before_anything_is_written(blobs: BlobStore, info: dict) -> None:
    with pytest.raises((ValueError, TypeError)):
        ModelHistory(blobs).publish(0, b"w", info)
    assert blobs.list("") == []


def test_a_follower_sees_versions_another_writer_published(blobs: BlobStore) -> None:
    writer, follower = ModelHistory(blobs), ModelHistory(blobs)
    assert follower.latest() == 0
    publish_chain(writer, 3)
    assert follower.latest() == 3
    assert follower.weights(follower.latest_with_weights(3)) == weights_of(3)


def test_racing_writers_reload_and_reapply_into_one_history(blobs: BlobStore) -> None:
    writers, updates_each = 6, 4
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        history = ModelHistory(blobs, keep_last=1000)  # one per writer, as in separate processes
        start.wait()
        try:
            for update in range(updates_each):
                while history.publish(history.latest(), b"w", {"writer": n, "update": update}) is None:
                    pass  # lost the race: reload the latest and re-apply
        except BaseException as err:  # surfaced below, in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = ModelHistory(blobs)
    total = writers * updates_each
    assert history.latest() == total
    check_history_is_one_chain(history, total)
    applied = sorted((r.info["writer"], r.info["update"]) for r in history.history())
    assert applied == sorted((n, u) for n in range(writers) for u in range(updates_each))
    assert len(blobs.list("weights/")) == total  # losers removed their weights; none pruned yet


def test_a_refused_create_that_is_ours_counts_as_published(blobs: BlobStore) -> None:
    # A retried request whose first attempt landed: S3 answers 412 to our own write.
    class RetriedCreate:
        def __init__(self, inner: BlobStore) -> None:
            self.inner = inner

        def put_if_absent(self, key: str, data: bytes) -> bool:
            self.inner.put_if_absent(key, data)
            return False

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    history = ModelHistory(RetriedCreate(blobs))  # type: ignore[arg-type]
    record = history.publish(0, b"mine", {})
    assert record is not None
    assert history.weights(1) == b"mine"


def test_pruning_keeps_the_last_k_and_every_mth_weights(blobs: BlobStore) -> None:
    history = ModelHistory(blobs, keep_last=3, keep_every=5)
    publish_chain(history, 12)
    kept = [v for v in range(1, 13) if blobs.exists(history.get(v).weights_key)]
    assert kept == [5, 10, 11, 12]
    assert len(history.history()) == 12  # records are kept forever
    assert history.latest_with_weights(12) == 12
    assert history.latest_with_weights(9) == 5
    with pytest.raises(KeyError):
        history.weights(7)


def test_prune_sweeps_crash_leftovers_but_not_a_race_in_progress(blobs: BlobStore) -> None:
    history = ModelHistory(blobs, keep_last=2, keep_every=100)
    publish_chain(history, 3)
    blobs.put("weights/0000000002-" + "a" * 32 + ".npz", b"crashed writer's")
    blobs.put("weights/0000000004-" + "b" * 32 + ".npz", b"writer racing for 4")
    assert history.prune() == 1
    assert blobs.exists("weights/0000000004-" + "b" * 32 + ".npz")
    assert [history.latest_with_weights(v) for v in (3, 2, 1)] == [3, 2, 0]


def test_staged_weights_are_published_without_a_second_upload(blobs: BlobStore) -> None:
    counting = CountingBlobs(blobs)
    history = ModelHistory(counting)
    staged = history.stage(1, b"staged")
    assert counting.calls == ["put"]
    record = history.publish(0, staged, {"n": 1})
    assert record is not None and record.weights_key == staged.key
    assert "put" not in counting.calls[1:]
    assert history.weights(1) == b"staged"


def test_staged_weights_that_lose_the_race_or_are_discarded_leave_nothing(blobs: BlobStore) -> None:
    history, rival = ModelHistory(blobs), ModelHistory(blobs)
    lost = history.stage(1, b"loser")
    assert rival.publish(0, b"winner", {}) is not None
    assert history.publish(0, lost, {}) is None
    refused = history.stage(2, b"refused by a check")
    history.discard(refused)
    assert blobs.list("weights/") == [rival.get(1).weights_key]


def test_staged_weights_only_publish_as_their_own_version(blobs: BlobStore) -> None:
    history = ModelHistory(blobs)
    staged = history.stage(2, b"w")
    with pytest.raises(ValueError, match="staged for version 2"):
        history.publish(0, staged, {})
    with pytest.raises(ValueError):
        history.stage(0, b"w")


def test_a_reset_version_means_the_originals(blobs: BlobStore) -> None:
    history = ModelHistory(blobs)
    publish_chain(history, 2)
    reset = history.publish(2, None, {"reset": True})
    assert reset is not None
    assert reset.weights_key is None
    assert history.latest_with_weights(3) == 0
    with pytest.raises(KeyError):
        history.weights(3)


def test_unknown_versions_raise_key_error(blobs: BlobStore) -> None:
    history = ModelHistory(blobs)
    for version in (0, 1, -1, True):
        with pytest.raises(KeyError):
            history.get(version)


def test_events_are_logged_oldest_first(blobs: BlobStore) -> None:
    history = ModelHistory(blobs)
    history.record_event({"kind": "refused", "sample_id": "a"})
    history.record_event({"kind": "refused", "sample_id": "b"})
    events = history.events()
    assert [event["sample_id"] for event in events] == ["a", "b"]
    assert all(event["created"].endswith("Z") for event in events)
    with pytest.raises(ValueError):
        history.record_event({"created": "yesterday"})


@pytest.mark.parametrize("published", [2, 0])
def test_local_latest_makes_no_listing_while_nothing_changes(tmp_path: Path, published: int) -> None:
    store = LocalBlobStore(tmp_path)
    if published:  # else versions/ does not exist yet: a fresh store
        publish_chain(ModelHistory(store), published)
        past = time.time_ns() - 10 * 10**9
        os.utime(tmp_path / "versions", ns=(past, past))  # settle the directory's mtime
    counting = CountingBlobs(store)
    follower = ModelHistory(counting)  # type: ignore[arg-type]
    assert follower.latest() == published
    counting.calls.clear()
    for _ in range(100):
        assert follower.latest() == published
    assert counting.calls == ["change_token"] * 100
    assert ModelHistory(store).publish(published, b"w", {}) is not None
    assert follower.latest() == published + 1


def test_s3_latest_is_one_short_listing(s3: S3Server) -> None:
    store = S3BlobStore(s3.create_bucket(), endpoint_url=s3.endpoint_url)
    publish_chain(ModelHistory(store), 3)
    counting = CountingBlobs(store)
    follower = ModelHistory(counting)  # type: ignore[arg-type]
    assert follower.latest() == 3
    counting.calls.clear()
    assert follower.latest() == 3
    assert counting.calls == ["change_token", "list"]


def test_an_unreachable_store_raises_store_unavailable_and_writes_nothing(s3: S3Server) -> None:
    down = S3BlobStore("bucket", endpoint_url=f"http://127.0.0.1:{free_port()}")
    history = ModelHistory(down)
    with pytest.raises(StoreUnavailable):
        history.latest()
    with pytest.raises(StoreUnavailable):
        history.publish(0, b"w", {})


def test_events_are_read_once(blobs: BlobStore) -> None:
    counting = CountingBlobs(blobs)
    history = ModelHistory(counting)  # type: ignore[arg-type]
    history.record_event({"n": 1})
    assert [event["n"] for event in history.events()] == [1]
    history.record_event({"n": 2})
    counting.calls.clear()
    assert [event["n"] for event in history.events()] == [1, 2]
    assert counting.calls == ["list", "get"]


# --- the history in pages --------------------------------------------------------------------------


def test_page_lists_newest_first_and_goes_on_below_a_version(blobs: BlobStore) -> None:
    history = ModelHistory(blobs)
    publish_chain(history, 7)
    assert [r.version for r in history.page(3)] == [7, 6, 5]
    assert [r.version for r in history.page(3, below=5)] == [4, 3, 2]
    assert [r.version for r in history.page(3, below=2)] == [1]
    assert history.page(3, below=1) == []
    assert ModelHistory(blobs).page(5, below=99)[0].version == 7


def test_a_page_of_a_fresh_history_reads_its_block_and_its_newest_records(blobs: BlobStore) -> None:
    publish_chain(ModelHistory(blobs), BLOCK * 3 + 4)
    counting = CountingBlobs(blobs)
    fresh = ModelHistory(counting)  # type: ignore[arg-type]
    page = fresh.page(6)  # the 4 versions after the last complete block, and 2 of that block
    assert [r.version for r in page] == [BLOCK * 3 + n for n in (4, 3, 2, 1, 0, -1)]
    assert [r.info["n"] for r in page] == [r.version for r in page]
    assert counting.calls.count("read_many") == 1 and counting.calls.count("get") == 4
    counting.calls.clear()
    assert [r.version for r in fresh.page(3, below=BLOCK + 2)] == [BLOCK + 1, BLOCK, BLOCK - 1]
    assert counting.calls.count("read_many") == 1 and counting.calls.count("get") == 0


def test_a_missing_block_is_read_record_by_record_then_written(blobs: BlobStore) -> None:
    publish_chain(ModelHistory(blobs), BLOCK)
    blobs.delete(f"history/{1:010d}.json")  # as a store from before blocks existed
    assert [r.version for r in ModelHistory(blobs).page(3)] == [BLOCK, BLOCK - 1, BLOCK - 2]
    assert blobs.exists(f"history/{1:010d}.json")
    counting = CountingBlobs(blobs)
    assert [r.info["n"] for r in ModelHistory(counting).page(BLOCK)] == list(range(BLOCK, 0, -1))  # type: ignore[arg-type]
    assert counting.calls.count("get") == 0


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_a_page_needs_a_positive_limit(blobs: BlobStore, limit: object) -> None:
    with pytest.raises(ValueError):
        ModelHistory(blobs).page(limit)  # type: ignore[arg-type]


def test_events_between_gives_the_events_of_a_time_window(blobs: BlobStore) -> None:
    history = ModelHistory(blobs)
    history.record_event({"n": 0})
    first = history.publish(0, None, {})
    history.record_event({"n": 1})
    history.record_event({"n": 2})
    second = history.publish(1, None, {})
    history.record_event({"n": 3})
    assert first is not None and second is not None
    fresh = ModelHistory(blobs)
    assert [e["n"] for e in fresh.events_between(None, first.created)] == [0]
    assert [e["n"] for e in fresh.events_between(first.created, second.created)] == [1, 2]
    assert [e["n"] for e in fresh.events_between(second.created, None)] == [3]
    assert [e["n"] for e in fresh.events_between(None, None)] == [0, 1, 2, 3]
