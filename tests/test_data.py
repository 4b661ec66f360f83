"""The bootstrap digits and the split rule of CONTRACT.md."""

from __future__ import annotations

import numpy as np

from digitrec.data import BOOTSTRAP, load_split


def test_split_sizes():
    train, test = load_split("train"), load_split("test")
    assert len(train) + len(test) == 10_000
    assert 1990 <= len(test) <= 2000  # a fifth of each digit's samples, rounded down
    assert len(load_split("fit")) + len(load_split("validation")) == len(train)


def test_test_split_is_every_fifth_sample_of_each_digit():
    with np.load(BOOTSTRAP) as data:
        index, is_test = data["index"], data["is_test"]
    np.testing.assert_array_equal(is_test, index % 5 == 4)


def test_validation_is_carved_from_train_never_from_test():
    train = load_split("train")
    validation = load_split("validation")
    test = load_split("test")
    train_rows = {image.tobytes() for image in train.images}
    assert all(image.tobytes() in train_rows for image in validation.images)
    overlap = sum(image.tobytes() in train_rows for image in test.images)
    assert overlap <= 2  # MNIST has a few exact duplicates; the split itself never shares samples


def test_images_are_float_ink_one_and_labels_0_to_9():
    digits = load_split("test")
    assert digits.images.dtype == np.float32 and digits.images.shape[1:] == (28, 28)
    assert digits.images.max() == 1.0 and digits.images.min() == 0.0
    assert set(np.unique(digits.labels)) == set(range(10))


def test_validation_split_is_the_same_every_time():
    np.testing.assert_array_equal(load_split("validation").labels, load_split("validation").labels)
