"""The weights shipped in models/: formats other code relies on, and the accuracy targets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitrec.cnn import build_cnn, load_weights
from digitrec.config import ROOT
from digitrec.data import load_split
from digitrec.drawing import preprocess_ink
from digitrec.evaluate import TrainedModels, accuracy
from digitrec.fnn import FNN

MODELS = ROOT / "models"


@pytest.fixture(scope="module")
def scores() -> dict[str, float]:
    test = load_split("test")
    images = np.stack([preprocess_ink(image) for image in test.images])  # as served: pixels
    models = TrainedModels(FNN.load(MODELS / "fnn.npz"), load_weights(MODELS / "cnn.npz"))
    return {name: accuracy(probs, test.labels) for name, probs in models.probabilities(images).items()}


def test_fnn_npz_holds_w1_b1_w2_b2_float32():
    with np.load(MODELS / "fnn.npz") as fnn:
        assert sorted(fnn.files) == ["b1", "b2", "w1", "w2"]
        assert fnn["w1"].shape[0] == 784 and fnn["w2"].shape[1] == 10
        assert all(fnn[name].dtype == np.float32 for name in fnn.files)


def test_cnn_npz_fits_build_cnn_in_keras_order():
    weights = load_weights(MODELS / "cnn.npz")
    expected = [w.shape for w in build_cnn().get_weights()]
    assert [w.shape for w in weights] == expected


def test_cnn_reaches_99_percent_on_the_test_split(scores):
    assert scores["cnn"] >= 0.99


def test_fnn_reaches_97_percent_on_the_test_split(scores):
    assert scores["fnn"] >= 0.97


def test_report_matches_the_shipped_weights(scores):
    report = json.loads((MODELS / "report.json").read_text())
    for name in ("fnn", "cnn"):
        assert report[name]["test_accuracy"] == pytest.approx(scores[name], abs=0.0006)
    for plot in report["plots"]:
        assert (MODELS / plot).is_file()
