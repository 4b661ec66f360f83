"""Offline training: a tiny run writes a valid report; the pieces are seeded and reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitrec import drawing
from digitrec.canvas import render_digit
from digitrec.data import load_split
from digitrec.drawing import preprocess_ink
from digitrec.fnn import FNN
from digitrec.store import SampleStore, open_blob_store
from digitrec.train import (
    QUICK,
    EpochImages,
    FNNHyperparameters,
    TrainingDigits,
    canvas_training_digits,
    collected_digits,
    train,
    train_fnn,
)


def quiet(items, **_):
    """No progress bars in tests."""
    return items


@pytest.fixture(scope="module")
def small_set() -> TrainingDigits:
    return TrainingDigits.from_digits(load_split("fit").subset(np.arange(120)))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, object]:
    out = tmp_path_factory.mktemp("models")
    return train(QUICK, out, progress=quiet), out


def test_quick_run_writes_weights_report_and_plots(quick_run):
    report, out = quick_run
    assert FNN.load(out / "fnn.npz").hidden == report["fnn"]["hyperparameters"]["hidden"]
    with np.load(out / "cnn.npz") as cnn:
        assert cnn.files[0] == "arr_0" and len(cnn.files) == 8
    assert json.loads((out / "report.json").read_text()) == report
    for name in report["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"fnn_curves.png", "fnn_confusion.png", "cnn_curves.png", "cnn_confusion.png"} <= set(
        report["plots"]
    )


def test_report_has_what_the_models_page_reads(quick_run):
    report, _ = quick_run
    assert report["training_seconds"] > 0
    for name in ("fnn", "cnn"):
        section = report[name]
        assert 0.0 <= section["test_accuracy"] <= 1.0
        assert set(section["per_class_accuracy"]) <= {str(d) for d in range(10)}
        assert len(section["history"]) >= 1 and "loss" in section["history"][0]
        assert "hyperparameters" in section
    assert len(report["fnn"]["grid"]) == len(QUICK.fnn_grid)
    assert set(report["robustness"]["styles"]) >= {"thin", "thick", "small", "large", "shifted"}


def test_epoch_images_depend_only_on_seed_and_epoch(small_set):
    first = EpochImages(small_set, seed=1, fraction=0.5)
    again = EpochImages(small_set, seed=1, fraction=0.5)
    np.testing.assert_array_equal(first[3], again[3])
    assert not np.array_equal(first[3], first[4])
    assert first[0].shape == (2 * len(small_set), 28, 28) and first[0].max() <= 1.0
    np.testing.assert_array_equal(first.labels, np.tile(small_set.labels, 2))


def test_every_epoch_shows_each_digit_redrawn_and_as_pixels(small_set):
    epochs = EpochImages(small_set, seed=1, fraction=0.0)  # nothing distorted: the clean renderings
    count = len(small_set)
    redrawn, pixels = epochs[0][:count], epochs[0][count:]
    # the two renderings drawing.py serves (an MNIST digit is low-resolution: served as pixels)
    sources = small_set.sources
    np.testing.assert_allclose(redrawn, [drawing.redrawn(source) for source in sources], atol=1 / 255)
    np.testing.assert_allclose(pixels, [preprocess_ink(source) for source in sources], atol=1 / 255)
    subset = epochs.subset(np.array([4, 7]))
    images, labels = subset.clean_images()
    np.testing.assert_array_equal(images, epochs[0][[4, 7, count + 4, count + 7]])
    np.testing.assert_array_equal(labels, small_set.labels[[4, 7, 4, 7]])


def test_fnn_training_is_reproducible_and_learns(small_set):
    epochs = EpochImages(small_set, seed=1, fraction=0.5)
    validation = (small_set.clean_images(), np.tile(small_set.labels, 2))
    hp = FNNHyperparameters(hidden=32, epochs=4)
    first = train_fnn(hp, epochs, validation, seed=3, progress=quiet)
    again = train_fnn(hp, epochs, validation, seed=3, progress=quiet)
    np.testing.assert_array_equal(first.net.params["w1"], again.net.params["w1"])
    assert first.history[-1]["loss"] < first.history[0]["loss"]
    assert first.validation_accuracy == max(row["validation_accuracy"] for row in first.history)


def collected_from_store(store: str, count: int) -> tuple[TrainingDigits, np.ndarray]:
    """The first `count` test digits drawn on a canvas and saved to `store`, read back; and their labels."""
    digits = load_split("test").subset(np.arange(count))
    samples = SampleStore(open_blob_store(store))
    for image, label in zip(digits.images, digits.labels, strict=True):
        samples.add(render_digit(image), int(label), "collect")
    return collected_digits(store), digits.labels


def test_collected_samples_become_training_digits(tmp_path):
    collected, labels = collected_from_store(str(tmp_path / "store"), 3)
    assert sorted(collected.labels.tolist()) == sorted(labels.tolist())
    assert all(points.shape[1] == 2 and len(points) > 10 for points in collected.strokes)
    assert collected.sources.shape == (3, 28, 28) and collected.sources.max() > 0.9


def test_canvas_copies_are_the_digits_drawn_on_a_canvas_in_random_styles():
    digits = load_split("train").subset(np.arange(6))
    copies = canvas_training_digits(digits, 2, seed=3, progress=quiet)
    assert copies.labels.tolist() == digits.labels.tolist() * 2
    assert all(points.shape[1] == 2 and len(points) > 10 for points in copies.strokes)
    assert copies.sources.shape == (12, 28, 28) and copies.sources.max() > 0.9
    again = canvas_training_digits(digits, 2, seed=3, progress=quiet)
    assert np.array_equal(copies.sources, again.sources)


def test_a_quick_run_trains_on_collected_samples_too(tmp_path):
    collected, _labels = collected_from_store(str(tmp_path / "store"), 4)
    report = train(QUICK, tmp_path / "models", collected, progress=quiet)
    assert report["data"]["collected"] == 4
    assert report["data"]["train"] == QUICK.limit + 4
    assert report["data"]["cnn_train"] == QUICK.limit * (1 + QUICK.canvas_copies) + 4
    assert (tmp_path / "models" / "cnn.npz").is_file()


def test_a_quick_run_trains_the_not_a_digit_classifier_on_its_models(quick_run):
    from digitrec.notdigit import CLASSES, Refusal

    report, out = quick_run
    refusal = Refusal.load(out / "notdigit.npz")
    assert refusal.w2.shape[1] == len(CLASSES) and 0.0 <= refusal.threshold <= 0.5
    classifier = report["not_a_digit_classifier"]
    assert classifier["threshold"] == pytest.approx(refusal.threshold, abs=1e-4)
    assert classifier["segments"]["fit"] > 0 and classifier["segments"]["held_out"] > 0
