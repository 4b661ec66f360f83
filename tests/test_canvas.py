"""Canvas renderings of digits: what the robustness report and other tests draw with."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from digitrec.canvas import CANVAS, SLANT, STYLES, random_style, render_digit, render_ink, render_string
from digitrec.data import load_split


@pytest.fixture(scope="module")
def digits():
    return load_split("test").subset(np.arange(0, 2000, 400))


def _decoded(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


def test_render_digit_is_a_white_280px_png_with_black_ink(digits):
    image = _decoded(render_digit(digits.images[0]))
    assert image.format == "PNG" and image.size == (280, 280)
    assert image.mode == "L"  # 8-bit gray, as the draw page sends it
    gray = np.asarray(image.convert("L"))
    assert gray[0, 0] == 255 and gray.min() == 0


def test_transparent_paper_has_zero_alpha_off_the_strokes(digits):
    image = _decoded(render_digit(digits.images[0], transparent=True))
    assert image.mode == "RGBA"
    rgba = np.asarray(image)
    assert rgba[0, 0, 3] == 0 and rgba[..., 3].max() == 255


def test_pen_width_sets_the_stroke_thickness(digits):
    thin = render_ink(digits.images[0], pen=4).sum()
    thick = render_ink(digits.images[0], pen=24).sum()
    assert 3.5 < thick / thin < 8


def test_scale_and_offset_move_and_resize_the_digit(digits):
    ink = render_ink(digits.images[0], scale=0.5, offset=(-70, 70))
    rows, cols = np.nonzero(ink > 0.5)
    assert rows.mean() < 100 and cols.mean() > 180
    assert rows.max() - rows.min() < 120


def test_every_named_style_draws_something(digits):
    for name, style in STYLES.items():
        assert render_ink(digits.images[1], **style).max() == pytest.approx(1.0), name


def test_blank_digit_draws_nothing():
    assert render_ink(np.zeros((28, 28), np.float32)).max() == 0.0


def test_render_string_places_digits_left_to_right(digits):
    image = _decoded(render_string(digits.images[:3]))
    width, height = image.size
    assert height == 280 and width > 3 * 200
    ink = 255 - np.asarray(image.convert("L"), dtype=np.int32)
    thirds = np.array_split(ink.sum(axis=0), 3)
    assert all(part.sum() > 0 for part in thirds)


def test_wobble_moves_the_strokes_a_little_and_the_seed_fixes_how(digits):
    plain = render_ink(digits.images[2])
    wobbly = render_ink(digits.images[2], wobble=4.0, seed=1)
    assert not np.array_equal(plain, wobbly)
    assert np.array_equal(wobbly, render_ink(digits.images[2], wobble=4.0, seed=1))
    rows = np.nonzero(wobbly > 0.5)[0]
    plain_rows = np.nonzero(plain > 0.5)[0]
    assert abs(int(rows.max() - rows.min()) - int(plain_rows.max() - plain_rows.min())) <= 10


def test_random_styles_span_sizes_pens_slants_and_keep_the_digit_on_the_pad(digits):
    rng = np.random.default_rng(0)
    styles = [random_style(rng) for _ in range(200)]
    heights = [s["scale"] * CANVAS * 200 / 280 for s in styles]
    assert 0.3 * CANVAS <= min(heights) < 0.4 * CANVAS and 0.85 * CANVAS < max(heights) <= 0.95 * CANVAS
    assert all(s["pen"] >= 3 and -SLANT <= s["shear"] <= SLANT for s in styles)
    for style in styles[:20]:
        ink = render_ink(digits.images[3], **style)
        assert ink.max() > 0.9


def _holes(ink: np.ndarray) -> int:
    """Paper regions the ink encloses."""
    paper, count = ndimage.label(ink < 0.5)
    border = np.unique(np.concatenate([paper[0], paper[-1], paper[:, 0], paper[:, -1]]))
    return count - np.count_nonzero(border)


def _pen_image(segments: list[tuple[float, float, float, float]], radius: float, disc=None) -> np.ndarray:
    """A 28x28 digit: line segments (y0, x0, y1, x1) drawn `radius` px thick, plus a filled disc
    (y, x, r) if given."""
    yy, xx = np.indices((28, 28), dtype=np.float64)
    distance = np.full((28, 28), np.inf)
    for y0, x0, y1, x1 in segments:
        t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0)) / ((y1 - y0) ** 2 + (x1 - x0) ** 2), 0, 1)
        distance = np.minimum(distance, np.hypot(yy - y0 - t * (y1 - y0), xx - x0 - t * (x1 - x0)))
    image = np.clip(radius + 0.5 - distance, 0, 1)
    if disc is not None:
        y, x, r = disc
        image = np.maximum(image, np.clip(r + 0.5 - np.hypot(yy - y, xx - x), 0, 1))
    return image.astype(np.float32)


def test_a_loop_its_writers_pen_filled_is_drawn_as_a_loop():
    # A 6 whose loop is a blob of ink, as thick-pen MNIST digits have them.
    filled_six = _pen_image([(4, 15, 17, 10)], 1.3, disc=(19, 13, 4.5))
    assert _holes(render_ink(filled_six)) == 1
    # Strokes of even width are traced as they are: no loop appears where there was none.
    one = _pen_image([(4, 14, 24, 13)], 1.3)
    seven = _pen_image([(5, 8, 5, 20), (5, 20, 24, 12)], 1.6)
    assert _holes(render_ink(one)) == 0 and _holes(render_ink(seven)) == 0
