"""Dataset files: npz and Kaggle-style CSV export, import into the store, round trips, bad files."""

import base64
import io
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from digitrec import dataset
from digitrec.canvas import ink_to_png, render_ink
from digitrec.data import load_split
from digitrec.dataset import (
    CHUNK_BYTES,
    CSV_HEADER,
    DatasetError,
    csv_chunks,
    export_csv,
    export_npz,
    import_dataset,
    labelled_inputs,
    model_input,
    model_inputs,
    npz_chunks,
    read_dataset,
)
from digitrec.drawing import preprocess_ink
from digitrec.store import SampleStore, StoreUnavailable, open_blob_store
from digitrec.web import create_app
from tests.conftest import data_url


def new_store(path) -> SampleStore:
    return SampleStore(open_blob_store(str(path)))


def everything(store: SampleStore) -> list:
    return list(store.all())


@pytest.fixture
def store(tmp_path):
    """A store holding three canvas drawings of test digits, labelled 7, 2, 1."""
    samples = new_store(tmp_path / "a")
    test = load_split("test")
    for label in (7, 2, 1):
        image = test.images[np.flatnonzero(test.labels == label)[0]]
        samples.add(ink_to_png(render_ink(image)), label, "feedback")
    return samples


def npz_arrays(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return npz["images"], npz["labels"]


def test_npz_export_holds_the_model_inputs(store):
    images, labels = npz_arrays(export_npz(everything(store)))
    assert images.dtype == np.uint8 and images.shape == (3, 28, 28)
    assert labels.dtype == np.uint8 and sorted(labels.tolist()) == [1, 2, 7]
    assert images.max() == 255 and images[:, 0, :].max() == 0  # ink = 255, margins empty


def test_csv_export_is_kaggle_shaped(store):
    lines = export_csv(everything(store)).decode().splitlines()
    assert lines[0] == ",".join(CSV_HEADER)
    assert lines[0].startswith("label,pixel0,pixel1,") and lines[0].endswith(",pixel783")
    rows = [[int(v) for v in line.split(",")] for line in lines[1:]]
    assert len(rows) == 3 and all(len(row) == 785 for row in rows)
    assert sorted(row[0] for row in rows) == [1, 2, 7]
    assert all(0 <= v <= 255 for row in rows for v in row[1:])


def test_csv_and_npz_exports_hold_the_same_images(store):
    images, labels = npz_arrays(export_npz(everything(store)))
    from_csv, csv_labels = read_dataset(export_csv(everything(store)))
    assert np.array_equal(images, from_csv) and np.array_equal(labels, csv_labels)


def test_export_of_an_empty_store_is_empty(tmp_path):
    images, labels = npz_arrays(export_npz(everything(new_store(tmp_path))))
    assert images.shape == (0, 28, 28) and labels.shape == (0,)
    assert export_csv([]).decode().splitlines() == [",".join(CSV_HEADER)]


@pytest.mark.parametrize("export", [export_npz, export_csv])
def test_export_import_export_round_trip_is_exact(store, tmp_path, export):
    first = export(everything(store))
    fresh = new_store(tmp_path / "b")
    records = import_dataset(first, fresh)
    assert len(records) == 3 and {r.source for r in records} == {"collect"}
    again = read_dataset(export(everything(fresh)))
    original = read_dataset(first)
    order, order_again = np.argsort(original[1]), np.argsort(again[1])
    assert np.array_equal(original[0][order], again[0][order_again])
    assert np.array_equal(original[1][order], again[1][order_again])


def test_imported_mnist_digits_keep_their_labels_and_pixels(tmp_path):
    test = load_split("test")
    index = [np.flatnonzero(test.labels == digit)[0] for digit in range(10)]
    images = np.rint(test.images[index] * 255).astype(np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=np.arange(10, dtype=np.uint8))
    fresh = new_store(tmp_path)
    import_dataset(buffer.getvalue(), fresh)
    stored_images, stored_labels = model_inputs(everything(fresh))
    order = np.argsort(stored_labels)
    assert np.array_equal(stored_labels[order], np.arange(10))
    assert np.array_equal(stored_images[order], images)


def test_model_inputs_preprocess_canvas_drawings(store):
    images, _ = model_inputs(everything(store))
    test = load_split("test")
    seven = test.images[np.flatnonzero(test.labels == 7)[0]]
    expected = np.rint(preprocess_ink(render_ink(seven)) * 255)
    assert any(np.abs(image.astype(float) - expected).max() <= 1 for image in images)


def csv_bytes(*rows: list[int], header: list[str] = CSV_HEADER) -> bytes:
    return "\n".join([",".join(header)] + [",".join(map(str, row)) for row in rows]).encode()


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        (b"\x89PNG\r\n\x1a\n", "neither an npz archive nor a UTF-8 CSV"),
        (b"hello", "must start with the header"),
        (csv_bytes([1, 2, 3]), "has 3 values, not 785"),
        (csv_bytes([10] + [0] * 784), "Labels must be digits"),
        (csv_bytes([1] + [256] + [0] * 783), "Pixel values must be from 0 to 255"),
        (csv_bytes([1] + ["x"] + [0] * 783), "not a whole number"),
        (csv_bytes([1] + [0] * 784, header=["label"] + [f"p{i}" for i in range(784)]), "header"),
        (b"PK\x03\x04 broken zip", "not a readable npz"),
    ],
)
def test_bad_files_are_refused_with_a_sentence(tmp_path, data, sentence):
    fresh = new_store(tmp_path)
    with pytest.raises(DatasetError, match=sentence):
        import_dataset(data, fresh)
    assert everything(fresh) == []


@pytest.mark.parametrize(
    ("arrays", "sentence"),
    [
        ({"images": np.zeros((2, 28, 28), np.uint8)}, "needs the arrays"),
        ({"images": np.zeros((2, 27, 28), np.uint8), "labels": np.zeros(2, np.uint8)}, "shape"),
        ({"images": np.zeros((2, 28, 28), np.uint8), "labels": np.zeros(3, np.uint8)}, "one label per image"),
        ({"images": np.zeros((1, 28, 28), np.float32), "labels": np.zeros(1, np.uint8)}, "whole numbers"),
    ],
)
def test_bad_npz_files_are_refused_and_nothing_is_stored(tmp_path, arrays, sentence):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    fresh = new_store(tmp_path)
    with pytest.raises(DatasetError, match=sentence):
        import_dataset(buffer.getvalue(), fresh)
    assert everything(fresh) == []


def test_a_kaggle_file_with_a_bom_and_a_trailing_newline_imports(tmp_path):
    data = b"\xef\xbb\xbf" + csv_bytes([3] + [0] * 300 + [255] * 184 + [0] * 300) + b"\n"
    fresh = new_store(tmp_path)
    (record,) = import_dataset(data, fresh)
    assert record.digit == 3 and record.source == "collect"


# --- over HTTP: GET /api/export.csv and the admin import route -----------------------------------

TOKEN = "dataset-test-token"


@pytest.fixture
def admin_client(settings):
    return create_app(replace(settings, admin_token=TOKEN)).test_client()


def collect(client, draw, digit: int) -> None:
    png = base64.b64encode(draw(digit)).decode()
    assert client.post("/api/samples", json={"image": png, "digit": digit}).status_code == 201


def test_export_csv_route_serves_the_collected_samples(admin_client, draw):
    collect(admin_client, draw, 4)
    collect(admin_client, draw, 9)
    response = admin_client.get("/api/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == ",".join(CSV_HEADER)
    assert sorted(line.split(",", 1)[0] for line in lines[1:]) == ["4", "9"]


def test_import_route_stores_a_csv_as_collect_samples(admin_client, draw, tmp_path):
    collect(admin_client, draw, 6)
    exported = admin_client.get("/api/export.csv").get_data()
    other = new_store(tmp_path / "other")
    import_dataset(exported, other)
    again = export_csv(everything(other))

    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv"}
    response = admin_client.post("/api/samples/import", data=again, headers=headers)
    assert response.status_code == 201 and response.get_json() == {"imported": 1}
    listed = admin_client.get("/api/samples?digit=6").get_json()["samples"]
    assert len(listed) == 2 and {s["source"] for s in listed} == {"collect"}


def test_import_route_takes_a_multipart_npz(admin_client):
    buffer = io.BytesIO()
    np.savez(buffer, images=np.zeros((2, 28, 28), np.uint8), labels=np.array([1, 2], np.uint8))
    response = admin_client.post(
        "/api/samples/import",
        data={"file": (io.BytesIO(buffer.getvalue()), "digits.npz")},
        headers={"Authorization": f"Bearer {TOKEN}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201 and response.get_json() == {"imported": 2}


def test_import_route_needs_the_admin_token(admin_client):
    response = admin_client.post("/api/samples/import", data=csv_bytes([1] + [0] * 784))
    assert response.status_code == 401 and "error" in response.get_json()
    assert admin_client.get("/api/samples").get_json()["samples"] == []


def test_import_route_refuses_a_bad_file_with_a_sentence(admin_client):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = admin_client.post("/api/samples/import", data=b"not,a,dataset", headers=headers)
    assert response.status_code == 400
    assert "header label,pixel0" in response.get_json()["error"]
    empty = admin_client.post("/api/samples/import", data=b"", headers=headers)
    assert empty.status_code == 400 and "npz or CSV file" in empty.get_json()["error"]


# --- the CLI: python -m digitrec export OUT.csv / import FILE -------------------------------------


def run_cli(*args: str, store) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIGITREC_STORE": str(store)}
    return subprocess.run(
        [sys.executable, "-m", "digitrec", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_exports_csv_and_imports_it_into_another_store(store, tmp_path):
    out = tmp_path / "samples.csv"
    exported = run_cli("export", str(out), store=store.blobs.root)
    assert exported.returncode == 0, exported.stderr
    assert out.read_text().startswith("label,pixel0,")

    other = tmp_path / "other"
    imported = run_cli("import", str(out), store=other)
    assert imported.returncode == 0, imported.stderr
    assert "imported 3 samples" in imported.stdout
    assert sorted(r.digit for r, _png in new_store(other).all()) == [1, 2, 7]


def test_cli_import_of_a_bad_file_fails_and_stores_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,pixel0\n1,2\n")
    result = run_cli("import", str(bad), store=tmp_path / "store")
    assert result.returncode == 1 and "header label,pixel0" in result.stderr
    assert everything(new_store(tmp_path / "store")) == []


# --- exports from the stored model inputs, streamed, on both backends ----------------------------


def stored_export(samples: SampleStore, chunks=npz_chunks) -> bytes:
    return b"".join(chunks(labelled_inputs(samples)))


def test_export_gives_the_stored_model_inputs_not_a_new_preprocessing(blobs, monkeypatch):
    samples = SampleStore(blobs)
    drawing = ink_to_png(render_ink(load_split("test").images[0]))
    stored = np.tri(28, dtype=np.uint8) * 200  # unlike anything preprocessing would make of the drawing
    samples.add(drawing, 3, "feedback", stored.tobytes())

    def no_preprocessing(*_args):
        raise AssertionError("export preprocessed a drawing whose model input is stored")

    monkeypatch.setattr(dataset, "preprocess_ink", no_preprocessing)
    images, labels = npz_arrays(stored_export(samples))
    assert np.array_equal(images, stored[None]) and labels.tolist() == [3]


def test_a_sample_stored_without_a_model_input_gets_it_once_from_its_png(blobs, monkeypatch):
    samples = SampleStore(blobs)
    png = ink_to_png(render_ink(load_split("test").images[1]))
    record = samples.add(png, 2, "collect")
    expected = model_input(png)
    first = stored_export(samples)
    assert np.array_equal(npz_arrays(first)[0][0], expected)
    assert samples.model_input(record.sample_id) == expected.tobytes()

    monkeypatch.setattr(dataset, "preprocess_ink", lambda *_args: pytest.fail("preprocessed twice"))
    assert stored_export(samples) == first


@pytest.mark.parametrize("chunks", [npz_chunks, csv_chunks])
def test_export_import_export_gives_the_same_file(blobs, tmp_path, chunks):
    source = new_store(tmp_path / "source")
    rng = np.random.default_rng(5)
    for n in range(12):
        source.add(b"drawing", n % 10, "collect", rng.integers(0, 256, 784, dtype=np.uint8).tobytes())
    first = stored_export(source, chunks)
    target = SampleStore(blobs)
    import_dataset(first, target)
    assert stored_export(target, chunks) == first


def test_streamed_npz_reads_back_as_numpy_writes_it_in_bounded_pieces():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3000, 28, 28), dtype=np.uint8)  # ~2.4 MB, incompressible
    labels = rng.integers(0, 10, 3000, dtype=np.uint8)
    pieces = list(npz_chunks(zip(labels.tolist(), (image.tobytes() for image in images), strict=True)))
    assert len(pieces) > 2 and max(len(piece) for piece in pieces) <= 2 * CHUNK_BYTES
    got_images, got_labels = npz_arrays(b"".join(pieces))
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)


def test_streamed_csv_matches_the_csv_writer_row_for_row():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (600, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, 600, dtype=np.uint8)
    pieces = list(csv_chunks(zip(labels.tolist(), (image.tobytes() for image in images), strict=True)))
    assert len(pieces) == 3  # a few hundred rows per piece, the header with the first
    lines = b"".join(pieces).decode().splitlines()
    assert lines[0] == ",".join(CSV_HEADER)
    assert lines[1:] == [
        ",".join(map(str, [label, *row])) for label, row in zip(labels, images.tolist(), strict=True)
    ]


def test_export_routes_stream_the_stored_inputs_newest_first(client, draw):
    for digit in (1, 2, 3):
        assert (
            client.post("/api/samples", json={"image": data_url(draw(digit)), "digit": digit}).status_code
            == 201
        )
    response = client.get("/api/export.npz")
    assert response.status_code == 200 and response.is_streamed
    images, labels = npz_arrays(response.get_data())
    assert labels.tolist() == [3, 2, 1] and images.shape == (3, 28, 28)
    csv_response = client.get("/api/export.csv")
    assert csv_response.is_streamed
    assert [line.split(",", 1)[0] for line in csv_response.get_data(as_text=True).splitlines()[1:]] == [
        "3",
        "2",
        "1",
    ]


@pytest.mark.parametrize("route", ["/api/export.npz", "/api/export.csv"])
def test_an_export_while_the_store_is_down_is_a_503_with_a_sentence(app, route, monkeypatch):
    def unreachable(*_args, **_kwargs):
        raise StoreUnavailable("S3 list_objects_v2 failed: connection refused")

    monkeypatch.setattr(app.extensions["digitrec"].samples.blobs, "list", unreachable)
    response = app.test_client().get(route)
    assert response.status_code == 503 and "unavailable" in response.get_json()["error"]
