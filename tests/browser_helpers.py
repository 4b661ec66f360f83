"""Real-browser helpers: launch Chromium with Playwright and draw digits on the pad.

Digits are drawn as strokes, the way a person draws them, with the mouse or with touch
(Chrome DevTools touch events, which the page receives as pointer events of type "touch").
Stroke shapes are polylines in a unit box; `place` maps them into a box in pad pixels
(the pad is 280x280 logical px, whatever its size on screen).
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PAD = 280  # the pad's logical side in px (static/js/canvas.js SIZE)
FULL = (50.0, 30.0, 180.0, 220.0)  # (x, y, width, height): one large digit in the middle

Point = tuple[float, float]


@dataclass(frozen=True)
class Screen:
    """A browser window: CSS pixels, and whether it is a touch phone."""

    name: str
    width: int
    height: int
    touch: bool


DESKTOP = Screen("desktop", 1280, 800, touch=False)
PHONE = Screen("phone", 390, 844, touch=True)


def watch_console(page: Page, problems: list[str]) -> None:
    """Append the page's console errors and warnings and its uncaught errors to `problems`."""

    def note(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"{message.type}: {message.text}")

    page.on("console", note)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))


def system_chromium() -> str | None:
    """The Chromium to drive: $DIGITREC_CHROMIUM, /usr/bin/chromium or `chromium` on PATH.

    None means Playwright's own Chromium (`playwright install chromium`; `make test` does that).
    """
    named = os.environ.get("DIGITREC_CHROMIUM")
    if named:
        return named
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def launch(playwright: Playwright) -> Browser:
    """Headless Chromium: the system's (see system_chromium), else Playwright's own download."""
    return playwright.chromium.launch(executable_path=system_chromium(), headless=True, args=CHROMIUM_ARGS)


def _arc(
    cx: float, cy: float, rx: float, ry: float, start: float, end: float, steps: int = 16
) -> list[Point]:
    """Points on an elliptical arc from `start` to `end` degrees (0 = right, 90 = down)."""
    angles = (math.radians(start + (end - start) * i / steps) for i in range(steps + 1))
    return [(cx + rx * math.cos(angle), cy + ry * math.sin(angle)) for angle in angles]


# Clear, MNIST-like digits as strokes in a unit box; each is read correctly by the shipped models.
DIGIT_STROKES: dict[str, list[list[Point]]] = {
    "0": [_arc(0.5, 0.5, 0.28, 0.42, -90, 270, steps=28)],
    "1": [[(0.42, 0.18), (0.55, 0.08), (0.55, 0.92)]],
    "2": [
        [
            (0.22, 0.3),
            (0.3, 0.15),
            (0.5, 0.08),
            (0.7, 0.15),
            (0.75, 0.32),
            (0.65, 0.5),
            (0.22, 0.9),
            (0.8, 0.9),
        ]
    ],
    "3": [[*_arc(0.5, 0.29, 0.23, 0.21, 210, 450), *_arc(0.5, 0.71, 0.26, 0.23, 270, 510)]],
    "4": [[(0.58, 0.08), (0.2, 0.62), (0.82, 0.62)], [(0.6, 0.3), (0.6, 0.94)]],
    "7": [[(0.2, 0.1), (0.8, 0.1), (0.42, 0.92)]],
}
# A tangle of loops and zigzags that is no digit.
SCRIBBLE: list[list[Point]] = [
    [
        (0.1, 0.5),
        (0.3, 0.1),
        (0.5, 0.9),
        (0.7, 0.1),
        (0.9, 0.9),
        (0.1, 0.75),
        (0.9, 0.25),
        (0.2, 0.2),
        (0.8, 0.8),
    ],
]


def place(strokes: list[list[Point]], box: tuple[float, float, float, float] = FULL) -> list[list[Point]]:
    """Unit-box strokes -> pad-pixel strokes inside box (x, y, width, height)."""
    x, y, width, height = box
    return [[(x + px * width, y + py * height) for px, py in stroke] for stroke in strokes]


def _to_screen(page: Page, strokes: list[list[Point]]) -> list[list[Point]]:
    canvas = page.get_by_test_id("canvas").bounding_box()
    assert canvas is not None, "the pad is not visible"
    sx, sy = canvas["width"] / PAD, canvas["height"] / PAD
    return [[(canvas["x"] + px * sx, canvas["y"] + py * sy) for px, py in stroke] for stroke in strokes]


def _densify(stroke: list[Point], step: float = 6.0) -> list[Point]:
    """Intermediate points every `step` screen px, so the page sees a stream of moves like a real hand."""
    points = [stroke[0]]
    for (x0, y0), (x1, y1) in zip(stroke, stroke[1:], strict=False):
        count = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
        points.extend((x0 + (x1 - x0) * i / count, y0 + (y1 - y0) * i / count) for i in range(1, count + 1))
    return points


def draw_with_mouse(page: Page, strokes: list[list[Point]]) -> None:
    """Draw pad-pixel strokes with the mouse, one press per stroke."""
    for stroke in _to_screen(page, strokes):
        points = _densify(stroke)
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point)
        page.mouse.up()


def draw_with_touch(page: Page, strokes: list[list[Point]]) -> None:
    """Draw pad-pixel strokes with one finger (real touch events via the DevTools protocol)."""
    session = page.context.new_cdp_session(page)
    try:
        for stroke in _to_screen(page, strokes):
            points = _densify(stroke)
            for kind, (x, y) in [("touchStart", points[0]), *(("touchMove", p) for p in points[1:])]:
                session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
            session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        session.detach()


def draw_digits(page: Page, text: str, *, touch: bool = False) -> None:
    """Draw `text` (digits from DIGIT_STROKES) side by side across the pad; one digit fills the middle."""
    if len(text) == 1:
        boxes = [FULL]
    else:
        width = (PAD - 20) / len(text)
        boxes = [(10 + i * width + width * 0.08, 60.0, width * 0.84, 160.0) for i in range(len(text))]
    strokes = [
        stroke for digit, box in zip(text, boxes, strict=True) for stroke in place(DIGIT_STROKES[digit], box)
    ]
    draw_strokes(page, strokes, touch=touch)


def draw_strokes(page: Page, strokes: list[list[Point]], *, touch: bool = False) -> None:
    """Draw pad-pixel strokes with a finger (`touch`) or the mouse."""
    (draw_with_touch if touch else draw_with_mouse)(page, strokes)
