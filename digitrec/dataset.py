"""The collected dataset as files: npz export (arrays `images` uint8 (N, 28, 28), `labels` uint8 (N,))."""

from __future__ import annotations

import io
from collections.abc import Iterable

import numpy as np

from digitrec.drawing import DrawingError, preprocess_drawing
from digitrec.store import SampleRecord


def export_npz(samples: Iterable[tuple[SampleRecord, bytes]]) -> bytes:
    """(record, PNG bytes) pairs -> npz bytes of the model inputs the drawings make.

    images: the preprocessed 28x28 inputs x 255 (ink = 255), uint8 (N, 28, 28);
    labels: uint8 (N,). Drawings that no longer decode to ink are left out.
    """
    images, labels = [], []
    for record, png in samples:
        try:
            images.append(preprocess_drawing(png))
        except DrawingError:
            continue
        labels.append(record.digit)
    stacked = np.zeros((0, 28, 28), np.float32) if not images else np.stack(images)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        images=np.clip(np.rint(stacked * 255), 0, 255).astype(np.uint8),
        labels=np.asarray(labels, np.uint8),
    )
    return buffer.getvalue()
