"""Online learning: one guarded step of both updated models per correction, published as a version.

store sample (service) -> augment into 24 -> one FNN SGD step + one CNN RMSProp step
-> canary check -> publish version N+1 (retry on a lost race) -> recognizer swaps it in.
The FNN's step and canary run on a second thread beside the CNN's, and the stepped
weights are uploaded while the CNN's canary runs; publishing is then one small write.

The step starts from the latest published version, never from the originals, and
is a pure function of (weights, batch): a writer that lost the publish race to
another worker reloads the winner's version and re-applies the same batch.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from digitrec.augment import original_variants
from digitrec.config import Settings
from digitrec.data import Digits, load_split
from digitrec.drawing import pixel_image, redrawn
from digitrec.fnn import FNN
from digitrec.recognizer import Recognizer, Snapshot
from digitrec.store import ModelHistory
from digitrec.store.versions import StagedWeights
from digitrec.weights import ModelWeights

CONTENTION_MEMORY = 10.0  # seconds after another writer was seen that this one keeps taking turns
CANARY_SEED = 4  # which test-split digits form the canary; fixed so every worker scores the same set
REPLAY_SEED = 5
MODELS = ("fnn_updated", "cnn_updated")
VARIANTS = 24  # augmented images per corrected digit (augment.original_variants)


def _preprocessed_subset(split: str, size: int, seed: int) -> Digits:
    """`size` digits of `split` in the two renderings the models serve, alternating: (size, 28, 28).

    Even positions are redrawn (as a canvas drawing of the digit is served), odd ones
    keep their pixels (as the 28x28 digit itself is served), so a check or a rehearsal
    of any size covers both.
    """
    digits = load_split(split)
    index = np.random.default_rng(seed).permutation(len(digits))[:size]
    renderings = (redrawn, pixel_image)
    images = [renderings[k % 2](image) for k, image in enumerate(digits.images[index])]
    return Digits(np.stack(images), digits.labels[index])


def load_canary(size: int) -> Digits:
    """`size` test-split digits in the served renderings (see _preprocessed_subset): (size, 28, 28)."""
    return _preprocessed_subset("test", size, CANARY_SEED)


def load_replay(size: int) -> Digits:
    """`size` training digits, rendered likewise, rehearsed alongside each correction: (size, 28, 28)."""
    return _preprocessed_subset("fit", size, REPLAY_SEED)


@dataclass(frozen=True)
class Correction:
    """What the user taught: each digit's centre line (see drawing.stroke_points) and its label."""

    strokes: list[np.ndarray]
    digits: list[int]
    sample_ids: list[str]
    predicted: list[int | None]  # what the updated models answered before learning


@dataclass(frozen=True)
class LearnOutcome:
    """accepted: a new version was published; else `message` says why not."""

    accepted: bool
    version: int
    accuracy: dict[str, float]
    message: str


class PublishRaceLost(RuntimeError):
    """Other workers kept publishing first; the sample is stored but this update was not applied."""


class OnlineLearner:
    """Applies corrections to the updated models, one at a time per process."""

    def __init__(
        self,
        recognizer: Recognizer,
        history: ModelHistory,
        settings: Settings,
        canary: Digits,
        replay: Digits,
        rng: np.random.Generator | None = None,
    ):
        self.recognizer = recognizer
        self.history = history
        self.settings = settings
        self.canary = canary
        self.replay = replay
        self.rng = rng or np.random.default_rng()
        self._helper = ThreadPoolExecutor(1, thread_name_prefix="online-fnn")  # the step's second core
        self.lock = threading.Lock()  # learning and publishing only; predictions never take it
        originals = recognizer.original_snapshot
        cnn_probs = recognizer.cnn.probabilities(originals.cnn_tensors, canary.images)
        self.baseline, self._baseline_confidence = self._rate(
            {"fnn_updated": self._fnn_canary(originals.weights.fnn), "cnn_updated": cnn_probs}
        )
        quick = settings.canary_quick_size  # what _cnn_canary compares the first `quick` digits with
        self._quick_baseline = _rated(cnn_probs[:quick], canary.labels[:quick]) if quick else (0.0, 0.0)
        self._scores: dict[int, dict[str, float]] = {}  # canary accuracy by version (this store's)
        self._last_won = 0  # the version this learner published last
        self._contended_until = 0.0  # monotonic time until which other writers count as active
        self._turn_at = 0.0  # monotonic time before which this learner lets the others try
        self.recognizer.cnn.step(originals.cnn_tensors, canary.images[:2], canary.labels[:2], 0.0)  # trace

    def score(self, snapshot: Snapshot) -> dict[str, float]:
        """Canary accuracy of a snapshot's models: {"fnn_updated": .., "cnn_updated": ..}."""
        return self._measure(snapshot)[0]

    def _measure(self, snapshot: Snapshot) -> tuple[dict[str, float], dict[str, float]]:
        """Canary accuracy and confidence (mean probability of the true digit) of each model."""
        return self._rate(
            {
                "fnn_updated": self._fnn_canary(snapshot.weights.fnn),
                "cnn_updated": self.recognizer.cnn.probabilities(snapshot.cnn_tensors, self.canary.images),
            }
        )

    def _fnn_canary(self, fnn: FNN) -> np.ndarray:
        return fnn(self.canary.images.reshape(len(self.canary.images), -1))

    def _rate(self, probs: dict[str, np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
        rated = {name: _rated(p, self.canary.labels) for name, p in probs.items()}
        return {name: r[0] for name, r in rated.items()}, {name: r[1] for name, r in rated.items()}

    def _cnn_canary(self, weights: list[tf.Tensor]) -> tuple[float, float]:
        """The CNN's canary accuracy and confidence, scoring the first `canary_quick_size` digits first.

        An update that stays within half of each bound on those is rated by the paired
        estimate (the originals' score on the whole canary, less what it lost on those
        digits); only one that comes closer to a bound is scored on every digit. Most
        corrections stop there at about half the cost; a flood runs at the bound and pays
        in full.
        """
        images, labels, quick = self.canary.images, self.canary.labels, self.settings.canary_quick_size
        if not 0 < quick < len(labels):
            return _rated(self.recognizer.cnn.probabilities(weights, images), labels)
        first = self.recognizer.cnn.probabilities(weights, images[:quick])
        accuracy, confidence = _rated(first, labels[:quick])
        drop, confidence_drop = self._quick_baseline[0] - accuracy, self._quick_baseline[1] - confidence
        s, name = self.settings, "cnn_updated"
        if drop <= s.canary_max_drop / 2 and confidence_drop <= s.canary_max_confidence_drop / 2:
            return round(self.baseline[name] - drop, 4), self._baseline_confidence[name] - confidence_drop
        rest = self.recognizer.cnn.probabilities(weights, images[quick:])
        return _rated(np.concatenate([first, rest]), labels)

    def _passes(self, accuracy: dict[str, float], confidence: dict[str, float], name: str) -> bool:
        # Accuracy alone can be gamed: many small harmful steps that flip no canary digit add
        # up unseen. The true digit's probability moves with every step, so it is bounded too.
        s = self.settings
        return (
            self.baseline[name] - accuracy[name] <= s.canary_max_drop
            and self._baseline_confidence[name] - confidence[name] <= s.canary_max_confidence_drop
        )

    def training_batch(self, strokes: list[np.ndarray], digits: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Each digit's 24 augmented variants, then rehearsed training digits.

        images (24 * K + R, 28, 28), labels (24 * K + R,), R the larger replay size.
        Rehearsal keeps a step from forgetting everyone else's digits while it learns
        this user's style.
        """
        images = np.concatenate([original_variants(points, self.rng) for points in strokes])
        labels = np.repeat(np.asarray(digits, np.int32), len(images) // len(digits))
        size = max(self.settings.fnn_replay_size, self.settings.cnn_replay_size)
        rehearse = self.rng.choice(len(self.replay), min(size, len(self.replay)), replace=False)
        return (
            np.concatenate([images, self.replay.images[rehearse]]),
            np.concatenate([labels, self.replay.labels[rehearse]]),
        )

    def step(
        self, base: Snapshot, images: np.ndarray, labels: np.ndarray, taught: int
    ) -> tuple[Snapshot, dict[str, float], dict[str, float], StagedWeights]:
        """One FNN SGD step and one CNN RMSProp step from `base` on a training batch, checked.

        Returns the stepped snapshot (version base + 1), its canary accuracy and confidence,
        and its weights already uploaded for publishing. `taught`: how many leading images
        are the correction's; each model rehearses its own number of the digits after them.
        The FNN's step and canary, then the upload, run on a second thread while the CNN's
        run on this one: numpy and TensorFlow release the GIL, so the two use two cores.
        """
        s = self.settings
        fnn_job = self._helper.submit(self._fnn_step, base.weights.fnn, images, labels, taught)
        rehearsed = min(s.cnn_replay_size, len(images) - taught)
        stepped_cnn, _loss = self.recognizer.cnn.step(
            base.cnn_tensors,
            images[: taught + rehearsed],
            labels[: taught + rehearsed],
            s.cnn_learning_rate,
            rehearsal_weights(taught, rehearsed, s.cnn_replay_weight),
        )
        staged_job = self._helper.submit(self._stage, base.version + 1, fnn_job, stepped_cnn)
        cnn_rated = self._cnn_canary(stepped_cnn)
        fnn, fnn_probs = fnn_job.result()
        fnn_rated = _rated(fnn_probs, self.canary.labels)
        accuracy = {"fnn_updated": fnn_rated[0], "cnn_updated": cnn_rated[0]}
        confidence = {"fnn_updated": fnn_rated[1], "cnn_updated": cnn_rated[1]}
        staged, weights = staged_job.result()
        snapshot = Snapshot(base.version + 1, weights.check_like(self.recognizer.originals), stepped_cnn)
        return snapshot, accuracy, confidence, staged

    def _fnn_step(
        self, fnn: FNN, images: np.ndarray, labels: np.ndarray, taught: int
    ) -> tuple[FNN, np.ndarray]:
        """`fnn` one SGD step on, and its canary probabilities (canary size, 10).

        The loss weighs the rehearsed digits as in the CNN's step (`rehearsal_weights`); with
        none rehearsed it is the plain mean over the correction's images.
        """
        s = self.settings
        rehearsed = min(s.fnn_replay_size, len(images) - taught)
        rows = slice(0, taught + rehearsed)
        grads = fnn.weighted_gradients(
            images[rows].reshape(taught + rehearsed, -1),
            labels[rows],
            s.fnn_l2,
            rehearsal_weights(taught, rehearsed, s.fnn_replay_weight if rehearsed else 0.0),
        )
        stepped = FNN({name: value - s.fnn_learning_rate * grads[name] for name, value in fnn.params.items()})
        return stepped, self._fnn_canary(stepped)

    def _stage(
        self, version: int, fnn_job: Future, cnn: list[tf.Tensor]
    ) -> tuple[StagedWeights, ModelWeights]:
        """The stepped weights (CNN tensors copied to arrays here), uploaded for `version`.

        Done beside the CNN's canary, this takes the copies and the ~6.5 MB write off the
        critical path; a refused or combined update deletes the upload again.
        """
        weights = ModelWeights(fnn_job.result()[0], [w.numpy() for w in cnn])
        return self.history.stage(version, weights.to_bytes()), weights

    def learn(self, correction: Correction) -> LearnOutcome:
        """Train on a stored correction and publish the result (or refuse it); see the module doc.

        The canary check is per model: a model whose step would fall more than
        `canary_max_drop` below the originals in accuracy (or `canary_max_confidence_drop`
        in the mean probability it gives the true digit) keeps its previous weights; if both would,
        the update is refused and recorded. Raises StoreUnavailable if the store fails,
        PublishRaceLost after too many lost races.
        """
        taught = VARIANTS * len(correction.digits)
        with self.lock:
            images, labels = self.training_batch(correction.strokes, correction.digits)  # rng: one thread
            for _attempt in range(self.settings.publish_retries):
                self._take_turns()
                started = time.monotonic()
                base = self.recognizer.follow(self.history, force=True)
                if base.version != self._last_won:
                    self._contended_until = started + CONTENTION_MEMORY
                stepped, stepped_accuracy, confidence, staged = self.step(base, images, labels, taught)
                learned = [name for name in MODELS if self._passes(stepped_accuracy, confidence, name)]
                if len(learned) < len(MODELS):
                    self.history.discard(staged)
                if not learned:
                    return self._refuse(correction, base, stepped_accuracy)
                candidate, accuracy = self._combine(base, stepped, stepped_accuracy, learned)
                record = self.history.publish(
                    base.version,
                    staged if len(learned) == len(MODELS) else candidate.weights.to_bytes(),
                    {**self._info(correction, accuracy), "learned": learned},
                )
                if record is not None:
                    self._won(record.version, time.monotonic() - started)
                    self._scores[record.version] = accuracy
                    self.recognizer.install(candidate)
                    return LearnOutcome(True, record.version, accuracy, _taught(correction.digits))
                time.sleep(random.uniform(0.0, 0.02))  # another worker won: let it finish, then re-apply
        raise PublishRaceLost("Too many corrections arrived at once; yours is saved but was not applied.")

    def _won(self, version: int, took: float) -> None:
        # The winner starts its next attempt on the new version before the losers even know
        # they lost, and would win again and again: while others are active, it sits one out.
        self._last_won = version
        if time.monotonic() < self._contended_until:
            self._turn_at = time.monotonic() + took * random.uniform(0.5, 1.0)

    def _take_turns(self) -> None:
        wait = self._turn_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _combine(
        self, base: Snapshot, stepped: Snapshot, stepped_accuracy: dict[str, float], learned: list[str]
    ) -> tuple[Snapshot, dict[str, float]]:
        """The stepped models that passed the canary, the base's for the others; and their accuracy."""
        if len(learned) == len(MODELS):
            return stepped, stepped_accuracy
        base_accuracy = self._score_of(base)
        fnn = stepped if "fnn_updated" in learned else base
        cnn = stepped if "cnn_updated" in learned else base
        weights = ModelWeights(fnn.weights.fnn, cnn.weights.cnn)
        accuracy = {name: (stepped_accuracy if name in learned else base_accuracy)[name] for name in MODELS}
        return Snapshot(stepped.version, weights, cnn.cnn_tensors), accuracy

    def _score_of(self, snapshot: Snapshot) -> dict[str, float]:
        if snapshot.version not in self._scores:
            self._scores[snapshot.version] = self.score(snapshot)
        return self._scores[snapshot.version]

    def _info(self, correction: Correction, accuracy: dict[str, float]) -> dict:
        return {
            "sample_id": correction.sample_ids[0],
            "digit": correction.digits[0],
            "sample_ids": correction.sample_ids,
            "digits": correction.digits,
            "predicted": correction.predicted,
            "accuracy": accuracy,
        }

    def _refuse(self, correction: Correction, base: Snapshot, accuracy: dict[str, float]) -> LearnOutcome:
        self.history.record_event(
            {
                "event": "update_refused",
                "parent": base.version,
                "baseline": self.baseline,
                "max_drop": self.settings.canary_max_drop,
                **self._info(correction, accuracy),
            }
        )
        return LearnOutcome(
            False,
            base.version,
            accuracy,
            "Thanks, your drawing is saved. The models did not learn from it this time: "
            "the update would have made them worse at recognising other people's digits.",
        )


def _rated(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy (rounded to 4 places) and mean probability of the true digit, of probs (N, 10)."""
    accuracy = round(float(np.mean(probs.argmax(1) == labels)), 4)
    return accuracy, float(np.mean(probs[np.arange(len(labels)), labels]))


def rehearsal_weights(taught: int, rehearsed: int, stands_for: float) -> np.ndarray:
    """Loss weights (taught + rehearsed,): each taught image counts once and the `rehearsed`
    digits together count as `stands_for` training digits, out of taught + stands_for."""
    weights = np.ones(taught + rehearsed, np.float32)
    weights[taught:] = stands_for / max(rehearsed, 1)
    return weights / (taught + stands_for)


def _taught(digits: list[int]) -> str:
    label = "".join(str(d) for d in digits)
    return f"Thanks! The updated models learned that this is {'a ' if len(digits) == 1 else ''}{label}."
