"""Splitting a drawing into digits: split_digits on hand-made strokes and rendered test-split strings."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitrec import answer
from digitrec.canvas import render_ink, render_string_ink
from digitrec.data import load_split
from digitrec.drawing import preprocess_ink
from digitrec.recognizer import MODEL_NAMES, Recognizer
from digitrec.segment import MAX_PIECES, split_digits
from digitrec.weights import load_shipped

Stroke = list[tuple[float, float]]


def drawn(*strokes: Stroke, size: tuple[int, int] = (280, 280), pen: int = 14) -> np.ndarray:
    """Strokes (lists of (x, y) points) drawn with a round pen -> ink float32 (H, W)."""
    image = Image.new("L", size, 0)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line(stroke, fill=255, width=pen, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return np.asarray(image, dtype=np.float32) / 255.0


@pytest.fixture(scope="module")
def test_split():
    return load_split("test")


def test_blank_drawing_has_no_digits():
    assert split_digits(np.zeros((280, 280), np.float32)) == []


def test_one_digit_is_one_segment_covering_its_ink(test_split):
    ink = render_ink(test_split.images[0])
    (segment,) = split_digits(ink)
    x0, y0, x1, y1 = segment.box
    ys, xs = np.nonzero(ink >= 0.3)
    assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert segment.ink.shape == (y1 - y0, x1 - x0)


def test_digits_side_by_side_come_left_to_right_in_their_cells(test_split):
    images = test_split.images[:3]
    ink = render_string_ink(images, spacing=210)
    segments = split_digits(ink)
    assert len(segments) == 3
    centres = [(s.box[0] + s.box[2]) / 2 for s in segments]
    cells = [int((c - 0.125 * 280) // 210) for c in centres]
    assert cells == [0, 1, 2]


def test_a_five_with_a_detached_top_bar_is_one_digit():
    body = [(95, 110), (90, 150), (150, 140), (175, 185), (150, 225), (90, 220)]
    bar = [(105, 60), (200, 55)]
    segments = split_digits(drawn(body, bar))
    assert len(segments) == 1
    assert segments[0].box[1] < 60 and segments[0].box[2] > 200


def test_a_seven_with_a_crossbar_is_one_digit():
    seven = [(80, 60), (200, 60), (120, 230)]
    assert len(split_digits(drawn(seven, [(110, 150), (190, 140)]))) == 1


def test_a_seven_whose_crossbar_misses_the_stem_is_one_digit():
    seven = [(80, 60), (200, 60), (120, 230)]
    assert len(split_digits(drawn(seven, [(95, 150), (130, 148)]))) == 1


def test_a_four_whose_stem_stops_short_of_the_bar_is_one_digit():
    hook = [(120, 50), (70, 160), (205, 160)]
    upper_stem, lower_stem = [(165, 70), (165, 140)], [(165, 180), (163, 240)]
    assert len(split_digits(drawn(hook, upper_stem, lower_stem))) == 1


def test_a_speck_joins_the_nearest_digit():
    one = [(140, 50), (140, 230)]
    segments = split_digits(drawn(one, [(250, 235), (252, 236)], pen=6))
    assert len(segments) == 1
    assert segments[0].box[2] > 250


def test_two_ones_side_by_side_stay_two_digits():
    assert len(split_digits(drawn([(100, 50), (100, 230)], [(180, 50), (180, 230)]))) == 2


def test_a_segment_holds_only_its_own_strokes():
    # A's bar reaches into B's box without touching B's strokes.
    a = [(20, 250), (20, 60), (95, 60)]
    b_ellipse = drawn(size=(280, 280))
    image = Image.fromarray((b_ellipse * 255).astype(np.uint8))
    ImageDraw.Draw(image).ellipse((85, 40, 185, 250), outline=255, width=14)
    ink = np.maximum(drawn(a), np.asarray(image, np.float32) / 255.0)
    left, right = split_digits(ink)
    assert right.box[0] < 95  # the boxes overlap...
    x0, y0 = right.box[:2]
    assert right.ink[60 - y0, : 95 - x0].max() < 0.3  # ...but A's bar is not in B's crop


def test_many_specks_still_give_the_digit_and_no_more():
    rng = np.random.default_rng(0)
    ink = drawn([(140, 50), (140, 230)])
    ys, xs = rng.integers(0, 280, 300), rng.integers(0, 280, 300)
    ink[ys, xs] = 1.0
    assert len(split_digits(ink)) == 1


def test_too_many_pieces_are_one_segment():
    ink = np.zeros((100, 4 * (MAX_PIECES + 1)), np.float32)
    ink[10:90, ::4] = 1.0  # a comb of thin bars: not a row of digits
    (segment,) = split_digits(ink)
    assert segment.box == (0, 10, ink.shape[1] - 3, 90)


@pytest.mark.parametrize("spacing", [210, 160])
def test_rendered_strings_of_test_digits_split_into_the_right_count(test_split, spacing):
    rng = np.random.default_rng(7)
    strings = [rng.choice(len(test_split), rng.integers(2, 7), replace=False) for _ in range(40)]
    right = sum(
        len(split_digits(render_string_ink(test_split.images[idx], spacing=spacing))) == len(idx)
        for idx in strings
    )
    assert right >= 38


def ring(cx: float, cy: float, rx: float, ry: float) -> Stroke:
    angles = np.linspace(0, 2 * np.pi, 40)
    return list(zip(cx + rx * np.cos(angles), cy + ry * np.sin(angles), strict=True))


def test_three_touching_digits_are_cut_apart():
    # Three round digits in a row, each touching the next: one stroke 2.2x wider than tall.
    ink = drawn(ring(70, 140, 50, 70), ring(168, 140, 50, 70), ring(266, 140, 50, 70), size=(340, 280))
    segments = split_digits(ink)
    assert len(segments) == 3
    centres = [(s.box[0] + s.box[2]) / 2 for s in segments]
    assert all(abs(c - expected) < 20 for c, expected in zip(centres, (70, 168, 266), strict=True))


def test_a_wide_single_digit_is_not_cut():
    assert len(split_digits(drawn(ring(140, 140, 95, 70)))) == 1


def test_a_lone_flat_zero_wider_than_two_touching_digits_is_not_cut():
    # 1.75x wider than tall: cut beside other digits, one digit when it is the whole drawing.
    assert len(split_digits(drawn(ring(140, 140, 122, 68), size=(280, 280)))) == 1


def test_a_flat_wide_digit_beside_taller_ones_is_not_cut():
    # A 0 drawn low and wide (1.9x wider than tall) between two ordinary ones: wide against its
    # own height, one digit's width against the drawing's digit height.
    ink = drawn(ring(70, 140, 50, 70), ring(250, 150, 85, 45), ring(430, 140, 50, 70), size=(500, 280))
    segments = split_digits(ink)
    assert [s.box[0] < 250 < s.box[2] for s in segments] == [False, True, False]


def test_rendered_strings_of_touching_digits_mostly_split_right(test_split):
    rng = np.random.default_rng(1)
    strings = [rng.choice(len(test_split), rng.integers(2, 7), replace=False) for _ in range(40)]
    right = sum(
        len(split_digits(render_string_ink(test_split.images[idx], spacing=126))) == len(idx)
        for idx in strings
    )
    assert right >= 36


def test_a_long_shallow_line_is_one_piece():
    (segment,) = split_digits(drawn([(20, 250), (900, 30)], size=(920, 280)))
    assert segment.box[0] < 30 and segment.box[2] > 890


@pytest.mark.parametrize("length", [40, 120, 260])
def test_a_horizontal_line_of_any_length_is_one_piece(length):
    assert len(split_digits(drawn([(140 - length / 2, 140), (140 + length / 2, 143)]))) == 1


def test_a_slanted_one_drawn_with_a_gap_is_one_digit():
    upper, lower = [(180, 40), (150, 125)], [(140, 150), (105, 245)]
    assert len(split_digits(drawn(upper, lower))) == 1


def test_a_zero_with_a_lifted_side_is_one_digit():
    angles = np.linspace(np.radians(20), np.radians(330), 40)
    left = list(zip(140 + 55 * np.cos(angles), 140 + 90 * np.sin(angles), strict=True))
    right = [(197, 115), (196, 145)]  # its right side, a little apart
    assert len(split_digits(drawn(left, right))) == 1


def test_single_canvas_digits_are_not_split(test_split):
    from digitrec.nondigits import canvas_digits

    inks = canvas_digits(test_split.images[::8], seed=3)  # 250 digits in random styles
    assert sum(len(split_digits(ink)) > 1 for ink in inks) <= 1


def test_random_ink_of_any_shape_gives_boxes_inside_the_image():
    rng = np.random.default_rng(0)
    for trial in range(600):
        height = int(rng.integers(1, 4)) if trial % 3 == 0 else int(rng.integers(1, 120))
        width = int(rng.integers(1, 120))
        ink = (rng.random((height, width)) < rng.random() * 0.6).astype(np.float32)
        for segment in split_digits(ink):
            x0, y0, x1, y1 = segment.box
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            assert segment.ink.shape == (y1 - y0, x1 - x0)


def test_rendered_four_digit_strings_are_read_through_the_shipped_models(test_split):
    recognizer = Recognizer(load_shipped(Path(__file__).resolve().parent.parent / "models"))
    rng = np.random.default_rng(11)
    right = 0
    for _ in range(60):
        index = rng.choice(len(test_split), 4, replace=False)
        segments = split_digits(render_string_ink(test_split.images[index]))
        inputs = np.stack([preprocess_ink(segment.ink) for segment in segments])
        probs = recognizer.predict(inputs)
        verdicts = [
            answer.decide({n: probs[n][i] for n in MODEL_NAMES}, inputs[i]) for i in range(len(inputs))
        ]
        right += answer.combine(verdicts)[0] == "".join(map(str, test_split.labels[index]))
    print(f"\n4-digit strings read right: {right}/60")
    assert right >= 51  # 85%; per-digit errors compound: 0.98^4 = 92%
