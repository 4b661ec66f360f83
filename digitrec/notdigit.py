"""Whether one segment of a canvas drawing is a digit at all, and if not, what it looks like.

Two parts, both judging one segment (segment.split_digits) of a drawing made on a canvas:

- Rules on the ink at canvas resolution, relative to the pen that drew it (`Look`):
  a blob no longer than DOT pens is a tap; a stroke shorter than TOO_SMALL pens is too
  small for the pen to leave a readable shape ("Draw bigger"); a straight stroke (its
  ink spread across its axis under STRAIGHT pens) more than LINE_ANGLE degrees from
  vertical is a line (a vertical one is a 1).
- A small learned classifier (`Refusal`, models/notdigit.npz): a one-hidden-layer net on
  the segment's ink statistics and its redrawn 28x28 rendering at 14x14, with one class for
  digits and one per non-digit family of nondigits.py. It is trained on train-split digits
  and non-digits of training seeds (train.train_notdigit) and refuses when its probability
  of "digit" is under its threshold, chosen on held-out drawings of the train split. It does
  not read the digit models' probabilities: on the train digits it learns from, the models
  are surer than on new digits, and a classifier trusting that refuses new digits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from digitrec.answer import MAX_CROSSINGS, MAX_HOLES, MAX_INK, MAX_ISLANDS, shape_statistics
from digitrec.config import ROOT
from digitrec.drawing import INK_THRESHOLD, WORK_SIDE, centre_line_pen

DOT = 1.8  # a segment no longer than this many pens is a tap
TOO_SMALL = 3.2  # a segment shorter than this many pens has no readable shape
STRAIGHT = 0.45  # ink spread (std) across the main axis under this many pens: one straight stroke
LINE_ANGLE = 50.0  # degrees from vertical beyond which a straight stroke is a line, not a 1
MODEL_FILE = "notdigit.npz"
CLASSES = ("digit", "tap", "dots", "line", "letter", "symbol", "shape", "scribble")
MESSAGES = {
    "tap": "That looks like a dot, not a digit.",
    "dots": "Those look like dots, not a digit.",
    "line": "That looks like a line, not a digit.",
    "letter": "That looks like a letter, not a digit.",
    "symbol": "That looks like a symbol, not a digit.",
    "shape": "That looks like a shape, not a digit.",
    "scribble": "That looks like a scribble, not a digit.",
    "small": "Draw bigger: the digit is too small for the pen to leave a readable shape.",
}
STATISTICS = 14  # len(Look.statistics)


@dataclass(frozen=True)
class Look:
    """What a segment's ink looks like, pen-relative.

    pen: estimated pen width, px; length: the segment's longer side in pens; straight:
    its ink spread across its main axis in pens; tilt: the main axis's angle from
    vertical, degrees (0-90); shaped: answer.has_digit_shape of its redrawn rendering;
    statistics: float32 (STATISTICS,) for the classifier;
    small: float32 (196,), the redrawn rendering at 14x14.
    """

    pen: float
    length: float
    straight: float
    tilt: float
    shaped: bool
    statistics: np.ndarray
    small: np.ndarray

    def rule(self) -> str | None:
        """The key of MESSAGES that the rules give (a tap, too small, a line), or None."""
        if self.length <= DOT:
            return "tap"
        if self.straight < STRAIGHT and self.tilt > LINE_ANGLE:
            return "line"
        if self.length < TOO_SMALL and self.straight >= STRAIGHT:
            return "small"
        return None


def look_at(ink: np.ndarray, points: np.ndarray, redrawn: np.ndarray) -> Look:
    """One segment: its ink crop (H, W) at canvas resolution, its centre line (drawing.stroke_points,
    (N, 2)) and its redrawn rendering (28, 28) -> its Look."""
    mask = ink >= INK_THRESHOLD
    height, width = ink.shape
    longer = max(height, width)
    area = float(ink.sum())
    pen = centre_line_pen(area, points, longer)
    if longer < 2 * WORK_SIDE:
        # An enlarged small crop's centre line is long and branched for a blob: there the ridge
        # of the distance to the paper (half a pen on a stroke, the radius of a dot) settles the
        # pen, cheaply at this size.
        depth = ndimage.distance_transform_edt(np.pad(mask, 1))
        ridge = depth[(depth > 0) & (depth >= ndimage.maximum_filter(depth, size=3))]
        pen = 2.0 * float(np.median(ridge)) if ridge.size else pen
    pen = max(pen, 1.0)
    covariance = _covariance(mask)
    if covariance is not None:
        values, vectors = np.linalg.eigh(covariance)
        minor, major = np.sqrt(np.maximum(values, 0.0))
        axis_y, axis_x = vectors[:, 1]
        tilt = float(np.degrees(np.arctan2(abs(axis_x), abs(axis_y))))
    else:
        minor, major, tilt = 0.0, 0.0, 0.0
    pieces = ndimage.label(mask[::2, ::2], structure=np.ones((3, 3), bool))[1]
    ink_total, holes, islands, crossings, ends = shape_statistics(redrawn)
    shaped = (
        ink_total <= MAX_INK and holes <= MAX_HOLES and islands <= MAX_ISLANDS and crossings <= MAX_CROSSINGS
    )
    statistics = np.array(
        [
            np.log(longer / pen),
            np.log(min(height, width) / pen),
            np.log((width + pen) / (height + pen)),
            area / (height * width),
            np.log(minor / pen + 0.05),
            np.log(major / pen + 0.05),
            tilt / 90.0,
            np.log1p(pieces),
            ink_total / 100.0,
            holes,
            islands,
            crossings / 10.0,
            ends / 5.0,
            np.log(len(points) + 1.0),
        ],
        np.float32,
    )
    small = redrawn.reshape(14, 2, 14, 2).mean(axis=(1, 3)).reshape(-1).astype(np.float32)
    return Look(pen, longer / pen, float(minor / pen), tilt, shaped, statistics, small)


def _covariance(mask: np.ndarray) -> np.ndarray | None:
    """The (y, x) covariance (2, 2) of a mask's pixels (as np.cov of their coordinates), or None
    under 2 pixels; from row and column sums and one matrix product rather than listing the pixels."""
    weights = mask.astype(np.float32)
    count = float(weights.sum())
    if count < 2:
        return None
    ys = np.arange(mask.shape[0], dtype=np.float64)
    xs = np.arange(mask.shape[1], dtype=np.float64)
    rows, cols = weights.sum(axis=1, dtype=np.float64), weights.sum(axis=0, dtype=np.float64)
    mean_y, mean_x = rows @ ys / count, cols @ xs / count
    var_y = rows @ (ys - mean_y) ** 2
    var_x = cols @ (xs - mean_x) ** 2
    cross = float((ys - mean_y) @ weights.astype(np.float64) @ (xs - mean_x))
    return np.array([[var_y, cross], [cross, var_x]]) / (count - 1)


def inputs_of(looks: list[Look]) -> np.ndarray:
    """The classifier's inputs float32 (K, STATISTICS + 196) for K looks."""
    return inputs_from(
        np.stack([look.statistics for look in looks]), np.stack([look.small for look in looks])
    )


def inputs_from(statistics: np.ndarray, small: np.ndarray) -> np.ndarray:
    """Looks' statistics (K, STATISTICS) and small renderings (K, 196) -> the classifier's inputs
    float32 (K, STATISTICS + 196)."""
    return np.hstack([statistics, small]).astype(np.float32)


@dataclass(frozen=True)
class Refusal:
    """The learned not-a-digit classifier: inputs (K, F) -> class probabilities (K, len(CLASSES)).

    mean, scale: (F,) input standardisation; w1 (F, H), b1 (H,), w2 (H, C), b2 (C,);
    threshold: the refusal bar for P(digit).
    """

    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    threshold: float

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        hidden = np.maximum(((inputs - self.mean) / self.scale) @ self.w1 + self.b1, 0.0)
        logits = hidden @ self.w2 + self.b2
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def verdicts(self, inputs: np.ndarray) -> list[str | None]:
        """Per row: None (a digit) or the non-digit family it most looks like."""
        probs = self.probabilities(inputs)
        out: list[str | None] = []
        for row in probs:
            if row[0] >= self.threshold:
                out.append(None)
            else:
                out.append(CLASSES[1 + int(np.argmax(row[1:]))])
        return out

    def save(self, path: Path) -> None:
        arrays = {name: getattr(self, name) for name in ("mean", "scale", "w1", "b1", "w2", "b2")}
        np.savez(path, threshold=np.float32(self.threshold), **arrays)

    @classmethod
    def load(cls, path: Path) -> Refusal:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {
                name: npz[name].astype(np.float32) for name in ("mean", "scale", "w1", "b1", "w2", "b2")
            }
            return cls(threshold=float(npz["threshold"]), **arrays)


@functools.cache
def shipped(models_dir: Path = ROOT / "models") -> Refusal | None:
    """The classifier shipped in `models_dir` (loaded once), or None if there is none."""
    path = Path(models_dir) / MODEL_FILE
    return Refusal.load(path) if path.exists() else None


def judge(looks: list[Look], refusal: Refusal | None = None) -> list[str | None]:
    """Per segment: None (may be a digit) or the key of MESSAGES saying why it is not one.

    The rules come first, then the classifier (default: the shipped one).
    """
    refusal = refusal if refusal is not None else shipped()
    verdicts = [look.rule() for look in looks]
    if refusal is not None and looks:
        learned = refusal.verdicts(inputs_of(looks))
        verdicts = [rule or seen for rule, seen in zip(verdicts, learned, strict=True)]
    return verdicts


def segment_looks(ink: np.ndarray) -> tuple[list[Look], np.ndarray]:
    """A canvas drawing's ink (H, W) -> each segment's Look and the model inputs (K, 28, 28), as served
    (segment.Drawing).

    BlankDrawing (drawing.py) if nothing is drawn.
    """
    from digitrec.segment import Drawing

    drawing = Drawing.from_ink(ink)
    parts = zip(drawing.inks, drawing.strokes, drawing.redrawn, strict=True)
    return [look_at(*part) for part in parts], drawing.inputs


def looks_of(
    whole: np.ndarray, inks: list[np.ndarray], strokes: list[np.ndarray], redrawn: np.ndarray
) -> list[Look] | None:
    """The Looks of a split drawing's segments (segment.Drawing's inks, strokes, redrawn), or None
    for a low-resolution image (`whole`, drawing.is_low_resolution): its pen and size mean nothing here."""
    from digitrec.drawing import is_low_resolution

    if is_low_resolution(whole):
        return None
    return [look_at(ink, points, image) for ink, points, image in zip(inks, strokes, redrawn, strict=True)]


def refusals(looks: list[Look] | None, count: int, refusal: Refusal | None = None) -> list[str | None]:
    """Per segment (`count` of them): the sentence saying why it is not a digit, or None.

    looks: from looks_of (None: nothing is judged); refusal: the classifier (default: the shipped one).
    """
    if looks is None:
        return [None] * count
    keys = judge(looks, refusal)
    if len(keys) > 1 and all(key == "tap" for key in keys):
        keys = ["dots"] * len(keys)  # a row of taps
    return [None if key is None else MESSAGES[key] for key in keys]
