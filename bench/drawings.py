"""The benchmark's fixed drawings: test-split digits rendered as browser canvas PNGs."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from digitrec.canvas import STYLES, render_digit
from digitrec.data import load_split

PER_DIGIT = 4  # drawings per digit class: 40 in all


@dataclass(frozen=True)
class Drawing:
    """One canvas drawing: its data URL (what the page sends) and its true digit."""

    data_url: str
    digit: int


def benchmark_drawings(per_digit: int = PER_DIGIT) -> list[Drawing]:
    """The first `per_digit` test-split digits of each class, each in one of the canvas styles.

    Deterministic: the same drawings on every run, so runs compare.
    """
    test = load_split("test")
    styles = list(STYLES.values())
    drawings = []
    for digit in range(10):
        for rank, index in enumerate(np.flatnonzero(test.labels == digit)[:per_digit]):
            style = styles[(digit * per_digit + rank) % len(styles)]
            png = render_digit(test.images[index], **style)
            drawings.append(Drawing("data:image/png;base64," + base64.b64encode(png).decode(), digit))
    return drawings
