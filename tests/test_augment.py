"""Augmentation: the original's 24 variants and the offline-training distortions."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.augment import (
    ORIGINAL_ANGLES,
    distort_ink,
    original_transforms,
    original_variants,
    training_images,
)
from digitrec.config import ROOT
from digitrec.data import load_split
from digitrec.drawing import stroke_points
from digitrec.evaluate import accuracy
from digitrec.fnn import FNN


@pytest.fixture(scope="module")
def inks() -> np.ndarray:
    return load_split("test").images[:5]


@pytest.fixture(scope="module")
def strokes(inks) -> list[np.ndarray]:
    return [stroke_points(image) for image in inks]


def test_original_rule_gives_24_images_of_28x28(strokes):
    images = original_variants(strokes[0], np.random.default_rng(0))
    assert images.shape == (24, 28, 28) and images.dtype == np.float32
    assert all(image.max() > 0.5 for image in images)


def test_original_angles_are_six_distinct_per_size(strokes):
    transforms = original_transforms(strokes[0], np.random.default_rng(3))
    # Each transform is rotation @ diagonal scale: the angle is recoverable from its first column.
    angles = np.rad2deg(np.arctan2(transforms[:, 1, 0], transforms[:, 0, 0]))
    for size in range(4):
        chosen = np.round(angles[size * 6 : size * 6 + 6]).astype(int)
        assert len(set(chosen)) == 6
        assert set(chosen) <= set(ORIGINAL_ANGLES.tolist())


def test_same_seed_same_variants_other_seed_different(strokes):
    first = original_variants(strokes[1], np.random.default_rng(7))
    again = original_variants(strokes[1], np.random.default_rng(7))
    other = original_variants(strokes[1], np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_training_images_keep_one_image_per_label_in_order(strokes):
    images = training_images(strokes, np.random.default_rng(0))
    assert images.shape == (len(strokes), 28, 28)
    clean = training_images(strokes, np.random.default_rng(0), distort=False)
    # A distortion is mild: each image stays closest to its own clean rendering, so labels still hold.
    distances = np.abs(images[:, None] - clean[None]).mean(axis=(2, 3))
    assert (distances.argmin(axis=1) == np.arange(len(strokes))).all()


def test_training_images_are_seeded(strokes):
    np.testing.assert_array_equal(
        training_images(strokes, np.random.default_rng(5)),
        training_images(strokes, np.random.default_rng(5)),
    )


def test_distort_ink_is_seeded_and_can_thicken_or_thin_the_pen(inks):
    first = distort_ink(inks[0], np.random.default_rng(2))
    np.testing.assert_array_equal(first, distort_ink(inks[0], np.random.default_rng(2)))
    assert first.shape == inks[0].shape and first.min() >= 0.0 and first.max() <= 1.0
    assert not np.array_equal(first, inks[0])
    unmoved = {"alpha": 0.0, "thicker": 0.0, "thinner": 0.0}
    np.testing.assert_allclose(distort_ink(inks[0], np.random.default_rng(2), **unmoved), inks[0], atol=1e-6)
    thicker = distort_ink(inks[0], np.random.default_rng(2), alpha=0.0, thicker=1.0)
    thinner = distort_ink(inks[0], np.random.default_rng(2), alpha=0.0, thicker=0.0, thinner=1.0)
    assert thinner.sum() < inks[0].sum() < thicker.sum()


def test_training_images_from_distorted_ink_are_seeded_and_keep_their_labels():
    fit = load_split("fit")
    digits = fit.subset(np.linspace(0, len(fit) - 1, 200).astype(int))  # all ten classes
    strokes = [stroke_points(image) for image in digits.images]
    images = training_images(strokes, np.random.default_rng(0), inks=digits.images)
    again = training_images(strokes, np.random.default_rng(0), inks=digits.images)
    np.testing.assert_array_equal(images, again)
    assert not np.array_equal(images, training_images(strokes, np.random.default_rng(0)))
    # The shipped FNN (97% on clean test digits) still reads them (~92-95%), where
    # label-destroying distortions would fall far lower.
    fnn = FNN.load(ROOT / "models" / "fnn.npz")
    assert accuracy(fnn(images.reshape(len(images), -1)), digits.labels) >= 0.85
