"""From a drawing (PNG/JPEG bytes, a data URL, or an ink array) to the 28x28 input the models see.

Two renderings, chosen by the image's resolution:

- A canvas drawing (either side WORK_SIDE px or more) is *redrawn*, so that it looks like an
  MNIST digit whatever pen and size the user drew with: crop to the ink, reduce the
  strokes to their centre line (skeleton), undo the slant, scale so the digit fills a
  20x20 box, redraw every stroke with one fixed pen, and put the centre of mass in the
  middle of 28x28.
- A low-resolution image (both sides under WORK_SIDE px: a 28x28 MNIST digit, a small
  scan) keeps its own *pixels*, MNIST's recipe plus deskewing: undo the slant, crop,
  scale the longer side to 20 px with anti-aliasing, centre of mass in the middle. At
  that scale a centre line is found poorly (a thick digit's filled-in loop is lost), and
  the pixels hold the stroke's true shape. A canvas digit drawn with a pen thick for its
  size (fewer than THICK pens long: the pen fills its small loops) keeps its pixels too.

Training shows the models both renderings of every digit, so either serves.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
from typing import NamedTuple

import numpy as np
import pyspng
from PIL import Image, UnidentifiedImageError
from scipy import ndimage
from skimage.morphology import skeletonize

SIZE = 28  # model input side, px
BOX = 20  # the digit's longer side inside the 28x28 frame, px (MNIST)
PEN = 2.5  # stroke width of the redrawn digit, px at 28x28 (MNIST's typical)
SUPERSAMPLE = 4  # render at 4x and average down: anti-aliased edges
WORK_SIDE = 64  # the crop is resized to this longer side before skeletonising
INK_THRESHOLD = 0.3  # ink level (0 white .. 1 black) that counts as a stroke
STROKE_LEVEL = 0.3  # after resizing, a stroke is ink >= STROKE_LEVEL x the darkest pixel
# Crops smaller than WORK_SIDE (a 28x28 MNIST digit's ~20 px crop, a tiny drawing) are enlarged
# bilinearly, which blurs their anti-aliased edges into a halo: a finer grid and a higher level keep
# the strokes thin and small loops open.
SMALL_WORK_SIDE = 128
SMALL_STROKE_LEVEL = 0.5
MAX_SHEAR = 1.0  # limit of the deskew correction (dx per dy)
THICK = 6.0  # a canvas digit fewer pens long than this keeps its pixels: such a pen fills its small loops
EDGE = 2  # px around the ink box that the pixel rendering keeps (the strokes' faint anti-aliased edges)
MAX_PIXELS = 40_000_000  # larger images are refused (decompression bombs)
# Uploads to the web app: 5x a retina canvas; a 5000x5000 image would cost a worker ~275 MB.
MAX_UPLOAD_PIXELS = 2048 * 2048
MAX_ASPECT = 100  # a longer side more than this x the shorter holds no digits (a 1 x 4,194,304 strip)
# Larger drawings are shrunk (block means) to at most this side before anything else looks at
# them, so that splitting one into digits costs the same whatever its size.
WORKING_MAX_SIDE = 1024
# A larger ink crop is shrunk the same way before its pixel rendering, which ends 20 px long: turning
# a crop costs time and memory in proportion to its area, and a finer one reads no better.
PIXEL_MAX_SIDE = 96
_BAND_ROWS = 256  # RGBA rows converted to ink at once: the float copy of a band stays small

_HI = SIZE * SUPERSAMPLE
_PEN_RADIUS = PEN * SUPERSAMPLE / 2
# Pixel offsets the pen covers around a centre-line pixel, at 4x resolution: (y, x) and flat.
_PEN_OFFSETS = (np.argwhere(np.hypot(*np.mgrid[-8:9, -8:9]) <= _PEN_RADIUS - 0.5) - 8).astype(np.int32)
_PEN_FLAT = _PEN_OFFSETS[:, 0] * _HI + _PEN_OFFSETS[:, 1]
_PEN_REACH = int(np.abs(_PEN_OFFSETS).max())
# (112, 28): canvas rows (or columns) -> the 4 x 4 supersampled block they fall in; P.T @ C @ P sums blocks.
_BLOCKS = np.kron(np.eye(SIZE, dtype=np.float32), np.ones((SUPERSAMPLE, 1), np.float32))
_LUMA = np.array([19595, 38470, 7471, 0], dtype=np.float32)  # Pillow's L = R G B weights / 65536
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DATA_URL = re.compile(r"^data:image/[a-zA-Z+.-]+;base64,", re.ASCII)

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class DrawingError(ValueError):
    """The input is not a usable image (the message is safe to show to the user)."""


class BlankDrawing(DrawingError):
    """The image decodes but holds no ink."""


def decode_base64_image(text: str) -> bytes:
    """A data URL or bare base64 string -> the image bytes."""
    if not isinstance(text, str) or not text:
        raise DrawingError("The image must be a non-empty base64 string or data URL.")
    payload = _DATA_URL.sub("", text.strip(), count=1)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise DrawingError("The image is not valid base64.") from None


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """PNG or JPEG bytes -> ink array float32 (H, W), 0 = white paper, 1 = black ink.

    Colour is reduced to luminance; transparent pixels count as white paper. Images of
    more than `max_pixels`, or longer than MAX_ASPECT x their width (or height), are refused
    before their pixels are decoded; sides over WORKING_MAX_SIDE are shrunk (working_size).
    """
    return working_size(_decode_ink(data, max_pixels))


def _decode_ink(data: bytes, max_pixels: int) -> np.ndarray:
    png = _png_header(data)
    if png is not None and not png.transparency:
        _check_shape(png.width, png.height, max_pixels)
        try:
            # libspng decodes canvas PNGs several times faster than Pillow (docs/performance.md);
            # it does not apply a tRNS chunk, so such PNGs stay with Pillow.
            if png.gray8:
                return _ink_from_gray(pyspng.load(data, "L"))
            return _ink_from_rgba(pyspng.load(data, "RGBA"))
        except (RuntimeError, ValueError):
            pass  # let Pillow judge what libspng refuses (it also names the error)
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
        if image.format not in ("PNG", "JPEG"):
            raise DrawingError("Only PNG and JPEG images are accepted.")
        _check_shape(image.width, image.height, max_pixels)
        image.load()
    except DrawingError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise DrawingError("The file is not a readable PNG or JPEG image.") from None
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return _ink_from_rgba(np.asarray(image.convert("RGBA")))
    return _ink_from_gray(np.asarray(image.convert("L")))


def _check_shape(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise DrawingError("The image has too many pixels.")
    if max(width, height) > MAX_ASPECT * max(min(width, height), 1):
        raise DrawingError(
            "The image is too long and thin to hold digits "
            f"(one side may be at most {MAX_ASPECT} times the other)."
        )


def working_size(ink: np.ndarray, max_side: int = WORKING_MAX_SIDE) -> np.ndarray:
    """Ink (H, W) -> itself, or if a side is over `max_side`, shrunk by the smallest whole
    factor that brings both within it (each pixel the mean of a factor x factor block)."""
    factor = -(-max(ink.shape) // max_side)
    if factor <= 1:
        return ink
    # Summing the factor x factor strided views is faster than a mean over a 4-D reshape, and
    # needs no padded copy: the blocks past the edges sum fewer pixels (paper beyond them).
    total = np.zeros(tuple(-(-side // factor) for side in ink.shape), np.float32)
    for row in range(factor):
        for col in range(factor):
            view = ink[row::factor, col::factor]
            total[: view.shape[0], : view.shape[1]] += view
    total *= np.float32(1.0 / (factor * factor))
    return total


class _PNGHeader(NamedTuple):
    width: int
    height: int
    gray8: bool  # 8-bit grayscale pixels (colour type 0)
    transparency: bool  # a tRNS chunk: a colour or palette entries that are transparent


def _png_header(data: bytes) -> _PNGHeader | None:
    """A PNG's size and whether it has a tRNS chunk, from the chunks before its pixel data.

    None if `data` does not start like a PNG. Cheaper than Pillow's Image.open, which reads the
    same chunks with far more Python around them.
    """
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 26:
        return None
    width, height, depth, colour = struct.unpack_from(">IIBB", data, 16)
    gray8 = depth == 8 and colour == 0
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        if kind in (b"IDAT", b"tRNS"):
            return _PNGHeader(width, height, gray8, kind == b"tRNS")  # tRNS must come before IDAT
        position += 12 + length  # length, type, data, CRC
    return None


def _ink_from_rgba(rgba: np.ndarray) -> np.ndarray:
    """Pixels uint8 (H, W, 4) -> ink float32 (H, W): opacity x darkness, on white paper.

    Luminance is Pillow's (ITU-R 601-2 in 16-bit fixed point), exact in float32: every
    sum stays below 2**24. Only the box around the pixels that are neither transparent
    nor white is computed, in bands of rows: the rest is paper.
    """
    packed = np.ascontiguousarray(rgba).view(np.uint32)[..., 0]  # one word per pixel: A B G R
    # alpha > 0 and not opaque white: packed in [0x01000000, 0xFFFFFFFE], one unsigned compare
    inked = (packed - np.uint32(0x01000000)) < np.uint32(0xFEFFFFFF)
    ink = np.zeros(packed.shape, dtype=np.float32)
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if rows.size == 0:
        return ink
    for top in range(rows[0], rows[-1] + 1, _BAND_ROWS):
        band = np.s_[top : min(top + _BAND_ROWS, rows[-1] + 1), cols[0] : cols[-1] + 1]
        pixels = rgba[band].astype(np.float32)
        luminance = np.floor((pixels @ _LUMA + 0x8000) * np.float32(1.0 / 0x10000))
        ink[band] = pixels[..., 3] * (255.0 - luminance) * np.float32(1.0 / (255.0 * 255.0))
    return ink


def _ink_from_gray(gray: np.ndarray) -> np.ndarray:
    """Pixels uint8 (H, W), 255 = white paper -> ink float32 (H, W): (255 - gray) / 255.

    The same bits as _ink_from_rgba gives an opaque (g, g, g) pixel: (255 - g) x 255, exact,
    times 1 / 255**2, so a drawing's ink does not depend on how its PNG stores the gray.
    """
    ink = np.subtract(np.float32(255.0), gray, dtype=np.float32)
    ink *= np.float32(255.0)
    ink *= np.float32(1.0 / (255.0 * 255.0))
    return ink


def preprocess_ink(ink: np.ndarray, low_resolution: bool | None = None) -> np.ndarray:
    """Ink array (H, W) in [0, 1] -> model input float32 (28, 28), ink = 1.0.

    `low_resolution`: whether the image the ink comes from is low-resolution (see the
    module docstring; by default judged from `ink`'s own shape; pass the whole image's
    verdict for a crop of it). Raises BlankDrawing when no pixel reaches INK_THRESHOLD.
    """
    if is_low_resolution(ink) if low_resolution is None else low_resolution:
        return pixel_image(ink)
    points = stroke_points(ink)
    return canvas_input(ink, points, render_strokes(points)[0])


def canvas_input(ink: np.ndarray, points: np.ndarray, redrawn: np.ndarray) -> np.ndarray:
    """A canvas digit's model input (28, 28): its redrawn rendering (`redrawn`, of its centre line
    `points`), or its pixel rendering when the pen is thick for its size (a filled loop has no
    centre line to redraw, its pixels keep it)."""
    return pixel_image(ink) if pens_long(ink, points) < THICK else redrawn


def pens_long(ink: np.ndarray, points: np.ndarray) -> float:
    """A canvas digit's ink (H, W) and its centre line (stroke_points) -> its longer side in pen
    widths, the pen being the ink's area over the centre line's length."""
    rows, cols = _ink_extent(ink)
    longer = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    return longer / max(centre_line_pen(float(ink.sum()), points, longer), 1.0)


def centre_line_pen(area: float, points: np.ndarray, longer: int) -> float:
    """The pen width in px of ink of `area` whose centre line is `points` (stroke_points of a crop
    `longer` px on its longer side): the area over the line's length, at most a disc's diameter."""
    work = WORK_SIDE if longer >= WORK_SIDE else SMALL_WORK_SIDE  # stroke_points' units per crop
    return min(area / (max(len(points), 1) * longer / work), 2.0 * np.sqrt(area / np.pi))


def redrawn(ink: np.ndarray) -> np.ndarray:
    """Ink array (H, W) -> the redrawn rendering float32 (28, 28) of its centre line, at any resolution."""
    return render_strokes(stroke_points(ink))[0]


def is_low_resolution(ink: np.ndarray) -> bool:
    """Whether an image (H, W) gets the pixel rendering: both sides under WORK_SIDE px."""
    return max(ink.shape) < WORK_SIDE


def preprocess_drawing(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> model input float32 (28, 28)."""
    return preprocess_ink(decode_image(data))


def stroke_points(ink: np.ndarray) -> np.ndarray:
    """Ink array (H, W) -> the strokes' centre line, deskewed: float32 (N, 2) as (y, x).

    Units are arbitrary (the crop scaled to WORK_SIDE or SMALL_WORK_SIDE); render_strokes fits them.
    """
    return _deskew(_skeleton_points(ink))


def render_strokes(points: np.ndarray, transforms: np.ndarray | None = None) -> np.ndarray:
    """Centre line (N, 2) -> images float32 (B, 28, 28), one per 2x2 transform (B, 2, 2).

    Each transformed copy is scaled so its longer side fills BOX, redrawn with the
    fixed pen, and placed with its centre of mass at the centre (MNIST's recipe).
    """
    centred = points - points.mean(axis=0)
    # No transforms: one upright copy (the same numbers as an identity transform would give).
    moved = centred[None] if transforms is None else np.einsum("bij,nj->bni", transforms, centred)
    extent = (moved.max(axis=1) - moved.min(axis=1)).max(axis=1)  # (B,)
    inner = (BOX - PEN) * SUPERSAMPLE
    scale = np.where(extent > 0, inner / np.maximum(extent, 1e-6), 1.0)
    moved *= scale[:, None, None]
    moved += _HI / 2 - moved.mean(axis=1, keepdims=True)
    centres = np.rint(moved).astype(np.int32)
    first = (np.arange(len(moved), dtype=np.int32) * (_HI * _HI))[:, None]  # each image's offset
    if centres.min() >= _PEN_REACH and centres.max() < _HI - _PEN_REACH:  # the pen stays on the canvas
        flat = (centres[..., 0] * _HI + centres[..., 1] + first)[:, :, None] + _PEN_FLAT
    else:  # clip the pen's pixels at the edges, coordinate by coordinate
        covered = centres[:, :, None, :] + _PEN_OFFSETS  # (B, N, pen pixels, 2)
        np.clip(covered, 0, _HI - 1, out=covered)
        flat = covered[..., 0] * _HI + covered[..., 1] + first[:, :, None]
    canvas = np.zeros((len(moved), _HI, _HI), dtype=np.float32)
    canvas.reshape(-1)[flat.ravel()] = 1.0
    # Covered pixels per 4 x 4 block (exact small integers), as two small matrix products.
    return (_BLOCKS.T @ canvas @ _BLOCKS) * np.float32(1.0 / SUPERSAMPLE**2)


def _skeleton_points(ink: np.ndarray) -> np.ndarray:
    """Centre-line pixels of the strokes, float (N, 2) as (y, x), in WORK_SIDE (or SMALL_WORK_SIDE) units."""
    rows, cols = _ink_extent(ink)
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    longer = max(height, width)
    # Only enlarged crops get the small-crop settings: a canvas drawing larger than WORK_SIDE
    # is shrunk and thresholded exactly as before.
    side, level = (WORK_SIDE, STROKE_LEVEL) if longer >= WORK_SIDE else (SMALL_WORK_SIDE, SMALL_STROKE_LEVEL)
    scale = side / longer
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Area averaging to shrink (keeps thin strokes), bilinear to enlarge (smooth, not blocky).
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    image = Image.frombytes("F", (width, height), np.ascontiguousarray(crop, dtype=np.float32))
    resized = np.frombuffer(image.resize(size, resample).tobytes(), np.float32).reshape(size[::-1])
    # Thin pens on big images fade when shrunk: judge ink relative to the darkest stroke.
    strokes = np.zeros((size[1] + 2, size[0] + 2), dtype=bool)  # a blank border for the thinning
    strokes[1:-1, 1:-1] = resized >= level * max(float(resized.max()), 1e-6)
    skeleton = skeletonize(strokes)
    flat = np.flatnonzero(skeleton)
    points = np.empty((flat.size, 2), np.float32)
    points[:, 0], points[:, 1] = np.divmod(flat, skeleton.shape[1])
    return points


def pixel_image(ink: np.ndarray, transform: np.ndarray | None = None) -> np.ndarray:
    """Ink array (H, W) -> the pixel rendering float32 (28, 28): deskewed, longer side 20 px, centred.

    `transform` (2x2, acting on (y, x) about the centre of mass after deskewing) distorts
    the digit for training. Raises BlankDrawing when no pixel reaches INK_THRESHOLD.
    """
    if max(ink.shape) > PIXEL_MAX_SIDE:
        ink = _visible(working_size(ink, PIXEL_MAX_SIDE))
    rows, cols = _ink_extent(ink)
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    # The crop keeps the strokes' faint edges; the margin leaves room to turn the digit.
    margin = max(height, width) // 2 + EDGE
    crop = ink[max(rows[0] - EDGE, 0) : rows[-1] + 1 + EDGE, max(cols[0] - EDGE, 0) : cols[-1] + 1 + EDGE]
    padded = np.pad(np.asarray(crop, np.float32), margin)
    total = float(padded.sum())
    yy, xx = np.ogrid[: padded.shape[0], : padded.shape[1]]  # broadcast: no full-size coordinate arrays
    yy, xx = yy.astype(np.float32), xx.astype(np.float32)
    centre = np.array([(padded * yy).sum() / total, (padded * xx).sum() / total])
    dy, dx = yy - centre[0], xx - centre[1]
    var_y = float((padded * dy * dy).sum() / total)
    shear = 0.0 if var_y < 1e-6 else float((padded * dx * dy).sum() / total / var_y)
    shear = float(np.clip(shear, -MAX_SHEAR, MAX_SHEAR))
    warp = np.array([[1.0, 0.0], [-shear, 1.0]])  # x -> x - shear * (y - centre y)
    if transform is not None:
        warp = np.asarray(transform, np.float64) @ warp
    inverse = np.linalg.inv(warp)
    offset = centre - inverse @ centre  # an output pixel o reads the input at inverse @ o + offset
    # Only the box the crop's corners move to (and a pixel of interpolation around it) is computed:
    # the rest of the padded canvas is paper, and the margin is often most of it.
    corners = margin + np.array([[0, 0], [0, crop.shape[1]], [crop.shape[0], 0], crop.shape], np.float64)
    moved = (corners - offset) @ warp.T
    low = np.clip(np.floor(moved.min(axis=0)).astype(int) - 2, 0, padded.shape)
    high = np.clip(np.ceil(moved.max(axis=0)).astype(int) + 2, low, padded.shape)
    upright = ndimage.affine_transform(
        padded, inverse, offset=offset + inverse @ low, output_shape=tuple(high - low), order=1
    )
    return _fit_box(upright)


def _fit_box(ink: np.ndarray) -> np.ndarray:
    """Ink (H, W) -> 28x28: crop to the ink, longer side BOX px (anti-aliased), centre of mass centred."""
    ink = _visible(ink)
    rows, cols = _ink_extent(ink)
    crop = np.ascontiguousarray(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], np.float32)
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    image = Image.frombytes("F", (width, height), crop).resize(size, resample)
    small = np.clip(np.frombuffer(image.tobytes(), np.float32).reshape(size[::-1]), 0.0, 1.0)
    centre_y, centre_x = ndimage.center_of_mass(small)
    top = min(max(round(SIZE / 2 - centre_y - 0.5), 0), SIZE - size[1])
    left = min(max(round(SIZE / 2 - centre_x - 0.5), 0), SIZE - size[0])
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top : top + size[1], left : left + size[0]] = small
    return out


def _visible(ink: np.ndarray) -> np.ndarray:
    """Ink whose thin strokes shrinking or turning blurred below INK_THRESHOLD, scaled until its
    darkest pixel reaches it; other ink as it is."""
    darkest = float(ink.max())
    return ink if darkest >= INK_THRESHOLD else ink * np.float32(INK_THRESHOLD / max(darkest, 1e-6))


def _ink_extent(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns holding a pixel >= INK_THRESHOLD; BlankDrawing if none does."""
    # A digit cut by split_digits is already cropped to its strokes: ink on all four edges
    # settles it from 4 lines instead of the whole crop.
    if ink.size and all(
        np.maximum.reduce(edge) >= INK_THRESHOLD for edge in (ink[0], ink[-1], ink[:, 0], ink[:, -1])
    ):
        return np.arange(ink.shape[0]), np.arange(ink.shape[1])
    mask = ink >= INK_THRESHOLD
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        raise BlankDrawing("Nothing is drawn.")
    return rows, np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))


def _deskew(points: np.ndarray) -> np.ndarray:
    """Shear the points so the digit's main axis is vertical (MNIST deskewing)."""
    centre = points.mean(axis=0)
    dy, dx = (points - centre).T
    var_y = float(np.mean(dy * dy))
    if var_y < 1e-6:
        return points
    shear = float(min(max(np.mean(dx * dy) / var_y, -MAX_SHEAR), MAX_SHEAR))
    upright = points.copy()
    upright[:, 1] -= shear * dy
    return upright
