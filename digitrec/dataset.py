"""The collected dataset as files, both ways: npz and Kaggle-style CSV export, and import of either.

Exported images are what the models see: each drawing preprocessed to 28x28,
ink = 255, uint8. A stored image that is already 28x28 (imported MNIST-style
data) is taken as is, so export -> import -> export gives the same file.

npz: arrays `images` uint8 (N, 28, 28) and `labels` uint8 (N,).
CSV: header `label,pixel0,...,pixel783`, then one row per image: the label and
its 784 pixels row by row, 0 = paper .. 255 = ink (Kaggle's digit-recognizer format).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable

import numpy as np
from PIL import Image

from digitrec.drawing import SIZE, DrawingError, decode_image, preprocess_ink
from digitrec.store import SampleRecord, SampleStore

PIXELS = SIZE * SIZE
CSV_HEADER = ["label"] + [f"pixel{i}" for i in range(PIXELS)]
MAX_IMPORT = 100_000  # images per imported file


class DatasetError(ValueError):
    """An imported file is not a dataset this module reads (the message is safe to show)."""


def model_inputs(samples: Iterable[tuple[SampleRecord, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    """(record, PNG bytes) pairs -> images uint8 (N, 28, 28), ink = 255, and labels uint8 (N,).

    Drawings that no longer decode to ink are left out.
    """
    images, labels = [], []
    for record, png in samples:
        try:
            ink = decode_image(png)
            images.append(ink if ink.shape == (SIZE, SIZE) else preprocess_ink(ink))
        except DrawingError:
            continue
        labels.append(record.digit)
    stacked = np.stack(images) if images else np.zeros((0, SIZE, SIZE), np.float32)
    return np.clip(np.rint(stacked * 255), 0, 255).astype(np.uint8), np.asarray(labels, np.uint8)


def export_npz(samples: Iterable[tuple[SampleRecord, bytes]]) -> bytes:
    """(record, PNG bytes) pairs -> npz bytes with `images` uint8 (N, 28, 28) and `labels` uint8 (N,)."""
    images, labels = model_inputs(samples)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels)
    return buffer.getvalue()


def export_csv(samples: Iterable[tuple[SampleRecord, bytes]]) -> bytes:
    """(record, PNG bytes) pairs -> CSV bytes (UTF-8): `label,pixel0..pixel783`, one row per image."""
    images, labels = model_inputs(samples)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(
        [int(label), *row] for label, row in zip(labels, images.reshape(-1, PIXELS).tolist(), strict=True)
    )
    return text.getvalue().encode("utf-8")


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
    """Add every image of an npz or CSV file to `store` as a `collect` sample; their records.

    The whole file is checked before anything is stored.
    """
    images, labels = read_dataset(data)
    return [
        store.add(to_png(image), int(label), "collect") for image, label in zip(images, labels, strict=True)
    ]


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
