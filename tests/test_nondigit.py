"""Not a digit: the labelled non-digit drawings, the rules and classifier of notdigit.py, and what
predict answers for taps, lines, letters, symbols, shapes, scribbles and digits too small to read."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitrec import answer, notdigit
from digitrec.canvas import ink_to_png, render_ink
from digitrec.data import load_split
from digitrec.drawing import preprocess_ink, redrawn
from digitrec.evaluate import TrainedModels, read_canvas
from digitrec.nondigits import FAMILIES, canvas_digits, nondigit_drawings
from digitrec.recognizer import MODEL_NAMES, Recognizer
from digitrec.service import DigitService
from digitrec.weights import load_shipped

MODELS = Path(__file__).resolve().parent.parent / "models"
Stroke = list[tuple[float, float]]


def drawn(*strokes: Stroke, pen: int = 14) -> bytes:
    """Strokes (lists of (x, y) points on the 280x280 pad) drawn with a round pen -> the page's PNG."""
    image = Image.new("L", (280, 280), 0)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line(stroke, fill=255, width=pen, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return ink_to_png(np.asarray(image, dtype=np.float32) / 255.0)


def ring(cx: float, cy: float, rx: float, ry: float) -> Stroke:
    angles = np.linspace(0, 2 * np.pi, 40)
    return list(zip(cx + rx * np.cos(angles), cy + ry * np.sin(angles), strict=True))


def probs_of(digit: int, sure: float) -> np.ndarray:
    p = np.full(10, (1 - sure) / 9)
    p[digit] = sure
    return p


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer(load_shipped(MODELS))


@pytest.fixture(scope="module")
def shipped_models() -> TrainedModels:
    originals = load_shipped(MODELS)
    return TrainedModels(originals.fnn, originals.cnn)


@pytest.fixture(scope="module")
def test_split():
    return load_split("test")


@pytest.fixture
def service(settings, engine) -> DigitService:
    return DigitService(settings, engine)


# --- the labelled drawings --------------------------------------------------------------------


def test_nondigit_drawings_are_deterministic_and_of_every_family():
    first, again = nondigit_drawings(14, seed=3), nondigit_drawings(14, seed=3)
    assert [d.name for d in first] == [d.name for d in again]
    assert all(np.array_equal(a.ink, b.ink) for a, b in zip(first, again, strict=True))
    assert {d.kind for d in first} == set(FAMILIES)
    assert set(FAMILIES) == {"tap", "dots", "line", "letter", "symbol", "shape", "scribble"}
    assert all(d.ink.shape == (280, 280) and d.ink.max() > 0.9 for d in first)


def test_other_seeds_give_other_drawings():
    assert not np.array_equal(nondigit_drawings(1, seed=0)[0].ink, nondigit_drawings(1, seed=1)[0].ink)


def test_nondigits_arrive_as_the_page_sends_them():
    # The page's 8-bit gray PNG: every ink level is a multiple of 1/255.
    ink = nondigit_drawings(3, seed=0)[2].ink
    assert np.allclose(ink * 255, np.rint(ink * 255), atol=1e-3)


def test_canvas_digits_are_drawn_in_many_styles(test_split):
    inks = canvas_digits(test_split.images[:20], seed=0)
    heights = [np.ptp(np.nonzero(ink >= 0.3)[0]) for ink in inks]
    assert len(inks) == 20 and max(heights) > 1.6 * min(heights)
    assert not np.array_equal(canvas_digits(test_split.images[:1], seed=1)[0], inks[0])


# --- the rules ----------------------------------------------------------------------------------


def looks(png: bytes) -> list[notdigit.Look]:
    from digitrec.drawing import decode_image

    return notdigit.segment_looks(decode_image(png))[0]


def test_a_tap_is_a_dot_of_about_one_pen():
    (look,) = looks(drawn([(40, 250), (41, 250)], pen=14))
    assert look.length < notdigit.DOT and 12 <= look.pen <= 17
    assert look.rule() == "tap"


@pytest.mark.parametrize("angle", [0, 30, -35, 180])
def test_a_straight_line_far_from_vertical_is_a_line(angle):
    direction = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))]) * 120
    start, end = (140, 140) - direction, (140, 140) + direction
    (look,) = looks(drawn([tuple(start), tuple(end)]))
    assert look.rule() == "line"


def test_a_vertical_stroke_is_not_a_line_but_may_be_a_one():
    (look,) = looks(drawn([(140, 40), (150, 240)]))
    assert look.rule() is None


def test_a_small_zero_drawn_with_the_page_pen_is_too_small():
    (look,) = looks(drawn(ring(140, 140, 9, 15)))  # 30 px high with a 14 px pen: a blob
    assert look.rule() == "small"
    (look,) = looks(drawn(ring(140, 140, 40, 60)))  # the same 0, 130 px high
    assert look.rule() is None


# --- the answer -------------------------------------------------------------------------------


def test_a_refusal_sentence_is_the_answer():
    probs = {"fnn_updated": probs_of(4, 0.99), "cnn_updated": probs_of(4, 0.99)}
    verdict = answer.decide(probs, refusal=notdigit.MESSAGES["line"])
    assert verdict == answer.Answer(None, "That looks like a line, not a digit.")


def test_every_piece_refused_for_one_reason_keeps_that_reason():
    dots = [answer.Answer(None, notdigit.MESSAGES["tap"])] * 3
    assert answer.combine(dots) == (None, notdigit.MESSAGES["tap"])


def test_original_rule_answers_when_the_updated_models_agree():
    verdict = answer.original_rule({"fnn_updated": probs_of(3, 0.4), "cnn_updated": probs_of(3, 0.45)})
    assert verdict.digit == 3


def test_original_rule_refuses_when_both_disagree_unsure():
    verdict = answer.original_rule({"fnn_updated": probs_of(3, 0.4), "cnn_updated": probs_of(5, 0.45)})
    assert verdict.digit is None and verdict.message == answer.NOT_RECOGNISED


def test_decide_refuses_an_agreed_digit_the_models_are_jointly_unsure_of():
    probs = {"fnn_updated": probs_of(3, 0.3), "cnn_updated": probs_of(3, 0.32)}
    assert answer.original_rule(probs).digit == 3
    assert answer.decide(probs).digit is None


def test_every_test_digit_of_a_sample_has_a_digit_shape(test_split):
    images = [redrawn(image) for image in test_split.images[::10]]
    assert all(answer.has_digit_shape(image) for image in images)


def test_a_hatched_square_has_no_digit_shape():
    image = np.zeros((28, 28), np.float32)
    image[4:24:3, 4:24] = 1.0
    image[4:24, 4:24:3] = 1.0
    assert not answer.has_digit_shape(image)


def test_a_ring_with_a_dot_inside_has_no_digit_shape():
    yy, xx = np.mgrid[:28, :28]
    radius = np.hypot(yy - 14, xx - 14)
    face = ((radius > 8) & (radius < 10)).astype(np.float32)
    assert answer.has_digit_shape(face)  # a plain ring is a 0
    face[13:15, 13:15] = 1.0
    assert not answer.has_digit_shape(face)


def test_decide_takes_a_shape_verdict_made_beforehand():
    probs = {"fnn_updated": probs_of(8, 0.99), "cnn_updated": probs_of(8, 0.99)}
    assert answer.decide(probs, shaped=False).digit is None
    assert answer.decide(probs, shaped=True).digit == 8


def test_digit_accuracy_on_mnist_pixels_is_not_changed_by_the_shape_check(recognizer, test_split):
    inputs = np.stack([preprocess_ink(image) for image in test_split.images])  # pixels, as served
    shapes = [redrawn(image) for image in test_split.images]
    probs = recognizer.predict(inputs)
    one = [{n: probs[n][i] for n in MODEL_NAMES} for i in range(len(inputs))]
    original = np.mean(
        [answer.original_rule(p).digit == y for p, y in zip(one, test_split.labels, strict=True)]
    )
    current = np.mean(
        [answer.decide(p, x).digit == y for p, x, y in zip(one, shapes, test_split.labels, strict=True)]
    )
    assert current >= original - 0.003


# --- what predict says (the drawings of the issue, drawn with the page's 14 px pen) -------------

ISSUE_DRAWINGS = {
    "tap": ([(140, 140), (141, 140)],),
    "tap near a corner": ([(20, 262), (21, 262)],),
    "long horizontal line": ([(15, 140), (265, 142)],),
    "short line": ([(110, 150), (170, 148)],),
    "A": ([(60, 240), (140, 40), (220, 240)], [(95, 160), (185, 160)]),
    "H": ([(70, 40), (70, 240)], [(210, 40), (210, 240)], [(70, 140), (210, 140)]),
    "X": ([(60, 50), (220, 230)], [(220, 50), (60, 230)]),
    "plus": ([(140, 40), (140, 240)], [(40, 140), (240, 140)]),
    "triangle": ([(140, 40), (240, 230), (40, 230), (140, 40)],),
    "asterisk": ([(140, 40), (140, 240)], [(55, 90), (225, 190)], [(225, 90), (55, 190)]),
    "scribble": ([(60, 80), (200, 200), (90, 220), (220, 60), (80, 140), (230, 150), (120, 40), (150, 240)],),
    "three dots": ([(70, 140), (71, 140)], [(140, 140), (141, 140)], [(210, 140), (211, 140)]),
}


@pytest.mark.parametrize("name", list(ISSUE_DRAWINGS))
def test_what_is_not_a_digit_gets_no_digit_and_a_sentence(service, name):
    result = service.predict(drawn(*ISSUE_DRAWINGS[name]))
    assert result["answer"] is None, (name, result["message"])
    assert result["message"].endswith(".") and "digit" in result["message"]


def test_a_line_says_it_is_a_line(service):
    result = service.predict(drawn(*ISSUE_DRAWINGS["long horizontal line"]))
    assert result["message"] == "That looks like a line, not a digit."
    assert len(result["digits"]) == 1  # one piece, not a row of 1s


def test_a_tap_says_it_is_a_dot(service):
    assert service.predict(drawn(*ISSUE_DRAWINGS["tap near a corner"]))["message"] == notdigit.MESSAGES["tap"]


def test_a_row_of_taps_says_dots(service):
    assert service.predict(drawn(*ISSUE_DRAWINGS["three dots"]))["message"] == notdigit.MESSAGES["dots"]


def test_a_zero_too_small_for_the_pen_says_draw_bigger(service):
    result = service.predict(drawn(ring(140, 140, 9, 15)))
    assert result["answer"] is None
    assert result["message"].startswith("Draw bigger")


def test_digits_drawn_on_the_page_are_still_read(service, test_split):
    for digit in range(10):
        index = int(np.flatnonzero(test_split.labels == digit)[0])
        result = service.predict(ink_to_png(render_ink(test_split.images[index])))
        assert result["answer"] == str(digit), (digit, result["message"])


def test_a_low_resolution_digit_is_not_judged_by_pen_and_size(service, test_split):
    index = int(np.flatnonzero(test_split.labels == 1)[0])
    result = service.predict(ink_to_png(test_split.images[index]))  # a 28x28 MNIST 1
    assert result["answer"] == "1"


# --- on the labelled sets (the figures of docs/not-a-digit.md come from more of them) -----------


def test_most_nondigits_of_every_family_are_refused(shipped_models):
    drawings = nondigit_drawings(140, seed=11)  # 20 of each family, a seed nothing learned from
    read = read_canvas(shipped_models, [d.ink for d in drawings])
    for family in FAMILIES:
        refused = [r["answer"] is None for d, r in zip(drawings, read, strict=True) if d.kind == family]
        assert np.mean(refused) >= 0.7, family
    assert np.mean([r["answer"] is None for r in read]) >= 0.85


def test_few_canvas_digits_are_refused(shipped_models, test_split):
    picked = test_split.subset(np.arange(0, len(test_split), 10))
    read = read_canvas(shipped_models, canvas_digits(picked.images, seed=11))
    assert np.mean([r["answer"] is None for r in read]) <= 0.02
    right = [r["answer"] == str(y) for r, y in zip(read, picked.labels, strict=True)]
    assert np.mean(right) >= 0.93


def test_digits_side_by_side_are_rarely_refused(shipped_models, test_split):
    from digitrec.canvas import render_string_ink
    from digitrec.nondigits import as_sent

    rng = np.random.default_rng(11)
    chosen = [rng.choice(len(test_split), 4, replace=False) for _ in range(40)]
    inks = [as_sent(render_string_ink(test_split.images[index])) for index in chosen]
    refused = []
    for ink in inks:
        looks, _ = notdigit.segment_looks(ink)
        refused += [reason is not None for reason in notdigit.refusals(looks, len(looks))]
    assert len(refused) >= 150 and np.mean(refused) <= 0.02
    read = read_canvas(shipped_models, inks)
    truth = ["".join(map(str, test_split.labels[index])) for index in chosen]
    assert np.mean([r["answer"] == t for r, t in zip(read, truth, strict=True)]) >= 0.8


def test_training_strings_are_seeded_and_split_into_their_digits(test_split):
    import dataclasses

    from digitrec.segment import split_digits
    from digitrec.train import NotDigitConfig, training_strings

    config = dataclasses.replace(NotDigitConfig(), strings=20, seed=3)
    strings = list(training_strings(test_split, config))
    again = list(training_strings(test_split, config))
    assert all(a == c and np.array_equal(b, d) for (a, b), (c, d) in zip(strings, again, strict=True))
    assert {count for count, _ in strings} <= set(range(2, 7)) and len({count for count, _ in strings}) > 1
    assert np.mean([len(split_digits(ink)) == count for count, ink in strings]) >= 0.9


def test_the_report_lists_exactly_the_digits_it_read_wrong(shipped_models, test_split):
    from digitrec.evaluate import not_a_digit_report

    digits = test_split.subset(np.arange(0, len(test_split), 8))  # every class, 250 digits
    plain = not_a_digit_report(shipped_models, digits, 7)
    report = not_a_digit_report(shipped_models, digits, 7, misses=True)
    misses = report["digits"].pop("misses")
    assert report == plain  # the figures do not change
    assert "misses" not in plain["digits"]
    assert len(misses) == round((1 - plain["digits"]["answer"]) * len(digits))
    for miss in misses:
        assert miss["answer"] != str(miss["digit"]) and miss["digit"] == int(digits.labels[miss["position"]])
