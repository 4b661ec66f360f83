"""Splitting a drawing into its digits, left to right.

Strokes that touch form one connected component; a digit drawn in several
strokes (a 5 with a detached top bar, a 4 in two strokes, a 3 with a broken
hook) is several components, so components are merged back into digits:
pieces whose horizontal extents overlap strongly, or that sit one above the
other, are one digit; a bar or a fragment too small to be a digit joins the
nearest digit; specks join the nearest digit. Digits written side by side stay apart,
and a single stroke far wider than tall (digits written touching) is cut apart (a stroke
that is the whole drawing only when wider still), unless it is straight (a line is one
piece, for notdigit.py to refuse).

`Drawing` is a drawing split this way, with each digit's centre line and model input: how
predictions, corrections, evaluation and the not-a-digit classifier's training read a drawing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from digitrec.drawing import (
    EDGE,
    INK_THRESHOLD,
    MAX_UPLOAD_PIXELS,
    BlankDrawing,
    canvas_input,
    decode_image,
    is_low_resolution,
    pixel_image,
    render_strokes,
    stroke_points,
)

# Sizes are shares of the tallest piece's height (the drawing's digit height).
MIN_OVERLAP = 0.5  # x-overlap (share of the narrower piece) that makes two pieces one digit
STACKED = 0.25  # y-overlap (share of the lower piece) under which x-touching pieces are stacked
# Stacked pieces this far apart in x (share of the taller one's height) still touch: the two
# halves of a slanted 1 or 4 drawn with a gap sit one above the other, offset sideways.
SLANT_GAP = 0.3
GAP = 1.5  # pieces whose ink is closer than this many pens...
GAP_ASPECT = 0.7  # ...and whose joint box is at most this wide x its height are one digit with a gap
FLAT = 0.35  # a piece lower than this is never a digit alone (a 5's bar, a 7's crossbar)
SMALL = 0.5  # a piece whose longer side is below this joins a digit it nearly touches...
NEAR = 0.15  # ...closer than this
SPECK = 0.25  # a piece whose longer side is below this is a speck: it joins the nearest digit
MAX_PIECES = 64  # more pieces than this is not a row of digits: the whole drawing is one segment
MAX_MARKS = 1000  # more connected components than this (noise) is one segment, each unexamined
WIDE = 1.65  # one stroke wider than this x its height is several touching digits...
# ...or, when that stroke is the whole drawing, wider than this: a lone wide 0, 2 or 6 is far more
# common than two touching digits drawn alone
WIDE_ALONE = 1.9
DIGIT_WIDTH = 0.8  # ...each about this x the height wide, cut where the fewest ink pixels are
# ...its height, or this share of the drawing's digit height if that is more: a flat 0 or 2 in a
# row of taller digits is one digit, however wide it is against its own height
WIDE_REFERENCE = 0.8
PART = 0.5  # a cut part lower than this x the stroke's height: the stroke was one wide digit
STRAIGHT = 0.45  # a wide stroke whose pixels spread across its axis less than this many pens is a line
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Segment:
    """One digit of a drawing.

    box: (x0, y0, x1, y1) in image pixels, end-exclusive (width = x1 - x0).
    ink: float (y1 - y0, x1 - x0) crop of the drawing, 0 paper .. 1 ink, holding
    only this digit's strokes (other digits' strokes inside the box are blanked).
    """

    box: tuple[int, int, int, int]
    ink: np.ndarray


@dataclass
class _Piece:
    """A group of connected components: their labels and joint extent (end-exclusive)."""

    labels: list[int]
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def absorb(self, other: _Piece) -> None:
        self.labels.extend(other.labels)
        self.x0, self.y0 = min(self.x0, other.x0), min(self.y0, other.y0)
        self.x1, self.y1 = max(self.x1, other.x1), max(self.y1, other.y1)

    def same_digit(self, other: _Piece) -> bool:
        """Strong x-overlap, or one piece above the other, x-touching or nearly (a 5's detached bar)."""
        x_shared = min(self.x1, other.x1) - max(self.x0, other.x0)
        y_shared = min(self.y1, other.y1) - max(self.y0, other.y0)
        return x_shared >= MIN_OVERLAP * min(self.width, other.width) or (
            x_shared > -SLANT_GAP * max(self.height, other.height)
            and y_shared <= STACKED * min(self.height, other.height)
        )

    def gap_to(self, other: _Piece) -> float:
        """Distance between the two boxes in pixels (0 when they touch or overlap)."""
        dx = max(0, other.x0 - self.x1, self.x0 - other.x1)
        dy = max(0, other.y0 - self.y1, self.y0 - other.y1)
        return float(np.hypot(dx, dy))


def split_digits(ink: np.ndarray) -> list[Segment]:
    """Ink array (H, W), 0 paper .. 1 ink -> the digits as Segments, left to right.

    Returns an empty list when nothing reaches INK_THRESHOLD; one digit gives one segment.
    """
    mask = ink >= INK_THRESHOLD
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return []
    # Label only the inked rectangle: the canvas is mostly paper and labelling is the cost.
    top, left = int(rows[0]), int(cols[0])
    inked = (slice(top, int(rows[-1]) + 1), slice(left, int(cols[-1]) + 1))
    labels, count = ndimage.label(mask[inked], structure=_EIGHT_CONNECTED)
    if count > MAX_MARKS:  # bounds the work per drawing: no box or piece per mark
        everything = _Piece(list(range(1, count + 1)), 0, 0, labels.shape[1], labels.shape[0])
        return [_segment(ink[inked], labels, count, everything, (left, top))]
    # One component fills the inked rectangle: skip find_objects, the second-largest cost.
    whole = (slice(0, labels.shape[0]), slice(0, labels.shape[1]))
    boxes = ndimage.find_objects(labels) if count > 1 else [whole]
    pieces = [
        _Piece([index + 1], found[1].start, found[0].start, found[1].stop, found[0].stop)
        for index, found in enumerate(boxes)
    ]
    ordered = sorted(_group_digits(pieces, labels), key=lambda d: d.x0 + d.x1)
    return [_segment(ink[inked], labels, count, digit, (left, top)) for digit in ordered]


def _group_digits(pieces: list[_Piece], labels: np.ndarray) -> list[_Piece]:
    """Connected components (labelled in `labels`) -> one group per digit."""
    tallest = max(p.height for p in pieces)
    strokes = [p for p in pieces if max(p.width, p.height) >= SPECK * tallest]
    specks = [p for p in pieces if max(p.width, p.height) < SPECK * tallest]
    if len(strokes) > MAX_PIECES:
        return [_Piece(list(range(1, len(pieces) + 1)), *_joint_box(pieces))]
    merged = _merge(strokes)
    wide = WIDE_ALONE if len(merged) == 1 else WIDE
    groups = [part for group in merged for part in _split_touching(group, labels, tallest, wide)]
    digits, fragments = _split_fragments(groups, tallest)
    for fragment in fragments:
        min(digits, key=fragment.gap_to).absorb(fragment)
    if len(digits) > 1:
        digits = _close_gaps(digits, labels)
    _attach_specks(digits, specks)
    return digits


def _close_gaps(digits: list[_Piece], labels: np.ndarray) -> list[_Piece]:
    """Join two pieces whose ink is less than GAP pens apart and whose joint box is narrow (GAP_ASPECT):
    one stroke drawn with a gap (a 0 whose side was lifted), not two digits side by side."""
    pen = _pen_width(labels > 0)
    joined = True
    while joined and len(digits) > 1:
        joined = False
        for a, b in ((a, b) for i, a in enumerate(digits) for b in digits[i + 1 :]):
            if set(a.labels) & set(b.labels) or a.gap_to(b) >= GAP * pen:
                continue  # parts of one stroke cut apart on purpose, or far apart
            x0, y0, x1, y1 = _joint_box([a, b])
            if x1 - x0 <= GAP_ASPECT * (y1 - y0) and _ink_gap(labels[y0:y1, x0:x1], a, b) < GAP * pen:
                a.absorb(b)
                digits.remove(b)
                joined = True
                break
    return digits


def _ink_gap(labels: np.ndarray, a: _Piece, b: _Piece) -> float:
    """The shortest distance in px between the ink of `a` and of `b` (labels: their joint box)."""
    distance = ndimage.distance_transform_edt(~np.isin(labels, a.labels))
    return float(distance[np.isin(labels, b.labels)].min())


def _pen_width(mask: np.ndarray) -> float:
    """The pen's width in px from a stroke mask (H, W): twice its area over its outline's length."""
    area = int(np.count_nonzero(mask))
    outline = area - int(np.count_nonzero(ndimage.binary_erosion(mask, structure=_EIGHT_CONNECTED)))
    return 2.0 * area / max(outline, 1)


def _merge(pieces: list[_Piece]) -> list[_Piece]:
    """Merge pieces that are parts of one digit (`same_digit`), until no pair is."""
    groups = pieces
    changed = True
    while changed:
        changed = False
        merged: list[_Piece] = []
        for piece in sorted(groups, key=lambda p: p.x0):
            partner = next((g for g in merged if g.same_digit(piece)), None)
            if partner is None:
                merged.append(piece)
            else:
                partner.absorb(piece)
                changed = True
        groups = merged
    return groups


def _split_touching(group: _Piece, labels: np.ndarray, tallest: int, wide: float = WIDE) -> list[_Piece]:
    """A single stroke much wider than tall (more than `wide` x: digits written touching) -> one
    piece per digit.

    "Tall" is the stroke's height, or WIDE_REFERENCE x `tallest` (the drawing's digit height)
    if that is more. The stroke is cut into pieces about DIGIT_WIDTH x that height wide, each
    cut at the column with the fewest ink pixels near the expected boundary.
    """
    height = max(group.height, WIDE_REFERENCE * tallest)
    if len(group.labels) != 1 or group.width <= wide * height:
        return [group]
    ink = labels[group.y0 : group.y1, group.x0 : group.x1] == group.labels[0]
    if _is_straight(ink):  # a line, however long: one piece (notdigit.py refuses it)
        return [group]
    columns = ink.sum(axis=0)
    count = min(max(2, round(group.width / (DIGIT_WIDTH * height))), group.width // 2)
    cell = group.width / count
    cuts = [0]
    for boundary in range(1, count):
        low = max(cuts[-1] + 1, round((boundary - 0.25) * cell))
        high = max(low + 1, round((boundary + 0.25) * cell))
        cuts.append(low + int(np.argmin(columns[low:high])))
    cuts.append(group.width)
    parts = []
    for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
        rows = np.flatnonzero(ink[:, start:stop].any(axis=1))
        if rows.size:
            x0, y0 = group.x0 + start, group.y0 + int(rows[0])
            parts.append(_Piece(list(group.labels), x0, y0, group.x0 + stop, group.y0 + int(rows[-1]) + 1))
    if min(part.height for part in parts) < PART * group.height:
        return [group]  # a low part is a tail or a flat loop of one wide digit, not a digit of its own
    return parts


def _is_straight(ink: np.ndarray) -> bool:
    """Whether one stroke's pixels (bool (H, W)) lie along a straight line: their spread across
    their main axis is under STRAIGHT pens (the pen: twice the median depth of the stroke's ridge)."""
    depth = ndimage.distance_transform_edt(np.pad(ink, 1))
    ridge = depth[(depth > 0) & (depth >= ndimage.maximum_filter(depth, size=3))]
    ys, xs = np.nonzero(ink)
    if ridge.size == 0 or ys.size < 3:
        return True
    spread = np.sqrt(max(float(np.linalg.eigvalsh(np.cov(np.stack([ys, xs]).astype(np.float64)))[0]), 0.0))
    return spread < STRAIGHT * 2.0 * float(np.median(ridge))


def _split_fragments(groups: list[_Piece], tallest: int) -> tuple[list[_Piece], list[_Piece]]:
    """(digits, fragments): flat pieces, and small ones nearly touching a digit, are fragments."""
    flat = [g.height < FLAT * tallest for g in groups]
    if all(flat):  # cut parts of one long low stroke: the tallest part stands for the digit
        flat[max(range(len(groups)), key=lambda i: groups[i].height)] = False
    digits = [g for g, is_flat in zip(groups, flat, strict=True) if not is_flat]
    fragments = [g for g, is_flat in zip(groups, flat, strict=True) if is_flat]
    for small in [d for d in digits if max(d.width, d.height) < SMALL * tallest]:
        others = [d for d in digits if d is not small]
        if others and min(small.gap_to(d) for d in others) < NEAR * tallest:
            digits.remove(small)
            fragments.append(small)
    return digits, fragments


def _attach_specks(digits: list[_Piece], specks: list[_Piece]) -> None:
    """Join every speck to the digit whose box is nearest to it (vectorised: specks can be many)."""
    if not specks:
        return
    boxes = np.array([(d.x0, d.y0, d.x1, d.y1) for d in digits], dtype=np.float64)
    dots = np.array([(s.x0, s.y0, s.x1, s.y1) for s in specks], dtype=np.float64)
    dx = np.maximum(0, np.maximum(boxes[None, :, 0] - dots[:, None, 2], dots[:, None, 0] - boxes[None, :, 2]))
    dy = np.maximum(0, np.maximum(boxes[None, :, 1] - dots[:, None, 3], dots[:, None, 1] - boxes[None, :, 3]))
    for speck, nearest in zip(specks, np.argmin(np.hypot(dx, dy), axis=1), strict=True):
        digits[nearest].absorb(speck)


def _joint_box(pieces: list[_Piece]) -> tuple[int, int, int, int]:
    return (
        min(p.x0 for p in pieces),
        min(p.y0 for p in pieces),
        max(p.x1 for p in pieces),
        max(p.y1 for p in pieces),
    )


def _segment(
    ink: np.ndarray, labels: np.ndarray, count: int, digit: _Piece, origin: tuple[int, int]
) -> Segment:
    """Crop the digit's box, blanking strokes of other digits that reach into it.

    ink and labels cover the inked rectangle whose top-left corner is origin (x, y) in the image;
    `count` components are labelled in it.
    """
    window = (slice(digit.y0, digit.y1), slice(digit.x0, digit.x1))
    # Faint anti-aliased pixels (label 0) stay: they belong to whichever strokes they edge.
    keep = np.zeros(count + 1, dtype=bool)
    keep[0] = True
    keep[digit.labels] = True
    crop = ink[window] if keep.all() else np.where(keep[labels[window]], ink[window], 0.0).astype(ink.dtype)
    x, y = origin
    return Segment(box=(digit.x0 + x, digit.y0 + y, digit.x1 + x, digit.y1 + y), ink=crop)


# --- a drawing as the models read it ---------------------------------------------------------


@dataclass(frozen=True)
class Drawing:
    """A decoded drawing split into digits: boxes (x0, y0, x1, y1), centre lines, model inputs.

    `redrawn` holds each digit's centre line redrawn, which the shape check judges; a canvas
    digit's input is that too unless its pen is thick for its size (drawing.canvas_input), a
    low-resolution image's inputs are its pixels (see drawing.py).
    """

    ink: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    inks: list[np.ndarray]
    strokes: list[np.ndarray]
    inputs: np.ndarray  # float32 (K, 28, 28)
    redrawn: np.ndarray  # float32 (K, 28, 28)

    @classmethod
    def from_bytes(cls, image: bytes) -> Drawing:
        """Decode and split; DrawingError if unreadable, BlankDrawing if nothing is drawn."""
        return cls.from_ink(decode_image(image, MAX_UPLOAD_PIXELS))

    @classmethod
    def from_ink(cls, ink: np.ndarray) -> Drawing:
        """Split a decoded ink array (H, W); BlankDrawing if nothing is drawn."""
        segments = split_digits(ink)
        if not segments:
            raise BlankDrawing("Nothing is drawn.")
        boxes = [tuple(int(v) for v in segment.box) for segment in segments]
        return cls._of(ink, boxes, [segment.ink for segment in segments])

    @classmethod
    def _of(cls, ink: np.ndarray, boxes: list, inks: list[np.ndarray]) -> Drawing:
        strokes = [stroke_points(digit_ink) for digit_ink in inks]
        redrawn = np.stack([render_strokes(points)[0] for points in strokes])
        if is_low_resolution(ink):  # each digit cut from the image with its strokes' faint edges
            inputs = np.stack([pixel_image(_around(ink, box)) for box in boxes])
        else:
            inputs = np.stack([canvas_input(*each) for each in zip(inks, strokes, redrawn, strict=True)])
        return cls(ink, boxes, inks, strokes, inputs, redrawn)

    def as_one_digit(self) -> Drawing:
        """The whole drawing as a single digit (when the user says it is one)."""
        if len(self.boxes) == 1:
            return self
        rows, cols = np.nonzero(self.ink >= INK_THRESHOLD)
        box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
        return Drawing._of(self.ink, [box], [self.ink])


def _around(ink: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The part of `ink` in `box` (x0, y0, x1, y1) and EDGE px around it."""
    x0, y0, x1, y1 = box
    return ink[max(y0 - EDGE, 0) : y1 + EDGE, max(x0 - EDGE, 0) : x1 + EDGE]
