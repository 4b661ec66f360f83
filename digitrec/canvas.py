"""Drawings as a browser canvas would make them: a digit traced with a round pen.

Used to measure how the models cope with canvas drawings (thin or thick pen,
small, large, off-centre, slanted, wobbly digits), to train the not-a-digit
classifier (nondigits.py, notdigit.py), and by tests and the benchmark. An
MNIST digit (28x28, ink = 1.0) is warped onto the canvas, reduced to its centre
line (going round the loops its writer's pen filled), and the centre line is
redrawn with a round-capped, anti-aliased pen of the requested width, black on
white, like `ctx.lineCap = "round"; ctx.stroke()`. The PNG is the one the draw
page would send for such a canvas (see `ink_to_png`).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.morphology import skeletonize

from digitrec.png import gray_png

CANVAS = 280  # default canvas side, px
PEN = 14  # default pen width, px
FILL = 200 / 280  # the digit's 20 px MNIST box at scale 1.0, as a fraction of the canvas side

# A loop its writer's pen filled: ink deeper than FILLED median stroke half-widths, in a part that
# somewhere reaches DEEP of them (a stroke's thick spot does not).
FILLED = 1.5
DEEP = 1.9
SLANT = 0.466  # tan(25 degrees): the steepest slant of the styles, dx per dy
# A digit's height on the canvas is about FILL x CANVAS x scale (an MNIST digit is ~20 px high).
# Named ways people draw: keyword arguments for render_digit / render_ink. Heights run from
# 30% (scale 0.42) to 95% (scale 1.33) of the pad, pens from 2% to 18% of the digit's height.
STYLES: dict[str, dict] = {
    "default": {},
    "thin": {"pen": 4},
    "thick": {"pen": 24},
    "very thick": {"scale": 0.65, "pen": 24},
    "tiny": {"scale": 0.42, "pen": 8},
    "small": {"scale": 0.42, "pen": 14},
    "large": {"scale": 1.3, "pen": 18},
    "shifted": {"scale": 0.6, "offset": (-60, 55)},
    "edge": {"scale": 0.5, "offset": (75, -80), "pen": 12},
    "slanted": {"shear": SLANT},
    "slanted left": {"shear": -SLANT},
    "narrow": {"squash": 0.7},
    "wide": {"squash": 1.3},
    "wobbly": {"wobble": 5.0},
}


def random_style(
    rng: np.random.Generator,
    size: int = CANVAS,
    pens: tuple[float, float] = (0.03, 0.16),
    widths: tuple[float, float] = (0.75, 1.25),
) -> dict:
    """Keyword arguments for render_ink: one random way of drawing a digit on a `size` pad.

    Height 30-95% of the pad, pen `pens` (default 3-16%) of the height (log-uniform, at
    least 3 px), slant within +-25 degrees, width `widths` (default 75-125%), anywhere on
    the pad that keeps the digit on it, and a hand's wobble of up to 4 px.
    """
    height = rng.uniform(0.30, 0.95) * size
    pen = max(3.0, height * float(np.exp(rng.uniform(np.log(pens[0]), np.log(pens[1])))))
    room = max(0.0, (size - height - pen) / 2)
    return {
        "pen": round(pen, 1),
        "scale": height / (size * FILL),
        "offset": (float(rng.uniform(-room, room)), float(rng.uniform(-room, room) * 0.8)),
        "shear": float(rng.uniform(-SLANT, SLANT)),
        "squash": float(rng.uniform(*widths)),
        "wobble": float(rng.uniform(0.0, 4.0)),
        "seed": int(rng.integers(2**31)),
        "size": size,
    }


def render_ink(
    image28: np.ndarray,
    *,
    pen: float = PEN,
    scale: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    shear: float = 0.0,
    squash: float = 1.0,
    wobble: float = 0.0,
    seed: int = 0,
    size: int = CANVAS,
) -> np.ndarray:
    """A 28x28 digit (ink = 1.0) -> the canvas's ink float32 (size, size), 0 = white, 1 = black.

    pen: stroke width in canvas px; scale: digit size relative to MNIST's 20 px box
    scaled to the canvas; offset: (dy, dx) of the digit's centre from the canvas
    centre in px; shear: slant (positive leans right, dx per dy); squash: width factor;
    wobble: the largest smooth random displacement of the strokes in px (a shaky hand),
    drawn from `seed`.
    """
    canvas = np.zeros((size, size), dtype=np.float32)
    _draw(
        canvas,
        image28,
        ((size - 1) / 2 + offset[0], (size - 1) / 2 + offset[1]),
        size * FILL / 20 * scale,
        pen,
        shear,
        squash,
        wobble,
        seed,
    )
    return canvas


def render_digit(image28: np.ndarray, *, transparent: bool = False, **style) -> bytes:
    """A 28x28 digit -> PNG bytes of a canvas drawing of it (see render_ink for `style`).

    transparent: leave the paper transparent (a canvas never filled white) instead of white.
    """
    return ink_to_png(render_ink(image28, **style), transparent=transparent)


def render_string(images: np.ndarray, *, transparent: bool = False, **style) -> bytes:
    """Several 28x28 digits (K, 28, 28) -> PNG bytes of one canvas with them left to right.

    `style` as for render_string_ink: the canvas is `size` high and each digit gets a cell
    `spacing` px wide (default 0.75 * size).
    """
    return ink_to_png(render_string_ink(images, **style), transparent=transparent)


def render_string_ink(
    images: np.ndarray,
    *,
    pen: float = PEN,
    scale: float = 0.8,
    shear: float = 0.0,
    squash: float = 1.0,
    size: int = CANVAS,
    spacing: float | None = None,
) -> np.ndarray:
    """Like render_string but returns the ink float32 (size, width)."""
    cell = spacing or 0.75 * size
    canvas = np.zeros((size, int(round(cell * len(images) + size * 0.25))), dtype=np.float32)
    for i, image in enumerate(images):
        centre = ((size - 1) / 2, size * 0.125 + cell * (i + 0.5))
        _draw(canvas, image, centre, size * FILL / 20 * scale, pen, shear, squash)
    return canvas


def ink_to_png(ink: np.ndarray, *, transparent: bool = False) -> bytes:
    """Ink float (H, W) in [0, 1] -> PNG bytes, black ink on white or transparent paper.

    As the draw page sends it: white paper as an 8-bit grayscale PNG (static/js/png.js);
    transparent paper as an RGBA PNG with the coverage as alpha, as an unfilled canvas's
    toDataURL() makes it.
    """
    coverage = np.clip(np.rint(ink * 255), 0, 255).astype(np.uint8)
    if not transparent:
        return gray_png(255 - coverage)
    rgba = np.zeros(ink.shape + (4,), dtype=np.uint8)
    rgba[..., 3] = coverage  # black pen, alpha = coverage
    out = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(out, format="PNG")
    return out.getvalue()


def _draw(
    canvas: np.ndarray,
    image28: np.ndarray,
    centre: tuple[float, float],
    px_per_unit: float,
    pen: float,
    shear: float,
    squash: float,
    wobble: float = 0.0,
    seed: int = 0,
) -> None:
    """Trace image28's centre line onto `canvas` in place (max with what is there)."""
    image = np.asarray(image28, dtype=np.float32)
    rows, cols = np.nonzero(image > 0.1)
    if rows.size == 0:
        return
    source_centre = np.array([(rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2])
    # (y, x) forward map: canvas = warp @ (digit - source_centre) + centre.
    warp = px_per_unit * np.array([[1.0, 0.0], [-shear, squash]])
    inverse = np.linalg.inv(warp)
    # Only the digit's box (plus the pen) on the canvas is computed.
    corners = np.array(
        [
            [rows.min() - 1, cols.min() - 1],
            [rows.min() - 1, cols.max() + 1],
            [rows.max() + 1, cols.min() - 1],
            [rows.max() + 1, cols.max() + 1],
        ]
    )
    placed = (corners - source_centre) @ warp.T + centre
    margin = pen / 2 + 2 + wobble
    top, left = np.floor(placed.min(axis=0) - margin).astype(int)
    bottom, right = np.ceil(placed.max(axis=0) + margin).astype(int)
    top, left = max(top, 0), max(left, 0)
    bottom, right = min(bottom, canvas.shape[0]), min(right, canvas.shape[1])
    if bottom <= top or right <= left:
        return
    origin = np.array([top, left], dtype=np.float64)
    warped = ndimage.affine_transform(
        image,
        inverse,
        offset=source_centre + inverse @ (origin - centre),
        output_shape=(bottom - top, right - left),
        order=1,
        cval=0.0,
    )
    if wobble > 0:
        warped = _wobbled(warped, wobble, np.random.default_rng(seed))
    if warped.max() <= 0.0:
        return
    strokes = warped >= 0.5
    if not strokes.any():
        # Too small to threshold: keep the single darkest point so something is drawn.
        strokes = warped >= warped.max() * 0.99
    skeleton = _hollowed_skeleton(strokes)
    distance = ndimage.distance_transform_edt(~skeleton)
    # Coverage of a round pen of width `pen`, with a one-pixel anti-aliased edge.
    coverage = np.clip(pen / 2 + 0.5 - distance, 0.0, 1.0).astype(np.float32)
    region = canvas[top:bottom, left:right]
    np.maximum(region, coverage, out=region)


def _hollowed_skeleton(strokes: np.ndarray) -> np.ndarray:
    """The centre line of thresholded strokes, going round each loop its writer's pen filled.

    Such a loop (see FILLED) is made paper first, so the centre line traces the loop as a
    pen on the pad would; otherwise its centre line is a line, and a filled 6 turns into a 1.
    """
    skeleton = skeletonize(strokes)
    depth = ndimage.distance_transform_edt(strokes)
    half = float(np.median(depth[skeleton]))
    parts, count = ndimage.label(depth > FILLED * half)
    if count == 0:
        return skeleton
    deepest = np.asarray(ndimage.maximum(depth, parts, np.arange(1, count + 1)))
    filled = np.isin(parts, 1 + np.flatnonzero(deepest > DEEP * half))
    return skeletonize(strokes & ~filled) if filled.any() else skeleton


def _wobbled(image: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """`image` displaced by a smooth random field of at most `amplitude` px (a 4x4 grid, interpolated)."""
    shape = image.shape
    fields = []
    for _ in range(2):
        grid = rng.uniform(-amplitude, amplitude, (4, 4))
        fields.append(
            ndimage.zoom(grid, (shape[0] / 4, shape[1] / 4), order=3, mode="nearest")[: shape[0], : shape[1]]
        )
    rows, cols = np.indices(shape, dtype=np.float64)
    return ndimage.map_coordinates(image, [rows + fields[0], cols + fields[1]], order=1, cval=0.0)
