"""Drawings that are not digits, as the draw page sends them: a labelled, seeded set.

Families (`FAMILIES`): taps, rows of dots, straight lines, letters, symbols, simple
shapes and scribbles. Every drawing is a few strokes (polylines in a unit box)
placed on the 280x280 pad at a random size (30-95% of the pad for letters,
symbols, shapes and scribbles), position, rotation and aspect, wobbled like a
hand, drawn with one round pen (the page's 14 px, or 3-16% of the drawing's
height, at least 3 px), and sent through the page's 8-bit gray PNG. Straight
lines are at least 50 degrees away from vertical: a steeper stroke may be a slanted 1.
Letters and symbols that look like digits (O, I, l, S, Z, b, g, q, ...) are left out.
The same seed gives the same drawings; other seeds give other drawings.

`canvas_digits` draws digits the same way (canvas.random_style), for the not-a-digit
classifier to learn (train split) and to be scored on (test split).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from digitrec.canvas import CANVAS, ink_to_png, random_style, render_ink
from digitrec.drawing import decode_image

SUPERSAMPLE = 2  # draw at 2x and average down: anti-aliased edges like a browser's
PAGE_PEN = 14  # the draw page's pen, px
Strokes = list[np.ndarray]  # each (N, 2) points (x, y) in the unit box, y down


@dataclass(frozen=True)
class NonDigit:
    """kind: the family (FAMILIES); name: what exactly; pen: px; ink float32 (280, 280), as decoded."""

    kind: str
    name: str
    pen: float
    ink: np.ndarray


def nondigit_drawings(count: int = 700, seed: int = 0) -> list[NonDigit]:
    """`count` drawings, the families in turn (FAMILIES), deterministic in `seed`."""
    return list(each_nondigit(count, seed))


def each_nondigit(count: int, seed: int) -> Iterator[NonDigit]:
    """nondigit_drawings made one at a time (each ink is 300 KB)."""
    rng = np.random.default_rng([seed, 22])
    for i in range(count):
        yield _MAKERS[FAMILIES[i % len(FAMILIES)]](rng)


def canvas_digits(images: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """Digits (N, 28, 28), ink = 1.0 -> each drawn in a random canvas style, as decoded: (280, 280) inks."""
    return list(each_canvas_digit(images, seed))


def each_canvas_digit(images: np.ndarray, seed: int) -> Iterator[np.ndarray]:
    """canvas_digits drawn one at a time."""
    rng = np.random.default_rng([seed, 10])
    for image in images:
        yield as_sent(render_ink(image, **random_style(rng)))


def as_sent(ink: np.ndarray) -> np.ndarray:
    """Ink float (H, W) -> the ink the server decodes from the page's 8-bit gray PNG of it."""
    return decode_image(ink_to_png(ink))


# --- strokes in the unit box -----------------------------------------------------------------


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, stop: float, n: int = 24) -> np.ndarray:
    angles = np.linspace(np.radians(start), np.radians(stop), n)
    return np.column_stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)])


def _line(*points: tuple[float, float]) -> np.ndarray:
    return np.array(points, dtype=np.float64)


def _smooth(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting: a hand's smooth curve through a polyline."""
    for _ in range(rounds):
        q = 0.75 * points[:-1] + 0.25 * points[1:]
        r = 0.25 * points[:-1] + 0.75 * points[1:]
        points = np.vstack([points[:1], np.column_stack([q, r]).reshape(-1, 2), points[-1:]])
    return points


_LETTERS: dict[str, Callable[[], Strokes]] = {
    "A": lambda: [_line((0, 1), (0.5, 0), (1, 1)), _line((0.25, 0.55), (0.75, 0.55))],
    "C": lambda: [_arc(0.55, 0.5, 0.45, 0.5, 40, 320)],
    "E": lambda: [_line((1, 0), (0, 0), (0, 1), (1, 1)), _line((0, 0.5), (0.75, 0.5))],
    "F": lambda: [_line((1, 0), (0, 0), (0, 1)), _line((0, 0.5), (0.7, 0.5))],
    "H": lambda: [_line((0, 0), (0, 1)), _line((1, 0), (1, 1)), _line((0, 0.5), (1, 0.5))],
    "K": lambda: [_line((0, 0), (0, 1)), _line((0.9, 0), (0, 0.55), (1, 1))],
    "L": lambda: [_line((0, 0), (0, 1), (0.8, 1))],
    "M": lambda: [_line((0, 1), (0.05, 0), (0.5, 0.6), (0.95, 0), (1, 1))],
    "N": lambda: [_line((0, 1), (0, 0), (1, 1), (1, 0))],
    "P": lambda: [_line((0, 1), (0, 0)), np.vstack([_line((0, 0)), _arc(0.35, 0.27, 0.55, 0.27, -90, 90)])],
    "R": lambda: [
        _line((0, 1), (0, 0)),
        np.vstack([_line((0, 0)), _arc(0.35, 0.27, 0.55, 0.27, -90, 90), _line((0, 0.54), (1, 1))]),
    ],
    "T": lambda: [_line((0, 0), (1, 0)), _line((0.5, 0), (0.5, 1))],
    "U": lambda: [np.vstack([_line((0, 0)), _arc(0.5, 0.55, 0.5, 0.45, 180, 0), _line((1, 0))])],
    "V": lambda: [_line((0, 0), (0.5, 1), (1, 0))],
    "W": lambda: [_line((0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0))],
    "X": lambda: [_line((0, 0), (1, 1)), _line((1, 0), (0, 1))],
    "Y": lambda: [_line((0, 0), (0.5, 0.5), (1, 0)), _line((0.5, 0.5), (0.5, 1))],
    "e": lambda: [np.vstack([_line((0.05, 0.55), (0.95, 0.55)), _arc(0.5, 0.55, 0.45, 0.45, 0, 320)])],
    "h": lambda: [
        _line((0, 0), (0, 1)),
        np.vstack([_line((0, 0.6)), _arc(0.5, 0.75, 0.5, 0.3, 200, 360), _line((1, 1))]),
    ],
    "k": lambda: [_line((0, 0), (0, 1)), _line((0.8, 0.35), (0, 0.7), (0.9, 1))],
    "m": lambda: [
        _line((0, 0.35), (0, 1)),
        np.vstack([_arc(0.25, 0.55, 0.25, 0.2, 180, 360), _line((0.5, 1))]),
        np.vstack([_arc(0.75, 0.55, 0.25, 0.2, 180, 360), _line((1, 1))]),
    ],
    "n": lambda: [_line((0, 0.3), (0, 1)), np.vstack([_arc(0.5, 0.6, 0.5, 0.3, 180, 360), _line((1, 1))])],
    "w": lambda: [_line((0, 0.3), (0.25, 1), (0.5, 0.5), (0.75, 1), (1, 0.3))],
    "x": lambda: [_line((0.1, 0.3), (0.9, 1)), _line((0.9, 0.3), (0.1, 1))],
}


def _asterisk() -> Strokes:
    arms = [_line((0.5, 0), (0.5, 1)), _line((0.07, 0.25), (0.93, 0.75)), _line((0.93, 0.25), (0.07, 0.75))]
    return arms


_SYMBOLS: dict[str, Callable[[], Strokes]] = {
    "plus": lambda: [_line((0.5, 0), (0.5, 1)), _line((0, 0.5), (1, 0.5))],
    "times": lambda: [_line((0, 0), (1, 1)), _line((1, 0), (0, 1))],
    "equals": lambda: [_line((0, 0.3), (1, 0.3)), _line((0, 0.7), (1, 0.7))],
    "asterisk": _asterisk,
    "hash": lambda: [
        _line((0.35, 0), (0.25, 1)),
        _line((0.75, 0), (0.65, 1)),
        _line((0, 0.33), (1, 0.33)),
        _line((0, 0.67), (1, 0.67)),
    ],
    "less than": lambda: [_line((1, 0), (0, 0.5), (1, 1))],
    "greater than": lambda: [_line((0, 0), (1, 0.5), (0, 1))],
    "divided by": lambda: [
        _line((0, 0.5), (1, 0.5)),
        _line((0.5, 0.15), (0.5, 0.16)),
        _line((0.5, 0.85), (0.5, 0.86)),
    ],
    "not equal": lambda: [
        _line((0, 0.35), (1, 0.35)),
        _line((0, 0.65), (1, 0.65)),
        _line((0.7, 0), (0.3, 1)),
    ],
    "tilde": lambda: [
        np.column_stack([np.linspace(0, 1, 30), 0.5 - 0.25 * np.sin(np.linspace(0, 2 * np.pi, 30))])
    ],
}


def _star() -> Strokes:
    angles = np.radians(-90 + 144 * np.arange(6))
    return [np.column_stack([0.5 + 0.5 * np.cos(angles), 0.5 + 0.5 * np.sin(angles)])]


def _spiral() -> Strokes:
    t = np.linspace(0, 6 * np.pi, 150)
    r = 0.5 * t / t[-1]
    return [np.column_stack([0.5 + r * np.cos(t), 0.5 + r * np.sin(t)])]


def _heart() -> Strokes:
    t = np.linspace(0, 2 * np.pi, 80)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [np.column_stack([(x + 17) / 34, (y + 17) / 30])]


def _smiley(mood: str) -> Strokes:
    face = _arc(0.5, 0.5, 0.5, 0.5, 0, 360, 48)
    eyes = [_line((0.33, 0.37), (0.33, 0.38)), _line((0.67, 0.37), (0.67, 0.38))]
    mouth = {
        "happy": _arc(0.5, 0.55, 0.25, 0.2, 20, 160),
        "sad": _arc(0.5, 0.8, 0.22, 0.15, 200, 340),
        "flat": _line((0.3, 0.7), (0.7, 0.7)),
    }[mood]
    return [face, *eyes, mouth]


_SHAPES: dict[str, Callable[[], Strokes]] = {
    "triangle": lambda: [_line((0.5, 0), (1, 1), (0, 1), (0.5, 0))],
    "square": lambda: [_line((0, 0), (1, 0), (1, 1), (0, 1), (0, 0))],
    "rectangle": lambda: [_line((0, 0.25), (1, 0.25), (1, 0.75), (0, 0.75), (0, 0.25))],
    "diamond": lambda: [_line((0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5), (0.5, 0))],
    "star": _star,
    "spiral": _spiral,
    "heart": _heart,
    "arrow": lambda: [_line((0, 0.5), (1, 0.5)), _line((0.7, 0.25), (1, 0.5), (0.7, 0.75))],
    "grid": lambda: [
        _line((0.33, 0), (0.33, 1)),
        _line((0.67, 0), (0.67, 1)),
        _line((0, 0.33), (1, 0.33)),
        _line((0, 0.67), (1, 0.67)),
    ],
    "check mark": lambda: [_line((0, 0.6), (0.35, 1), (1, 0))],
    "crossed circle": lambda: [
        _arc(0.5, 0.5, 0.5, 0.5, 0, 360, 48),
        _line((0.15, 0.15), (0.85, 0.85)),
        _line((0.85, 0.15), (0.15, 0.85)),
    ],
    "house": lambda: [_line((0, 0.4), (0.5, 0), (1, 0.4), (1, 1), (0, 1), (0, 0.4), (1, 0.4))],
    "smiley happy": lambda: _smiley("happy"),
    "smiley sad": lambda: _smiley("sad"),
    "smiley flat": lambda: _smiley("flat"),
}


def _scribble_strokes(style: str, rng: np.random.Generator) -> Strokes:
    if style == "tangle":
        return [_smooth(rng.uniform(0, 1, (int(rng.integers(7, 16)), 2)))]
    if style == "zigzag":
        teeth = int(rng.integers(4, 9))
        xs = np.linspace(0, 1, teeth * 2 + 1)
        return [np.column_stack([xs, 0.5 + 0.25 * (-1) ** np.arange(len(xs))])]
    if style == "loops":
        t = np.linspace(0, 2 * np.pi * rng.integers(3, 6), 200)
        x = np.linspace(0.1, 0.9, len(t)) + 0.12 * np.cos(t)
        return [np.column_stack([x, 0.5 + 0.25 * np.sin(t)])]
    if style == "wave":
        turns = rng.uniform(1.5, 4)
        xs = np.linspace(0, 1, 80)
        return [np.column_stack([xs, 0.5 + 0.3 * np.sin(xs * turns * 2 * np.pi)])]
    if style == "filled":  # a patch coloured in, back and forth
        rows = int(rng.integers(6, 12))
        ys = np.linspace(0, 1, rows)
        return [np.column_stack([np.tile([0.0, 1.0], rows // 2 + 1)[:rows], ys])]
    lines = int(rng.integers(4, 8))  # hatch
    offsets = np.linspace(0, 1, lines)
    strokes = [_line((o, 0.0), (o + 0.3, 1.0)) for o in offsets * 0.7]
    strokes += [_line((0.0, o), (1.0, o + 0.1)) for o in offsets * 0.8]
    return strokes


SCRIBBLES = ("tangle", "zigzag", "loops", "wave", "filled", "hatch")


# --- the families -----------------------------------------------------------------------------


def _pen(rng: np.random.Generator, height: float) -> float:
    """The page's pen, or one 3-16% of the drawing's height (at least 3 px)."""
    if rng.random() < 0.4:
        return float(PAGE_PEN)
    return max(3.0, height * float(np.exp(rng.uniform(np.log(0.03), np.log(0.16)))))


def _tap(rng: np.random.Generator) -> NonDigit:
    """One tap (a dot, or a short smear shorter than the pen), anywhere, corners included."""
    pen = float(rng.uniform(6, 30)) if rng.random() < 0.6 else float(PAGE_PEN)
    centre = rng.uniform(pen, CANVAS - pen, 2)
    smear = rng.uniform(0, 0.8 * pen) * np.array([np.cos(a := rng.uniform(0, np.pi)), np.sin(a)])
    return NonDigit("tap", "tap", pen, _draw([np.vstack([centre, centre + smear])], pen))


def _dots(rng: np.random.Generator) -> NonDigit:
    """2-6 taps in a row (any slope within 30 degrees of level) or a small cluster."""
    pen = float(rng.uniform(6, 26)) if rng.random() < 0.6 else float(PAGE_PEN)
    count = int(rng.integers(2, 7))
    step = pen * rng.uniform(1.6, 6.0)
    if rng.random() < 0.75:
        name = "row of dots"
        angle = np.radians(rng.uniform(-30, 30))
        along = np.arange(count) * step
        points = np.column_stack([along * np.cos(angle), along * np.sin(angle)])
    else:
        name = "cluster of dots"
        points = rng.uniform(0, step * 1.5, (count, 2))
    points += rng.normal(0, pen * 0.2, points.shape)
    span = points.max(axis=0) - points.min(axis=0)
    low = pen - points.min(axis=0)
    high = CANVAS - pen - span - points.min(axis=0)
    points += rng.uniform(low, np.maximum(low, high))
    return NonDigit("dots", name, pen, _draw([np.vstack([p, p]) for p in points], pen))


def _straight(rng: np.random.Generator) -> NonDigit:
    """A straight line 20-270 px long, at least 50 degrees from vertical, slightly bowed."""
    length = float(np.exp(rng.uniform(np.log(20), np.log(270))))
    angle = np.radians(rng.uniform(-40, 40))
    pen = _pen(rng, max(length * 0.5, 40.0))
    direction = np.array([np.cos(angle), np.sin(angle)])
    half = direction * length / 2
    room = np.maximum(CANVAS / 2 - np.abs(half) - pen, 0)
    centre = CANVAS / 2 + rng.uniform(-room, room)
    t = np.linspace(-1, 1, 20)[:, None]
    bow = np.array([-direction[1], direction[0]]) * rng.normal(0, 0.02 * length) * (1 - t**2)
    points = centre + t * half + bow
    name = "short line" if length < 60 else "long line"
    return NonDigit("line", name, pen, _draw([np.clip(points, pen / 2, CANVAS - pen / 2)], pen))


def _glyph(kind: str, table: dict[str, Callable[[], Strokes]]) -> Callable[[np.random.Generator], NonDigit]:
    def make(rng: np.random.Generator) -> NonDigit:
        name = str(rng.choice(list(table)))
        return _placed(kind, name, table[name](), rng)

    return make


def _scribble(rng: np.random.Generator) -> NonDigit:
    style = str(rng.choice(SCRIBBLES))
    return _placed("scribble", style, _scribble_strokes(style, rng), rng)


def _placed(kind: str, name: str, strokes: Strokes, rng: np.random.Generator) -> NonDigit:
    """Unit-box strokes -> a drawing 30-95% of the pad high, anywhere on it, wobbled, one pen."""
    height = rng.uniform(0.30, 0.95) * CANVAS
    width = min(height * rng.uniform(0.6, 1.3), 0.95 * CANVAS)
    pen = _pen(rng, height)
    turn = np.radians(rng.uniform(-20, 20))
    rotate = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    extent = np.abs(rotate) @ np.array([width, height])
    room = np.maximum(CANVAS / 2 - extent / 2 - pen / 2, 0)
    centre = CANVAS / 2 + rng.uniform(-room, room)
    placed = []
    for stroke in strokes:
        dense = _densify(stroke, 40)
        wobble = np.cumsum(rng.normal(0, 0.004, dense.shape), axis=0)
        points = ((dense + wobble - 0.5) * (width, height)) @ rotate.T + centre
        placed.append(np.clip(points, pen / 2, CANVAS - pen / 2))
    return NonDigit(kind, name, pen, _draw(placed, pen))


def _densify(stroke: np.ndarray, per_unit: int) -> np.ndarray:
    """More points along each segment, so wobble bends lines like a hand does."""
    pieces = [stroke[:1]]
    for a, b in zip(stroke[:-1], stroke[1:], strict=True):
        steps = max(1, int(np.hypot(*(b - a)) * per_unit))
        pieces.append(a + (b - a) * np.linspace(0, 1, steps + 1)[1:, None])
    return np.vstack(pieces)


def _draw(strokes: Strokes, pen: float) -> np.ndarray:
    """Strokes in canvas px (x, y) -> the decoded ink float32 (CANVAS, CANVAS), round pen `pen` px wide."""
    width = pen * SUPERSAMPLE
    side = CANVAS * SUPERSAMPLE
    image = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [tuple(p) for p in stroke * SUPERSAMPLE]
        draw.line(points, fill=255, width=int(round(width)), joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    small = image.resize((CANVAS, CANVAS), Image.Resampling.BOX)
    return as_sent(np.asarray(small, dtype=np.float32) / 255.0)


_MAKERS: dict[str, Callable[[np.random.Generator], NonDigit]] = {
    "tap": _tap,
    "dots": _dots,
    "line": _straight,
    "letter": _glyph("letter", _LETTERS),
    "symbol": _glyph("symbol", _SYMBOLS),
    "shape": _glyph("shape", _SHAPES),
    "scribble": _scribble,
}
FAMILIES: tuple[str, ...] = tuple(_MAKERS)
