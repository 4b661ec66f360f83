"""BlobStore listing in pages and batch reads: key order across nested folders, folders a page never reads."""

from __future__ import annotations

import os

import pytest

from digitrec.store.blobs import BlobStore, LocalBlobStore

# "." sorts before "/", which sorts before letters: a file "b.json" comes before folder "b/"'s keys.
NESTED = ["a/b.json", "a/b/c", "a/b/d/e", "a/ba", "a/c", "ab", "b/x"]


def test_list_gives_nested_keys_in_byte_order(blobs: BlobStore) -> None:
    for key in reversed(NESTED):
        blobs.put(key, key.encode())
    assert blobs.list("") == sorted(NESTED)
    assert blobs.list("a/") == sorted(k for k in NESTED if k.startswith("a/"))
    assert blobs.list("a/b") == ["a/b.json", "a/b/c", "a/b/d/e", "a/ba"]


@pytest.mark.parametrize("start_after", ["", "a/b.json", "a/b/", "a/b/c", "a/b/d", "a/bz", "a/c", "zz"])
@pytest.mark.parametrize("limit", [None, 1, 2, 10])
def test_list_from_any_key_with_any_limit_is_a_slice_of_the_sorted_keys(
    blobs: BlobStore, start_after: str, limit: int | None
) -> None:
    for key in NESTED:
        blobs.put(key, b"x")
    expected = [key for key in sorted(NESTED) if key > start_after]
    assert blobs.list("", start_after=start_after, limit=limit) == expected[:limit]


def test_a_local_page_reads_only_the_folders_it_needs(tmp_path, monkeypatch) -> None:
    blobs = LocalBlobStore(tmp_path)
    for folder in range(10):
        for name in range(3):
            blobs.put(f"catalog/{folder}/{name}", b"x")
    scanned: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(path):
        scanned.append(os.path.relpath(path, tmp_path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", recording_scandir)
    assert blobs.list("catalog/", start_after="catalog/4/2", limit=2) == ["catalog/5/0", "catalog/5/1"]
    assert scanned == ["catalog", "catalog/4", "catalog/5"]  # the cursor's folder, then the next


def test_read_many_gives_each_blob_and_none_for_missing_keys(blobs: BlobStore) -> None:
    blobs.put("a/1", b"one")
    blobs.put("a/2", b"two")
    assert blobs.read_many(["a/2", "a/missing", "a/1"]) == [b"two", None, b"one"]
    assert blobs.read_many([]) == []
    with pytest.raises(ValueError):
        blobs.read_many(["../escape"])
