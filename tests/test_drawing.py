"""Decoding and preprocessing: any drawing -> the 28x28 input the models see."""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from digitrec.canvas import render_digit, render_ink
from digitrec.config import ROOT
from digitrec.data import load_split
from digitrec.drawing import (
    INK_THRESHOLD,
    THICK,
    BlankDrawing,
    DrawingError,
    decode_base64_image,
    decode_image,
    is_low_resolution,
    pens_long,
    pixel_image,
    preprocess_drawing,
    preprocess_ink,
    redrawn,
    render_strokes,
    stroke_points,
    working_size,
)
from digitrec.drawing import _ink_extent as ink_extent
from digitrec.drawing import _png_header as png_header


@pytest.fixture(scope="module")
def seven() -> np.ndarray:
    digits = load_split("test")
    return digits.images[np.flatnonzero(digits.labels == 7)[0]]


def _png(array: np.ndarray, mode: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array, mode=mode).save(out, format="PNG")
    return out.getvalue()


def _white(size: int) -> np.ndarray:
    return np.full((size, size), 255, np.uint8)


def test_output_is_28x28_float32_with_ink_one(seven):
    image = preprocess_ink(render_ink(seven))
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert image.max() == pytest.approx(1.0) and image.min() == 0.0
    pixels = preprocess_ink(seven)
    assert pixels.shape == (28, 28) and pixels.dtype == np.float32
    assert 0.95 < pixels.max() <= 1.0 and pixels.min() == 0.0


def test_a_low_resolution_image_keeps_its_pixels_and_a_canvas_is_redrawn(seven):
    assert is_low_resolution(seven) and not is_low_resolution(render_ink(seven))
    np.testing.assert_array_equal(preprocess_ink(seven), pixel_image(seven))
    png = _png(np.rint(255 - 255 * seven).astype(np.uint8), "L")  # a 28x28 upload
    np.testing.assert_array_equal(preprocess_drawing(png), pixel_image(decode_image(png)))
    canvas = render_ink(seven)
    np.testing.assert_array_equal(preprocess_ink(canvas), redrawn(canvas))
    # a crop of a canvas drawing is judged by the whole image when told so
    np.testing.assert_array_equal(preprocess_ink(seven, low_resolution=False), redrawn(seven))


def test_a_canvas_digit_drawn_with_a_pen_thick_for_its_size_keeps_its_pixels(seven):
    thick = render_ink(seven, scale=0.65, pen=24)  # canvas.STYLES["very thick"]
    assert pens_long(thick, stroke_points(thick)) < THICK
    np.testing.assert_array_equal(preprocess_ink(thick), pixel_image(thick))
    thinner = render_ink(seven, scale=0.65, pen=12)
    assert pens_long(thinner, stroke_points(thinner)) >= THICK
    np.testing.assert_array_equal(preprocess_ink(thinner), redrawn(thinner))


def test_a_thick_pen_digit_is_served_its_pixels_as_the_measurements_read_it(seven):
    from digitrec.notdigit import segment_looks
    from digitrec.segment import Drawing

    thick = render_ink(seven, scale=0.65, pen=24)
    drawing = Drawing.from_ink(thick)
    np.testing.assert_array_equal(drawing.inputs[0], pixel_image(drawing.inks[0]))
    np.testing.assert_array_equal(segment_looks(thick)[1], drawing.inputs)


def test_pixel_rendering_fills_a_20_px_box_around_the_centre_of_mass(seven):
    image = pixel_image(np.pad(seven, ((3, 30), (40, 2))))  # off-centre on a larger image
    rows, cols = np.nonzero(image >= 0.3)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)
    centre_y, centre_x = ndimage.center_of_mass(image)
    assert abs(centre_y - 13.5) < 1 and abs(centre_x - 13.5) < 1
    np.testing.assert_allclose(image, pixel_image(seven), atol=1e-5)  # where it was drawn does not matter


def test_a_faint_thin_slanted_line_still_has_a_pixel_rendering():
    ink = np.zeros((20, 20), np.float32)
    ink[np.arange(2, 18), np.arange(2, 18) // 2 + 5] = 0.31  # just above the ink threshold, 1 px wide
    image = pixel_image(ink)  # deskewing interpolates it below the threshold
    assert image.max() > 0 and image[:2].sum() == 0 and image[-2:].sum() == 0


def test_a_huge_crop_renders_like_the_pad_sized_one_in_bounded_memory(seven):
    import tracemalloc

    pad = render_ink(seven, pen=30)  # thick: a canvas digit that gets the pixel rendering
    huge = np.kron(pad, np.ones((4, 4), np.float32))  # the same digit in a 1120 px crop
    tracemalloc.start()
    try:
        image = pixel_image(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.abs(image - pixel_image(pad)).max() < 0.05
    assert peak < huge.nbytes  # turned at the pad's size, not in a padded copy of the crop


@pytest.mark.parametrize("shape", [(300, 300), (301, 97), (97, 301), (1127, 333)])
def test_shrinking_averages_whole_blocks_with_paper_beyond_the_edges(shape):
    ink = np.random.default_rng(3).random(shape, dtype=np.float32)
    factor = -(-max(shape) // 96)
    padded = np.zeros([-(-side // factor) * factor for side in shape], np.float32)
    padded[: shape[0], : shape[1]] = ink
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    np.testing.assert_allclose(working_size(ink, 96), blocks.mean(axis=(1, 3)), atol=1e-6)


def test_sparse_dots_shrunk_below_the_ink_threshold_still_have_a_pixel_rendering():
    ink = np.zeros((1024, 1024), np.float32)
    ink[::4, ::4] = 1.0  # a 4 x 4 block mean leaves each dot at 1/16 of an ink
    assert pixel_image(ink).max() > 0


def test_pixel_rendering_undoes_the_slant(seven):
    upright = pixel_image(seven)
    shear = np.array([[1.0, 0.0], [-0.4, 1.0]])  # output (y, x) -> input: x - 0.4 (y - 14)
    slanted = ndimage.affine_transform(seven, shear, offset=(0.0, 0.4 * 14), order=1)
    assert np.abs(pixel_image(slanted) - upright).mean() < 0.06
    assert np.abs(slanted - seven).mean() > 0.06  # the slant itself was not small


@pytest.mark.parametrize("turn", [0.0, 0.5, -0.5])
def test_pixel_rendering_of_a_turned_digit_loses_no_ink_at_the_box_it_computes(seven, turn):
    # pixel_image transforms only the box the digit moves to; around it there must be paper only.
    transform = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    for ink in (seven, np.kron(seven, np.ones((6, 6), np.float32))):  # an MNIST digit, a canvas-size one
        image = pixel_image(ink, transform)
        assert image[0].sum() == image[-1].sum() == image[:, 0].sum() == image[:, -1].sum() == 0
        assert 0.9 < image.max() <= 1.0


def test_strokes_pushed_past_the_edge_are_cut_off_not_wrapped_around():
    # Nearly all the ink in one spot: centring its mass pushes the far point off the right edge.
    points = np.zeros((100, 2), np.float32)
    points[-1] = (0.0, 100.0)
    image = render_strokes(points)[0]
    assert image[:, -1].max() > 0  # drawn up to the edge
    assert image[:, :4].max() == 0  # and nothing reappears on the left


def test_a_stroke_renders_the_same_alone_and_in_a_batch_of_transforms(seven):
    points = stroke_points(seven)
    turns = np.array([[[1, 0], [0, 1]], [[0.9, -0.3], [0.3, 0.9]], [[1.3, 0], [0, 0.7]]], np.float32)
    batch = render_strokes(points, turns)
    for turn, image in zip(turns, batch, strict=True):
        np.testing.assert_array_equal(render_strokes(points, turn[None])[0], image)


def test_blank_canvas_is_reported_as_blank():
    with pytest.raises(BlankDrawing):
        preprocess_drawing(_png(_white(280), "L"))


def test_one_pixel_dot_is_a_small_centred_blob():
    canvas = _white(280)
    canvas[40, 200] = 0
    image = preprocess_drawing(_png(canvas, "L"))
    rows, cols = np.nonzero(image > 0.1)
    assert rows.size > 0
    assert abs(rows.mean() - 13.5) < 2 and abs(cols.mean() - 13.5) < 2


def test_full_canvas_scribble_still_gives_a_bounded_input():
    rng = np.random.default_rng(0)
    canvas = np.where(rng.random((280, 280)) < 0.5, 0, 255).astype(np.uint8)
    image = preprocess_drawing(_png(canvas, "L"))
    assert image.shape == (28, 28) and image.min() >= 0.0 and image.max() <= 1.0
    assert image[:2].sum() == 0 and image[-2:].sum() == 0  # the MNIST margin stays empty


def test_transparent_png_counts_as_white_paper(seven):
    opaque = preprocess_drawing(render_digit(seven))
    transparent = preprocess_drawing(render_digit(seven, transparent=True))
    np.testing.assert_allclose(transparent, opaque, atol=1e-6)


def test_fully_transparent_png_is_blank():
    rgba = np.zeros((50, 50, 4), np.uint8)
    with pytest.raises(BlankDrawing):
        preprocess_drawing(_png(rgba, "RGBA"))


def test_jpeg_gives_the_same_input_as_png(seven):
    ink = render_ink(seven)
    gray = np.clip(255 - ink * 255, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(gray, mode="L").convert("RGB").save(out, format="JPEG", quality=85)
    from_jpeg = preprocess_drawing(out.getvalue())
    from_png = preprocess_drawing(_png(gray, "L"))
    assert np.abs(from_jpeg - from_png).mean() < 0.03


def test_5000px_image_is_accepted_and_matches_a_small_one(seven):
    gray = np.clip(255 - render_ink(seven) * 255, 0, 255).astype(np.uint8)
    huge = Image.fromarray(gray, mode="L").resize((5000, 5000), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    huge.save(out, format="PNG", compress_level=1)
    from_huge = preprocess_drawing(out.getvalue())
    assert np.abs(from_huge - preprocess_drawing(_png(gray, "L"))).mean() < 0.05


def test_pen_widths_4_to_24_reach_the_models_looking_alike(seven):
    inputs = [preprocess_ink(render_ink(seven, pen=pen)) for pen in (4, 8, 14, 24)]
    reference = inputs[2]
    for image in inputs:
        assert np.abs(image - reference).mean() < 0.05
        assert image.sum() == pytest.approx(reference.sum(), rel=0.25)


def test_slanted_drawing_is_deskewed(seven):
    upright = preprocess_ink(render_ink(seven))
    slanted = preprocess_ink(render_ink(seven, shear=0.4))
    assert np.abs(slanted - upright).mean() < 0.06


def _pillow_ink(data: bytes) -> np.ndarray:
    """The reference: Pillow's own luminance and alpha, ink = opacity x darkness."""
    image = Image.open(io.BytesIO(data)).convert("RGBA")
    luminance, alpha = (np.asarray(band, dtype=np.float64) for band in image.convert("LA").split())
    return alpha * (255.0 - luminance) / 255.0**2


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "L", "LA", "P", "P+tRNS", "L+tRNS"])
def test_every_png_colour_type_decodes_like_pillow(mode):
    pixels = np.random.default_rng(3).integers(0, 256, (37, 23, 4), dtype=np.uint8)
    pixels[:5] = 255  # a white band: the ink box must not cut anything off
    out = io.BytesIO()
    image = Image.fromarray(pixels, mode="RGBA").convert(mode.split("+")[0])
    transparent = {"transparency": int(np.asarray(image)[9, 9])} if mode.endswith("+tRNS") else {}
    image.save(out, format="PNG", **transparent)
    ink = decode_image(out.getvalue())
    assert ink.shape == (37, 23) and ink.dtype == np.float32
    np.testing.assert_allclose(ink, _pillow_ink(out.getvalue()), atol=1e-6)


def test_a_gray_png_has_the_ink_of_the_same_pixels_in_rgba_the_same_bits():
    # The draw page sends 8-bit gray (decoded on its own path); the canvas's own PNG is RGBA.
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    pngs = {}
    for mode, pixels in [("L", gray), ("RGBA", np.dstack([gray, gray, gray, np.full_like(gray, 255)]))]:
        out = io.BytesIO()
        Image.fromarray(pixels, mode=mode).save(out, format="PNG")
        pngs[mode] = out.getvalue()
    assert (png_header(pngs["L"]).gray8, png_header(pngs["RGBA"]).gray8) == (True, False)
    ink = decode_image(pngs["L"])
    np.testing.assert_array_equal(ink, decode_image(pngs["RGBA"]))
    np.testing.assert_allclose(ink, (255 - gray) / 255.0, atol=1e-7)
    out = io.BytesIO()
    Image.fromarray(gray, mode="L").save(out, format="JPEG", quality=100)  # Pillow's gray path: the same rule
    jpeg = np.asarray(Image.open(io.BytesIO(out.getvalue())))
    np.testing.assert_array_equal(decode_image(out.getvalue()), ink.reshape(-1)[jpeg])


def test_a_truncated_png_is_a_drawing_error(seven):
    data = render_digit(seven)
    with pytest.raises(DrawingError):
        decode_image(data[: len(data) // 2])  # the pixel data cut off


def test_a_png_whose_header_chunk_says_it_is_empty_is_a_drawing_error(seven):
    data = bytearray(render_digit(seven))
    data[11] = 0  # IHDR's length: 13 -> 0 (libspng and Pillow both refuse it, Pillow with ValueError)
    with pytest.raises(DrawingError):
        decode_image(bytes(data))


def test_not_an_image_is_a_drawing_error():
    with pytest.raises(DrawingError):
        decode_image(b"definitely not a png")


def test_gif_is_refused():
    out = io.BytesIO()
    Image.new("L", (10, 10), 255).save(out, format="GIF")
    with pytest.raises(DrawingError, match="PNG and JPEG"):
        decode_image(out.getvalue())


def test_data_url_and_bare_base64_decode_to_the_same_bytes():
    png = _png(_white(8), "L")
    bare = base64.b64encode(png).decode()
    assert decode_base64_image(bare) == png
    assert decode_base64_image("data:image/png;base64," + bare) == png


@pytest.mark.parametrize("text", ["", "%%%not base64%%%", None])
def test_bad_base64_is_a_drawing_error(text):
    with pytest.raises(DrawingError):
        decode_base64_image(text)


def test_libspng_is_loaded_before_tensorflow():
    # Loaded after TensorFlow, libspng would use TensorFlow's slower zlib (see digitrec/__init__.py).
    code = "import sys, app; m = list(sys.modules); print(m.index('pyspng'), m.index('tensorflow'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    spng, tensorflow = map(int, done.stdout.split())
    assert spng < tensorflow


def test_the_ink_extent_is_the_same_whether_the_crop_is_tight_or_not():
    rng = np.random.default_rng(3)
    for _ in range(300):
        ink = (rng.random((rng.integers(1, 9), rng.integers(1, 9))) < 0.3) * rng.random() * 1.0
        if ink.max() < INK_THRESHOLD:
            with pytest.raises(BlankDrawing):
                ink_extent(ink)
            continue
        rows, cols = np.nonzero(ink >= INK_THRESHOLD)
        found_rows, found_cols = ink_extent(ink)
        assert (found_rows[0], found_rows[-1]) == (rows.min(), rows.max())
        assert (found_cols[0], found_cols[-1]) == (cols.min(), cols.max())
