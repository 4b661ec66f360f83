"""Not a digit: the non-digit drawings, the shape check, and the answer rule against the original's."""

from pathlib import Path

import numpy as np
import pytest

from digitrec import answer
from digitrec.canvas import render_ink
from digitrec.data import load_split
from digitrec.drawing import preprocess_ink, redrawn
from digitrec.nondigits import nondigit_drawings
from digitrec.recognizer import MODEL_NAMES, Recognizer
from digitrec.service import Drawing
from digitrec.weights import load_shipped

MODELS = Path(__file__).resolve().parent.parent / "models"


def probs_of(digit: int, sure: float) -> np.ndarray:
    p = np.full(10, (1 - sure) / 9)
    p[digit] = sure
    return p


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer(load_shipped(MODELS))


@pytest.fixture(scope="module")
def test_split():
    return load_split("test")


def test_nondigit_drawings_are_deterministic_and_of_every_kind():
    first, again = nondigit_drawings(8, seed=3), nondigit_drawings(8, seed=3)
    assert [d.name for d in first] == [d.name for d in again]
    assert all(np.array_equal(a.ink, b.ink) for a, b in zip(first, again, strict=True))
    assert {d.kind for d in first} == {"scribble", "letter", "smiley", "shape"}
    assert all(d.ink.shape == (280, 280) and d.ink.max() > 0.9 for d in first)


def test_other_seeds_give_other_drawings():
    assert not np.array_equal(nondigit_drawings(1, seed=0)[0].ink, nondigit_drawings(1, seed=1)[0].ink)


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


def test_decide_keeps_a_confident_answer(test_split):
    probs = {"fnn_updated": probs_of(7, 0.97), "cnn_updated": probs_of(7, 0.99)}
    assert answer.decide(probs, redrawn(test_split.images[0])).digit == 7


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


def test_decide_refuses_a_confident_answer_on_a_scribble():
    scribble = np.zeros((28, 28), np.float32)
    scribble[4:24, 4:24] = 1.0  # far more ink than any digit
    probs = {"fnn_updated": probs_of(8, 0.99), "cnn_updated": probs_of(8, 0.99)}
    assert answer.decide(probs, scribble).digit is None


def test_decide_takes_a_shape_verdict_made_beforehand():
    probs = {"fnn_updated": probs_of(8, 0.99), "cnn_updated": probs_of(8, 0.99)}
    assert answer.decide(probs, shaped=False).digit is None
    assert answer.decide(probs, shaped=True).digit == 8


def read(recognizer: Recognizer, ink: np.ndarray, rule) -> str | None:
    drawing = Drawing.from_ink(ink)  # split and rendered as the service does
    probs = recognizer.predict(drawing.inputs)
    verdicts = [
        rule({n: probs[n][i] for n in MODEL_NAMES}, drawing.redrawn[i]) for i in range(len(drawing.inputs))
    ]
    return answer.combine(verdicts)[0]


def test_more_nondigits_are_refused_than_by_the_original_rule(recognizer):
    drawings = nondigit_drawings(200, seed=0)
    original = [read(recognizer, d.ink, lambda p, _image: answer.original_rule(p)) is None for d in drawings]
    current = [read(recognizer, d.ink, answer.decide) is None for d in drawings]
    print(f"\nnon-digits refused: original rule {np.mean(original):.3f}, current rule {np.mean(current):.3f}")
    assert np.mean(current) >= np.mean(original) + 0.2


def test_digit_accuracy_stays_within_three_tenths_of_a_point(recognizer, test_split):
    inputs = np.stack([preprocess_ink(image) for image in test_split.images])  # pixels, as served
    shapes = [redrawn(image) for image in test_split.images]  # what the shape check judges
    probs = recognizer.predict(inputs)
    one = [{n: probs[n][i] for n in MODEL_NAMES} for i in range(len(inputs))]
    original = np.mean(
        [answer.original_rule(p).digit == y for p, y in zip(one, test_split.labels, strict=True)]
    )
    current = np.mean(
        [answer.decide(p, x).digit == y for p, x, y in zip(one, shapes, test_split.labels, strict=True)]
    )
    print(f"\ntest digits right: original rule {original:.4f}, current rule {current:.4f}")
    assert current >= original - 0.003


def test_a_canvas_drawing_of_a_digit_is_still_read(recognizer, test_split):
    index = int(np.flatnonzero(test_split.labels == 4)[0])
    assert read(recognizer, render_ink(test_split.images[index]), answer.decide) == "4"
