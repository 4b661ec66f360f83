"""The measured acceptance test of online learning (run with -s to see the numbers).

100 test-split digits drawn in one consistent style the originals read poorly
(turned 50 degrees clockwise, as on a sheet of paper lying askew); 50 are sent as
corrections through POST /api/feedback, then the updated models must be clearly
better on the other 50 and lose at most half a point on the rest of the test
split (the test digits outside the canary, which the update never saw).
"""

import numpy as np
import pytest
from scipy import ndimage

from digitrec.answer import decide
from digitrec.canvas import render_digit
from digitrec.data import load_split
from digitrec.drawing import preprocess_ink
from digitrec.online import CANARY_SEED
from digitrec.segment import Drawing
from tests.conftest import data_url

TURN = -50  # degrees counter-clockwise, so 50 clockwise (90 is too far for one step per correction)
TAUGHT, HELD_OUT = 50, 50
MIN_GAIN = 6  # held-out drawings more that the updated models get right, on average (of 50)
MAX_TEST_DROP = 0.005  # half a point on the test split


def accuracy(probs: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
    return {name: float(np.mean(p.argmax(axis=1) == labels)) for name, p in probs.items()}


def answer_accuracy(probs: dict[str, np.ndarray], images: np.ndarray, labels: np.ndarray) -> float:
    """How often the answer the site shows (the updated models' vote) is the right digit."""
    answers = [decide({name: p[i] for name, p in probs.items()}, images[i]).digit for i in range(len(labels))]
    return float(np.mean([a == label for a, label in zip(answers, labels, strict=True)]))


@pytest.fixture(scope="module")
def styled():
    test = load_split("test")
    index = np.random.default_rng(2026).permutation(len(test))[: TAUGHT + HELD_OUT]
    turned = [ndimage.rotate(test.images[i], TURN, reshape=False, order=1) for i in index]
    return [render_digit(image) for image in turned], test.labels[index]


def test_corrections_in_a_new_style_teach_it_without_forgetting(app, client, settings, styled):
    pngs, labels = styled
    service = app.extensions["digitrec"]
    service.learner.rng = np.random.default_rng(0)  # the same 24 variants on every run
    held = np.concatenate([Drawing.from_bytes(png).as_one_digit().inputs for png in pngs[TAUGHT:]])
    test = load_split("test")
    outside = np.ones(len(test), dtype=bool)
    outside[np.random.default_rng(CANARY_SEED).permutation(len(test))[: settings.canary_size]] = False
    rest = np.stack([preprocess_ink(image) for image in test.images[outside]])
    before_probs = service.recognizer.predict(held)
    before_held = accuracy(before_probs, labels[TAUGHT:])
    before_test = accuracy(service.recognizer.predict(rest), test.labels[outside])

    accepted = 0
    for png, label in zip(pngs[:TAUGHT], labels[:TAUGHT], strict=True):
        response = client.post("/api/feedback", json={"image": data_url(png), "digit": int(label)})
        assert response.status_code == 200
        accepted += response.json["accepted"]

    after_probs = service.recognizer.predict(held)
    after_held = accuracy(after_probs, labels[TAUGHT:])
    answered = [answer_accuracy(p, held, labels[TAUGHT:]) for p in (before_probs, after_probs)]
    after_test = accuracy(service.recognizer.predict(rest), test.labels[outside])
    print(f"\nonline learning, digits turned {-TURN} degrees clockwise: {accepted}/{TAUGHT} accepted")
    print(f"{'model':<12} {'held-out before':>16} {'after':>7} {'test before':>12} {'after':>7}")
    for name in ("fnn_updated", "cnn_updated"):
        print(
            f"{name:<12} {before_held[name]:>16.1%} {after_held[name]:>7.1%} "
            f"{before_test[name]:>12.2%} {after_test[name]:>7.2%}"
        )
    print(f"{'answer':<12} {answered[0]:>16.1%} {answered[1]:>7.1%}")

    models = ("fnn_updated", "cnn_updated")
    gain = np.mean([round((after_held[n] - before_held[n]) * HELD_OUT) for n in models])
    assert gain >= MIN_GAIN
    for name in models:
        assert after_held[name] > before_held[name]
        assert after_test[name] >= before_test[name] - MAX_TEST_DROP
    assert after_held["fnn"] == before_held["fnn"] and after_held["cnn"] == before_held["cnn"]
