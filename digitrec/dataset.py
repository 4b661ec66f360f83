"""The collected dataset as files, both ways: npz and Kaggle-style CSV export, and import of either.

Exported images are what the models see: each sample's stored model input
(28x28, ink = 255, uint8), written when the sample was stored. A sample stored
without one gets it computed from its drawing once (preprocessed to 28x28; an
image that is already 28x28, imported MNIST-style data, is taken as is) and
written back. Imports store each image as its own model input, so export ->
import -> export gives the same file.

Exports stream: `npz_chunks` and `csv_chunks` yield the file in pieces, and
memory stays bounded whatever the dataset's size (the npz's images wait in a
temporary file that spills to disk, because the array's header needs their count).

npz: arrays `images` uint8 (N, 28, 28) and `labels` uint8 (N,).
CSV: header `label,pixel0,...,pixel783`, then one row per image: the label and
its 784 pixels row by row, 0 = paper .. 255 = ink (Kaggle's digit-recognizer format).
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import Iterable, Iterator

import numpy as np
from PIL import Image

from digitrec.drawing import SIZE, DrawingError, decode_image, preprocess_ink
from digitrec.store import SampleRecord, SampleStore

PIXELS = SIZE * SIZE
CSV_HEADER = ["label"] + [f"pixel{i}" for i in range(PIXELS)]
MAX_IMPORT = 100_000  # images per imported file
CHUNK_BYTES = 1 << 20  # bytes per piece of a streamed export
_SPOOL_BYTES = 4 << 20  # images kept in memory before the temporary file spills to disk
_CSV_ROWS = 256  # rows formatted per piece of a CSV export
_DECIMAL = np.array([str(value) for value in range(256)], dtype=object)  # uint8 -> CSV text


class DatasetError(ValueError):
    """An imported file is not a dataset this module reads (the message is safe to show)."""


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A model input float (..., 28, 28), ink = 1.0 -> uint8, ink = 255."""
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def ink_model_input(ink: np.ndarray) -> np.ndarray:
    """Decoded ink (H, W) in [0, 1] -> model input uint8 (28, 28), ink = 255 (a 28x28 image as is).

    Raises BlankDrawing when nothing is drawn.
    """
    return to_uint8(ink if ink.shape == (SIZE, SIZE) else preprocess_ink(ink))


def model_input(png: bytes) -> np.ndarray | None:
    """A stored drawing's PNG -> its model input uint8 (28, 28), ink = 255; None if it has no ink."""
    try:
        return ink_model_input(decode_image(png))
    except DrawingError:
        return None


def labelled_inputs(store: SampleStore) -> Iterator[tuple[int, bytes]]:
    """Every sample's (label, model input as 784 bytes), newest first, from the stored inputs.

    A sample stored without one gets it computed from its PNG and written back, once.
    Drawings that no longer decode to ink are left out.
    """
    for record, stored in store.entries():
        if stored is None:
            try:
                image = model_input(store.png(record.sample_id))
            except KeyError:
                continue  # deleted meanwhile
            if image is None:
                continue
            stored = image.tobytes()
            store.save_model_input(record, stored)
        yield record.digit, stored


def _pairs_as_inputs(samples: Iterable[tuple[SampleRecord, bytes]]) -> Iterator[tuple[int, bytes]]:
    for record, png in samples:
        image = model_input(png)
        if image is not None:
            yield record.digit, image.tobytes()


def model_inputs(samples: Iterable[tuple[SampleRecord, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    """(record, PNG bytes) pairs -> images uint8 (N, 28, 28), ink = 255, and labels uint8 (N,).

    Drawings that no longer decode to ink are left out.
    """
    pairs = list(_pairs_as_inputs(samples))
    images = np.frombuffer(b"".join(image for _label, image in pairs), np.uint8).reshape(-1, SIZE, SIZE)
    return images, np.asarray([label for label, _image in pairs], np.uint8)


class _Pipe(io.RawIOBase):
    """A write-only, unseekable file whose written bytes the caller takes away (zipfile streams into it)."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        self.pending += data
        return len(data)

    def take(self) -> bytes:
        """What was written since the last call."""
        data = bytes(self.pending)
        self.pending.clear()
        return data


def npz_chunks(items: Iterable[tuple[int, bytes]]) -> Iterator[bytes]:
    """(label, 784-byte image) pairs -> the pieces of an npz file like `np.savez_compressed` writes:
    `images` uint8 (N, 28, 28) and `labels` uint8 (N,).

    Reads every item before the first piece (the header holds N); memory stays bounded.
    """
    with (
        tempfile.SpooledTemporaryFile(_SPOOL_BYTES) as images,
        tempfile.SpooledTemporaryFile(_SPOOL_BYTES) as labels,
    ):
        count = 0
        for label, image in items:
            images.write(image)
            labels.write(bytes((label,)))
            count += 1
        pipe = _Pipe()
        with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for name, spool, shape in (("images", images, (count, SIZE, SIZE)), ("labels", labels, (count,))):
                spool.seek(0)
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    header = {"descr": "|u1", "fortran_order": False, "shape": shape}
                    np.lib.format.write_array_header_1_0(member, header)
                    while block := spool.read(CHUNK_BYTES):
                        member.write(block)
                        if pipe.pending:
                            yield pipe.take()
        yield pipe.take()


def csv_chunks(items: Iterable[tuple[int, bytes]]) -> Iterator[bytes]:
    """(label, 784-byte image) pairs -> the pieces of a CSV file (UTF-8): `label,pixel0..pixel783`,
    one row per image, a few hundred rows per piece."""
    # The header goes out with the first rows: reading nothing before the first piece would
    # hide a store that cannot be read until after the response has started.
    piece = (",".join(CSV_HEADER) + "\n").encode()
    rows: list[bytes] = []
    for label, image in items:
        rows.append(bytes((label,)) + image)
        if len(rows) == _CSV_ROWS:
            yield piece + _csv_rows(rows)
            piece, rows = b"", []
    yield piece + _csv_rows(rows) if rows else piece


def _csv_rows(rows: list[bytes]) -> bytes:
    """Label + 784 pixel bytes per row -> their CSV lines."""
    table = _DECIMAL[np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), PIXELS + 1)]
    return "".join(",".join(row) + "\n" for row in table.tolist()).encode()


def export_npz(samples: Iterable[tuple[SampleRecord, bytes]]) -> bytes:
    """(record, PNG bytes) pairs -> npz bytes with `images` uint8 (N, 28, 28) and `labels` uint8 (N,)."""
    return b"".join(npz_chunks(_pairs_as_inputs(samples)))


def export_csv(samples: Iterable[tuple[SampleRecord, bytes]]) -> bytes:
    """(record, PNG bytes) pairs -> CSV bytes (UTF-8): `label,pixel0..pixel783`, one row per image."""
    return b"".join(csv_chunks(_pairs_as_inputs(samples)))


def read_dataset(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """npz or CSV bytes (as exported) -> images uint8 (N, 28, 28), labels uint8 (N,); DatasetError if not."""
    arrays = _read_npz(data) if data[:4] == b"PK\x03\x04" else _read_csv(data)
    images, labels = arrays
    if len(images) > MAX_IMPORT:
        raise DatasetError(
            f"The file has {len(images)} images; at most {MAX_IMPORT} can be imported at once."
        )
    return images, labels


def import_dataset(data: bytes, store: SampleStore) -> list[SampleRecord]:
    """Add every image of an npz or CSV file to `store` as a `collect` sample; their records, in file order.

    The whole file is checked before anything is stored; each image is stored as its own model input.
    """
    images, labels = read_dataset(data)
    # Last image first: exports list newest first, so exporting the imports gives the same file.
    records = [
        store.add(to_png(image), int(label), "collect", image.tobytes())
        for image, label in zip(images[::-1], labels[::-1], strict=True)
    ]
    return records[::-1]


def to_png(image: np.ndarray) -> bytes:
    """A 28x28 image uint8, ink = 255 -> a grayscale PNG, black ink on white (as samples are stored)."""
    buffer = io.BytesIO()
    Image.fromarray(255 - image).save(buffer, format="PNG")
    return buffer.getvalue()


def _read_npz(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in ("images", "labels") if name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise DatasetError("The file is not a readable npz archive.") from None
    if len(arrays) != 2:
        raise DatasetError("The npz file needs the arrays 'images' and 'labels'.")
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim != 3 or images.shape[1:] != (SIZE, SIZE):
        raise DatasetError("'images' must have the shape (N, 28, 28).")
    if labels.shape != (len(images),):
        raise DatasetError("'labels' must have one label per image.")
    return _checked(images, labels)


def _read_csv(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetError("The file is neither an npz archive nor a UTF-8 CSV file.") from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or [name.strip() for name in header] != CSV_HEADER:
        raise DatasetError("The CSV file must start with the header label,pixel0,...,pixel783.")
    values = []
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != PIXELS + 1:
            raise DatasetError(f"Line {line} of the CSV file has {len(row)} values, not {PIXELS + 1}.")
        try:
            values.append([int(value) for value in row])
        except ValueError:
            raise DatasetError(
                f"Line {line} of the CSV file has a value that is not a whole number."
            ) from None
    table = np.asarray(values, dtype=np.int64).reshape(-1, PIXELS + 1)
    return _checked(table[:, 1:].reshape(-1, SIZE, SIZE), table[:, 0])


def _checked(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Range checks, then the uint8 arrays."""
    if not (np.issubdtype(images.dtype, np.integer) and np.issubdtype(labels.dtype, np.integer)):
        raise DatasetError("Images and labels must be whole numbers.")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise DatasetError("Pixel values must be from 0 to 255.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError("Labels must be digits from 0 to 9.")
    return images.astype(np.uint8), labels.astype(np.uint8)
