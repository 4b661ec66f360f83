"""The four models in memory: the shipped originals and the latest updated version.

The updated models are one immutable `Snapshot`; a new version replaces the
whole snapshot with a single reference assignment, so a prediction reads one
consistent version without taking any lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import tensorflow as tf

from digitrec.cnn import CNNFunctions
from digitrec.store import ModelHistory
from digitrec.weights import ModelWeights

MODEL_NAMES = ("fnn", "fnn_updated", "cnn", "cnn_updated")
T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    """One model version: its number, its weights, and the CNN weights as ready tensors."""

    version: int
    weights: ModelWeights
    cnn_tensors: list[tf.Tensor]


class Recognizer:
    """Runs the original and updated FNN and CNN on a batch; follows the published versions."""

    def __init__(
        self, originals: ModelWeights, follow_interval: float = 0.0, cnn: CNNFunctions | None = None
    ):
        """`cnn`: compiled functions built on these originals, to share between instances."""
        self.originals = originals
        self.follow_interval = follow_interval
        self.cnn = cnn or CNNFunctions(originals.cnn)
        self.original_snapshot = Snapshot(0, originals, self.cnn.original)
        self._snapshot = self.original_snapshot
        self._install_lock = threading.Lock()
        self._follow_lock = threading.Lock()
        self._next_check = 0.0  # time.monotonic() of the next store check
        self.predict(np.zeros((1, 28, 28), np.float32))  # trace the graph now, not on a user's request

    @property
    def snapshot(self) -> Snapshot:
        """The current updated models (read once and keep it for a consistent view)."""
        return self._snapshot

    def predict(self, images: np.ndarray, snapshot: Snapshot | None = None) -> dict[str, np.ndarray]:
        """Images float32 (N, 28, 28), ink = 1.0 -> {model name: probabilities (N, 10)}."""
        return self.predict_with(images, lambda: None, snapshot)[0]

    def predict_with(
        self, images: np.ndarray, work: Callable[[], T], snapshot: Snapshot | None = None
    ) -> tuple[dict[str, np.ndarray], T]:
        """`predict(images)` and `work()`: (probabilities by model, work's result)."""
        snapshot = snapshot or self._snapshot
        # Until a correction is learned (and after a reset) an updated model is its original, so
        # each model runs once instead of twice.
        if snapshot.cnn_tensors is self.cnn.original:
            cnn = cnn_updated = self.cnn.probabilities(self.cnn.original, images)
        else:
            cnn, cnn_updated = self.cnn.infer(images, snapshot.cnn_tensors)
        flat = images.reshape(len(images), -1)
        fnn = self.originals.fnn(flat)
        fnn_updated = fnn if snapshot.weights.fnn is self.originals.fnn else snapshot.weights.fnn(flat)
        probs = {"fnn": fnn, "fnn_updated": fnn_updated, "cnn": cnn, "cnn_updated": cnn_updated}
        return probs, work()

    def make_snapshot(self, version: int, weights: ModelWeights) -> Snapshot:
        """A snapshot of `weights` (checked against the originals' shapes) as `version`."""
        weights.check_like(self.originals)
        return Snapshot(version, weights, self.cnn.tensors(weights.cnn))

    def install(self, snapshot: Snapshot) -> bool:
        """Make `snapshot` current if it is newer than the current one; whether it was."""
        with self._install_lock:
            if snapshot.version <= self._snapshot.version:
                return False
            self._snapshot = snapshot
            return True

    def follow(self, history: ModelHistory, force: bool = False) -> Snapshot:
        """Load the latest published version if there is a newer one; the current snapshot.

        Unless `force`d, the store is asked at most once per `follow_interval` seconds and
        by one thread at a time (others keep predicting on the current snapshot).
        Store errors (StoreUnavailable) propagate; the current snapshot stays.
        """
        now = time.monotonic()
        if not force and now < self._next_check:
            return self._snapshot
        if not self._follow_lock.acquire(blocking=force):
            return self._snapshot
        try:
            self._next_check = now + self.follow_interval
            latest = history.latest()
            if latest > self._snapshot.version:
                self.install(self._load(history, latest))
            return self._snapshot
        finally:
            self._follow_lock.release()

    def _load(self, history: ModelHistory, version: int) -> Snapshot:
        record = history.get(version)
        if record.weights_key is None:  # a reset: the originals under a new number
            return Snapshot(version, self.originals, self.original_snapshot.cnn_tensors)
        return self.make_snapshot(version, ModelWeights.from_bytes(history.weights(version)))
