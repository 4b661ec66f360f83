"""SampleStore: write-once drawings listed newest first, the same on a local directory and on S3."""

from __future__ import annotations

import re
import threading

import pytest

from digitrec.store.blobs import BlobStore
from digitrec.store.samples import ALPHABET, SampleStore, id_time, new_id

PNG = b"\x89PNG\r\n\x1a\nfake drawing"
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@pytest.fixture
def samples(blobs: BlobStore) -> SampleStore:
    return SampleStore(blobs)


def add_many(samples: SampleStore, digits: list[int], source: str = "collect") -> list[str]:
    return [samples.add(PNG + bytes([n]), digit, source).sample_id for n, digit in enumerate(digits)]


def all_pages(samples: SampleStore, **kwargs: object) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page, cursor = samples.list(cursor=cursor, **kwargs)
        pages.append([record.sample_id for record in page])
        if cursor is None:
            return pages


def test_add_stores_the_drawing_under_its_digit_and_id(samples: SampleStore, blobs: BlobStore) -> None:
    record = samples.add(PNG, 3, "feedback")
    assert (record.digit, record.source) == (3, "feedback")
    assert re.fullmatch(r"[0-9a-z]{26}", record.sample_id)
    assert ISO_UTC.fullmatch(record.created)
    assert blobs.get(f"samples/digit3__{record.sample_id}.png") == PNG
    assert samples.png(record.sample_id) == PNG
    assert samples.get(record.sample_id) == record


def test_the_record_reads_back_with_its_metadata(samples: SampleStore) -> None:
    record = samples.add(PNG, 7, "collect")
    assert samples.get(record.sample_id).to_json() == {
        "sample_id": record.sample_id,
        "digit": 7,
        "source": "collect",
        "created": record.created,
    }


def test_list_is_newest_first(samples: SampleStore) -> None:
    ids = add_many(samples, [1, 2, 3, 4])
    page, cursor = samples.list()
    assert [record.sample_id for record in page] == ids[::-1]
    assert cursor is None


def test_pages_cover_every_sample_once_in_order(samples: SampleStore) -> None:
    ids = add_many(samples, [n % 10 for n in range(11)])
    pages = all_pages(samples, limit=4)
    assert [len(page) for page in pages] == [4, 4, 3]
    assert [sample_id for page in pages for sample_id in page] == ids[::-1]


def test_a_full_last_page_reports_no_next_cursor(samples: SampleStore) -> None:
    add_many(samples, [1, 2, 3, 4])
    first, cursor = samples.list(limit=2)
    second, last_cursor = samples.list(limit=2, cursor=cursor)
    assert len(first) == len(second) == 2
    assert last_cursor is None


def test_list_filters_by_digit(samples: SampleStore) -> None:
    ids = add_many(samples, [5, 1, 5, 2, 5])
    pages = all_pages(samples, digit=5, limit=2)
    assert pages == [[ids[4], ids[2]], [ids[0]]]
    assert samples.list(digit=9) == ([], None)


def test_an_empty_store_lists_nothing(samples: SampleStore) -> None:
    assert samples.list() == ([], None)
    assert samples.count_by_digit() == dict.fromkeys(range(10), 0)


def test_count_by_digit(samples: SampleStore) -> None:
    add_many(samples, [0, 0, 3, 9, 9, 9])
    assert samples.count_by_digit() == {0: 2, 1: 0, 2: 0, 3: 1, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0, 9: 3}


@pytest.mark.parametrize("cursor", ["", "../../etc/passwd", "index/x", "a" * 26, "x" * 200, "/"])
def test_a_malformed_cursor_is_refused(samples: SampleStore, cursor: str) -> None:
    with pytest.raises(ValueError):
        samples.list(cursor=cursor)


@pytest.mark.parametrize("limit", [0, -1, True, 2.5, "3"])
def test_a_bad_limit_is_refused(samples: SampleStore, limit: object) -> None:
    with pytest.raises(ValueError):
        samples.list(limit=limit)  # type: ignore[arg-type]


@pytest.mark.parametrize("digit", [-1, 10, True, 3.0, "3", None])
def test_add_refuses_a_digit_outside_0_to_9(samples: SampleStore, blobs: BlobStore, digit: object) -> None:
    with pytest.raises(ValueError):
        samples.add(PNG, digit, "collect")  # type: ignore[arg-type]
    assert blobs.list("") == []


def test_add_refuses_an_unknown_source(samples: SampleStore, blobs: BlobStore) -> None:
    with pytest.raises(ValueError):
        samples.add(PNG, 1, "scraped")
    assert blobs.list("") == []


@pytest.mark.parametrize("sample_id", ["", "../../x", "0" * 25, "0" * 27, "I" * 26, 42])
def test_malformed_ids_are_unknown(samples: SampleStore, sample_id: object) -> None:
    with pytest.raises(KeyError):
        samples.get(sample_id)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        samples.png(sample_id)  # type: ignore[arg-type]


def test_a_well_formed_unknown_id_is_unknown(samples: SampleStore) -> None:
    samples.add(PNG, 1, "collect")
    with pytest.raises(KeyError):
        samples.get(new_id())


def test_a_drawing_without_its_index_entry_is_invisible(samples: SampleStore, blobs: BlobStore) -> None:
    # What a crash between the two writes leaves: the PNG but no commit point.
    orphan = new_id()
    blobs.put(f"samples/digit4__{orphan}.png", PNG)
    assert samples.list() == ([], None)
    assert samples.count_by_digit()[4] == 0
    with pytest.raises(KeyError):
        samples.get(orphan)


def test_all_yields_every_sample_with_its_png(samples: SampleStore) -> None:
    ids = add_many(samples, [2, 4, 6])
    got = [(record.sample_id, record.digit, png) for record, png in samples.all()]
    assert got == [(ids[n], digit, PNG + bytes([n])) for n, digit in reversed(list(enumerate([2, 4, 6])))]


def test_delete_removes_the_entry_and_the_drawing(samples: SampleStore, blobs: BlobStore) -> None:
    keep, drop = add_many(samples, [1, 2])
    samples.delete(drop)
    assert [record.sample_id for record in samples.list()[0]] == [keep]
    assert blobs.list("samples/") == [f"samples/digit1__{keep}.png"]


def test_relabel_keeps_id_and_time_and_moves_the_drawing(samples: SampleStore, blobs: BlobStore) -> None:
    record = samples.add(PNG, 1, "feedback")
    relabelled = samples.relabel(record.sample_id, 7)
    assert relabelled == type(record)(record.sample_id, 7, "feedback", record.created)
    assert samples.get(record.sample_id).digit == 7
    assert samples.png(record.sample_id) == PNG
    assert blobs.list("samples/") == [f"samples/digit7__{record.sample_id}.png"]
    assert [key.split("/")[1] for key in blobs.list("catalog/")] == ["all", "digit7"]


def test_concurrent_adds_are_all_kept(samples: SampleStore) -> None:
    ids: list[str] = []
    start = threading.Barrier(8)

    def add_four(n: int) -> None:
        start.wait()
        for k in range(4):
            ids.append(samples.add(PNG, (n + k) % 10, "feedback").sample_id)

    threads = [threading.Thread(target=add_four, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listed = [sample_id for page in all_pages(samples, limit=7) for sample_id in page]
    assert len(ids) == len(set(ids)) == 32
    assert sorted(listed) == sorted(ids)
    assert listed == sorted(listed, reverse=True)
    assert sum(samples.count_by_digit().values()) == 32


def test_ids_sort_by_creation_and_carry_their_time() -> None:
    ids = [new_id() for _ in range(200)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 200
    assert ISO_UTC.fullmatch(id_time(ids[0]))
    assert id_time(ids[0]) <= id_time(ids[-1])


# --- pages that cost O(page), stored model inputs, the earlier layout ------------------------------

INPUT = bytes(range(256)) * 3 + bytes(16)  # 784 bytes: a 28x28 uint8 model input


class RecordingBlobs:
    """A BlobStore wrapper that records each list call's arguments."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.lists: list[tuple[str, dict]] = []

    def list(self, prefix: str, **kwargs: object) -> list[str]:
        self.lists.append((prefix, kwargs))
        return self.inner.list(prefix, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_pages_resume_at_their_cursor_when_samples_are_added_between_them(samples: SampleStore) -> None:
    old = add_many(samples, [n % 10 for n in range(7)])
    first, cursor = samples.list(limit=3)
    newer = add_many(samples, [4, 4])
    rest = []
    while cursor is not None:
        page, cursor = samples.list(limit=3, cursor=cursor)
        rest.extend(record.sample_id for record in page)
    assert [record.sample_id for record in first] + rest == old[::-1]
    assert [record.sample_id for record in samples.list(limit=2)[0]] == newer[::-1]


def test_digit_pages_resume_at_their_cursor_when_samples_are_added_between_them(
    samples: SampleStore,
) -> None:
    ids = add_many(samples, [3, 1, 3, 3, 2, 3])
    threes = [ids[n] for n in (5, 3, 2, 0)]
    first, cursor = samples.list(digit=3, limit=2)
    added = add_many(samples, [3, 1])
    second, last_cursor = samples.list(digit=3, limit=2, cursor=cursor)
    assert [r.sample_id for r in first + second] == threes and last_cursor is None
    assert [r.sample_id for r in samples.list(digit=3, limit=1)[0]] == [added[0]]
    assert all(r.digit == 3 for r in first + second)


def test_a_page_is_one_list_call_of_limit_plus_one_keys(blobs: BlobStore) -> None:
    recording = RecordingBlobs(blobs)
    samples = SampleStore(recording)  # type: ignore[arg-type]
    add_many(samples, [n % 10 for n in range(40)])
    samples.list(limit=1)  # the one-time check for the earlier layout
    for digit in (None, 7):
        recording.lists.clear()
        page, cursor = samples.list(digit=digit, limit=3)
        samples.list(digit=digit, limit=3, cursor=cursor)
        assert [kwargs["limit"] for _prefix, kwargs in recording.lists] == [4, 4]
        assert len(page) == 3 and cursor is not None


def test_add_stores_the_model_input_in_the_catalog(samples: SampleStore) -> None:
    record = samples.add(PNG, 5, "feedback", INPUT)
    assert samples.model_input(record.sample_id) == INPUT
    assert list(samples.entries()) == [(record, INPUT)]


def test_a_sample_without_a_model_input_has_none_until_one_is_saved(samples: SampleStore) -> None:
    record = samples.add(PNG, 5, "collect")
    assert list(samples.entries()) == [(record, None)]
    samples.save_model_input(record, INPUT)
    assert samples.model_input(record.sample_id) == INPUT
    assert samples.list() == ([record], None)


@pytest.mark.parametrize("model_input", [b"", bytes(783), bytes(785), "x" * 784])
def test_a_model_input_must_be_784_bytes(samples: SampleStore, blobs: BlobStore, model_input) -> None:
    with pytest.raises(ValueError):
        samples.add(PNG, 1, "collect", model_input)
    assert blobs.list("") == []


def test_saving_a_model_input_does_not_bring_back_a_deleted_sample(samples: SampleStore) -> None:
    record = samples.add(PNG, 2, "collect")
    samples.delete(record.sample_id)
    samples.save_model_input(record, INPUT)
    assert samples.list() == ([], None) and list(samples.entries()) == []


def test_relabel_keeps_the_model_input_and_moves_the_digit_entry(samples: SampleStore) -> None:
    record = samples.add(PNG, 1, "feedback", INPUT)
    samples.relabel(record.sample_id, 8)
    assert samples.model_input(record.sample_id) == INPUT
    assert samples.list(digit=1) == ([], None)
    assert [r.sample_id for r in samples.list(digit=8)[0]] == [record.sample_id]


def test_delete_removes_the_sample_from_its_digit_listing(samples: SampleStore, blobs: BlobStore) -> None:
    record = samples.add(PNG, 6, "collect", INPUT)
    samples.delete(record.sample_id)
    assert samples.list(digit=6) == ([], None)
    assert blobs.list("catalog/") == []


def test_samples_of_the_earlier_flat_layout_move_into_the_catalog(blobs: BlobStore) -> None:
    # The layout before the catalog: samples/ PNG + index/<inverted id>__<digit>__<source>__<id>.json.
    sample_id = new_id()
    inverted = sample_id.translate(str.maketrans(ALPHABET, ALPHABET[::-1]))
    blobs.put(f"samples/digit4__{sample_id}.png", PNG)
    blobs.put(f"index/{inverted}__4__collect__{sample_id}.json", b'{"digit": 4}')
    samples = SampleStore(blobs)
    newer = samples.add(PNG, 4, "feedback", INPUT)
    assert [r.sample_id for r in samples.list(digit=4)[0]] == [newer.sample_id, sample_id]
    assert samples.get(sample_id).source == "collect"
    assert samples.png(sample_id) == PNG and samples.model_input(sample_id) is None
    assert blobs.list("index/") == []
