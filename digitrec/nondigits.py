"""Drawings that are not digits — scribbles, letters, smileys, shapes — as a browser canvas makes them.

Used to measure how often the answer rule says "Can't recognize this as a digit"
when it should. Every drawing is a few strokes (polylines in a unit box), jittered
(size, position, rotation, wobble, pen width) and drawn with a round pen on a
white 280x280 canvas. The same seed gives the same drawings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 280  # canvas side, px
SUPERSAMPLE = 2  # draw at 2x and average down: anti-aliased edges like a browser's
Strokes = list[np.ndarray]  # each (N, 2) points (x, y) in the unit box, y down


@dataclass(frozen=True)
class NonDigit:
    """kind: "scribble", "letter", "smiley" or "shape"; name: what exactly; ink float32 (280, 280)."""

    kind: str
    name: str
    ink: np.ndarray


def nondigit_drawings(count: int = 240, seed: int = 0) -> list[NonDigit]:
    """`count` drawings, the kinds in turn (scribble, letter, smiley, shape), deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    kinds = list(_MAKERS)
    drawings = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        name, strokes = _MAKERS[kind](rng)
        drawings.append(NonDigit(kind, name, _draw(_jitter(strokes, rng), rng)))
    return drawings


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


def _scribble(rng: np.random.Generator) -> tuple[str, Strokes]:
    style = rng.choice(["tangle", "zigzag", "loops", "hatch"])
    if style == "tangle":
        return "tangle", [_smooth(rng.uniform(0, 1, (int(rng.integers(7, 16)), 2)))]
    if style == "zigzag":
        teeth = int(rng.integers(4, 9))
        xs = np.linspace(0, 1, teeth * 2 + 1)
        return "zigzag", [np.column_stack([xs, 0.5 + 0.25 * (-1) ** np.arange(len(xs))])]
    if style == "loops":
        t = np.linspace(0, 2 * np.pi * rng.integers(3, 6), 200)
        x = np.linspace(0.1, 0.9, len(t)) + 0.12 * np.cos(t)
        return "loops", [np.column_stack([x, 0.5 + 0.25 * np.sin(t)])]
    lines = int(rng.integers(4, 8))
    offsets = np.linspace(0, 1, lines)
    strokes = [_line((o, 0.0), (o + 0.3, 1.0)) for o in offsets * 0.7]
    strokes += [_line((0.0, o), (1.0, o + 0.1)) for o in offsets * 0.8]
    return "hatch", strokes


_LETTERS: dict[str, Callable[[], Strokes]] = {
    "A": lambda: [_line((0, 1), (0.5, 0), (1, 1)), _line((0.25, 0.55), (0.75, 0.55))],
    "C": lambda: [_arc(0.55, 0.5, 0.45, 0.5, 40, 320)],
    "E": lambda: [_line((1, 0), (0, 0), (0, 1), (1, 1)), _line((0, 0.5), (0.75, 0.5))],
    "F": lambda: [_line((1, 0), (0, 0), (0, 1)), _line((0, 0.5), (0.7, 0.5))],
    "H": lambda: [_line((0, 0), (0, 1)), _line((1, 0), (1, 1)), _line((0, 0.5), (1, 0.5))],
    "K": lambda: [_line((0, 0), (0, 1)), _line((0.9, 0), (0, 0.55), (1, 1))],
    "M": lambda: [_line((0, 1), (0.05, 0), (0.5, 0.6), (0.95, 0), (1, 1))],
    "N": lambda: [_line((0, 1), (0, 0), (1, 1), (1, 0))],
    "P": lambda: [_line((0, 1), (0, 0)), np.vstack([_line((0, 0)), _arc(0.35, 0.27, 0.55, 0.27, -90, 90)])],
    "R": lambda: [
        _line((0, 1), (0, 0)),
        np.vstack([_line((0, 0)), _arc(0.35, 0.27, 0.55, 0.27, -90, 90), _line((0, 0.54), (1, 1))]),
    ],
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
    "m": lambda: [
        _line((0, 0.35), (0, 1)),
        np.vstack([_arc(0.25, 0.55, 0.25, 0.2, 180, 360), _line((0.5, 1))]),
        np.vstack([_arc(0.75, 0.55, 0.25, 0.2, 180, 360), _line((1, 1))]),
    ],
    "w": lambda: [_line((0, 0.3), (0.25, 1), (0.5, 0.5), (0.75, 1), (1, 0.3))],
    "x": lambda: [_line((0.1, 0.3), (0.9, 1)), _line((0.9, 0.3), (0.1, 1))],
}


def _letter(rng: np.random.Generator) -> tuple[str, Strokes]:
    name = str(rng.choice(list(_LETTERS)))
    return f"letter {name}", _LETTERS[name]()


def _smiley(rng: np.random.Generator) -> tuple[str, Strokes]:
    face = _arc(0.5, 0.5, 0.5, 0.5, 0, 360, 48)
    eye = 0.04 + 0.04 * rng.random()
    eyes = [_arc(0.33, 0.37, eye, eye, 0, 360, 12), _arc(0.67, 0.37, eye, eye, 0, 360, 12)]
    mood = rng.choice(["happy", "sad", "flat"])
    if mood == "happy":
        mouth = _arc(0.5, 0.55, 0.25, 0.2, 20, 160)
    elif mood == "sad":
        mouth = _arc(0.5, 0.8, 0.22, 0.15, 200, 340)
    else:
        mouth = _line((0.3, 0.7), (0.7, 0.7))
    return f"smiley {mood}", [face, *eyes, mouth]


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


_SHAPES: dict[str, Callable[[], Strokes]] = {
    "triangle": lambda: [_line((0.5, 0), (1, 1), (0, 1), (0.5, 0))],
    "square": lambda: [_line((0, 0), (1, 0), (1, 1), (0, 1), (0, 0))],
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
    "plus": lambda: [_line((0.5, 0), (0.5, 1)), _line((0, 0.5), (1, 0.5))],
    "crossed circle": lambda: [
        _arc(0.5, 0.5, 0.5, 0.5, 0, 360, 48),
        _line((0.15, 0.15), (0.85, 0.85)),
        _line((0.85, 0.15), (0.15, 0.85)),
    ],
    "house": lambda: [_line((0, 0.4), (0.5, 0), (1, 0.4), (1, 1), (0, 1), (0, 0.4), (1, 0.4))],
    "wave": lambda: [
        np.column_stack([np.linspace(0, 1, 60), 0.5 + 0.3 * np.sin(np.linspace(0, 4 * np.pi, 60))])
    ],
}


def _shape(rng: np.random.Generator) -> tuple[str, Strokes]:
    name = str(rng.choice(list(_SHAPES)))
    return name, _SHAPES[name]()


_MAKERS: dict[str, Callable[[np.random.Generator], tuple[str, Strokes]]] = {
    "scribble": _scribble,
    "letter": _letter,
    "smiley": _smiley,
    "shape": _shape,
}


def _jitter(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """Unit-box strokes -> canvas px: random size, aspect, rotation, position and hand wobble."""
    height = rng.uniform(0.35, 0.8) * CANVAS
    width = height * rng.uniform(0.6, 1.2)
    turn = np.radians(rng.uniform(-15, 15))
    rotate = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    centre = CANVAS / 2 + rng.uniform(-0.15, 0.15, 2) * CANVAS
    placed = []
    for stroke in strokes:
        dense = _densify(stroke, 40)
        wobble = np.cumsum(rng.normal(0, 0.004, dense.shape), axis=0)
        points = ((dense + wobble - 0.5) * (width, height)) @ rotate.T + centre
        placed.append(np.clip(points, 4, CANVAS - 4))
    return placed


def _densify(stroke: np.ndarray, per_unit: int) -> np.ndarray:
    """More points along each segment, so wobble bends lines like a hand does."""
    pieces = [stroke[:1]]
    for a, b in zip(stroke[:-1], stroke[1:], strict=True):
        steps = max(1, int(np.hypot(*(b - a)) * per_unit))
        pieces.append(a + (b - a) * np.linspace(0, 1, steps + 1)[1:, None])
    return np.vstack(pieces)


def _draw(strokes: Strokes, rng: np.random.Generator) -> np.ndarray:
    """Strokes in canvas px -> ink float32 (CANVAS, CANVAS) drawn with one random round pen."""
    pen = rng.uniform(6, 22) * SUPERSAMPLE
    side = CANVAS * SUPERSAMPLE
    image = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [tuple(p) for p in stroke * SUPERSAMPLE]
        draw.line(points, fill=255, width=int(round(pen)), joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    small = image.resize((CANVAS, CANVAS), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0
