"""Augmentation: the original's 24 variants and the offline-training distortions."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.augment import ORIGINAL_ANGLES, original_transforms, original_variants, training_images
from digitrec.data import load_split
from digitrec.drawing import stroke_points


@pytest.fixture(scope="module")
def strokes() -> list[np.ndarray]:
    digits = load_split("test")
    return [stroke_points(image) for image in digits.images[:5]]


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
