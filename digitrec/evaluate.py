"""Scoring the models: accuracy per model and per class, confusion matrices, canvas robustness.

`evaluate_split` is what `python -m digitrec evaluate --json` prints (CONTRACT.md):
the four models and the answer rule on a split of the bootstrap digits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from digitrec.canvas import STYLES, render_ink
from digitrec.data import Digits, load_split
from digitrec.drawing import DrawingError, preprocess_ink
from digitrec.fnn import FNN

CLASSES = 10


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose most likely class is the label; probs (N, 10), labels (N,)."""
    return float(np.mean(np.argmax(probs, axis=1) == labels)) if len(labels) else 0.0


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """int (10, 10): row = true digit, column = predicted digit."""
    matrix = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> dict[str, float]:
    """{"0": accuracy on the true 0s, ...} from a confusion matrix (digits absent are skipped)."""
    totals = matrix.sum(axis=1)
    return {str(d): round(float(matrix[d, d] / totals[d]), 4) for d in range(CLASSES) if totals[d]}


class TrainedModels:
    """An FNN and CNN weights, scoring batches (N, 28, 28) -> probs with the served CNN functions."""

    def __init__(self, fnn: FNN, cnn_weights: list[np.ndarray]):
        from digitrec.cnn import CNNFunctions  # TensorFlow only when a CNN is scored

        self.fnn = fnn
        self._cnn = CNNFunctions(cnn_weights)
        self._cnn_tensors = self._cnn.tensors(cnn_weights)

    def probabilities(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Images float32 (N, 28, 28), ink = 1.0 -> {"fnn": (N, 10), "cnn": (N, 10)}."""
        return {
            "fnn": self.fnn(images.reshape(len(images), -1)),
            "cnn": self._cnn.probabilities(self._cnn_tensors, images),
        }


def score_models(models: TrainedModels, images: np.ndarray, labels: np.ndarray) -> dict[str, dict]:
    """Per model: test_accuracy, per_class_accuracy and the confusion matrix (a list of rows)."""
    scores = {}
    for name, probs in models.probabilities(images).items():
        matrix = confusion_matrix(np.argmax(probs, axis=1), labels)
        scores[name] = {
            "test_accuracy": round(accuracy(probs, labels), 4),
            "per_class_accuracy": per_class_accuracy(matrix),
            "confusion": matrix.tolist(),
        }
    return scores


def canvas_robustness(
    models: TrainedModels,
    digits: Digits,
    styles: dict[str, dict] = STYLES,
    progress: Callable[..., Iterable] = lambda items, **_: items,
) -> dict[str, Any]:
    """Accuracy of each model on `digits` drawn on a canvas in each style, then preprocessed.

    {"count": N, "styles": {style: {"fnn": acc, "cnn": acc}}, "spread": {"fnn": best - worst, ...}}.
    """
    results = {}
    for name in progress(list(styles), desc="canvas styles", leave=False):
        images = np.stack([_drawn(image, styles[name]) for image in digits.images])
        probs = models.probabilities(images)
        results[name] = {model: round(accuracy(p, digits.labels), 4) for model, p in probs.items()}
    spread = {
        model: round(max(r[model] for r in results.values()) - min(r[model] for r in results.values()), 4)
        for model in ("fnn", "cnn")
    }
    return {"count": len(digits), "styles": results, "spread": spread}


def _drawn(image28: np.ndarray, style: dict) -> np.ndarray:
    """One digit drawn in `style` and preprocessed as serving does (blank if nothing survives)."""
    try:
        return preprocess_ink(render_ink(image28, **style))
    except DrawingError:
        return np.zeros((28, 28), np.float32)


def load_recognizer(settings: Any = None) -> Any:
    """A Recognizer with the shipped models and the store's latest updated ones (or the originals)."""
    from digitrec.config import Settings
    from digitrec.recognizer import Recognizer
    from digitrec.store import ModelHistory, open_blob_store
    from digitrec.weights import load_shipped

    settings = settings or Settings.from_env()
    recognizer = Recognizer(load_shipped(settings.models_dir))
    recognizer.follow(ModelHistory(open_blob_store(settings.store, settings.s3_endpoint_url)), force=True)
    return recognizer


def evaluate_split(split: str = "test", settings: Any = None) -> dict[str, Any]:
    """CONTRACT.md's evaluate JSON: accuracy of the four models and of the answer rule on `split`.

    "fnn_updated"/"cnn_updated" are the latest updated weights in the store (settings.store),
    or the originals when the store has none.
    """
    from digitrec.answer import decide

    digits = load_split(split)
    images = np.stack([preprocess_ink(image) for image in digits.images])
    probs = load_recognizer(settings).predict(images)
    answers = [decide({name: p[i] for name, p in probs.items()}).digit for i in range(len(digits))]
    result: dict[str, Any] = {"split": split, "n": len(digits)}
    result.update({name: round(accuracy(p, digits.labels), 4) for name, p in probs.items()})
    correct = [answer == int(label) for answer, label in zip(answers, digits.labels, strict=True)]
    result["answer"] = round(float(np.mean(correct)), 4)
    return result


# --- canvas drawings read as served: not-a-digit, splitting, styles ----------------------------

NONDIGIT_SEED = 7  # the reported non-digits (the classifier learns from seed 1000 on)
DIGIT_SEED = 7  # the random canvas styles of the reported test-split digits


def read_canvas(models: TrainedModels, inks: list[np.ndarray], refusal: Any = None) -> list[dict[str, Any]]:
    """Canvas drawings (H, W) read as service.predict reads them, with `models` as the original and
    the updated models -> per drawing {"answer": str | None, "message", "segments": K,
    "fnn": digit, "cnn": digit (of the first segment)}."""
    from digitrec import answer, notdigit

    looked = [notdigit.segment_looks(ink) for ink in inks]  # (looks, model inputs) per drawing
    probs = models.probabilities(np.concatenate([images for _, images in looked]))
    results, start = [], 0
    for looks, _ in looked:
        fnn, cnn = probs["fnn"][start : start + len(looks)], probs["cnn"][start : start + len(looks)]
        start += len(looks)
        reasons = notdigit.refusals(looks, len(looks), refusal)
        verdicts = [
            answer.decide(
                {"fnn": f, "cnn": c, "fnn_updated": f, "cnn_updated": c},
                shaped=look.shaped,
                refusal=reason,
            )
            for f, c, look, reason in zip(fnn, cnn, looks, reasons, strict=True)
        ]
        text, message = answer.combine(verdicts)
        results.append(
            {
                "answer": text,
                "message": message,
                "segments": len(looks),
                "fnn": int(np.argmax(fnn[0])),
                "cnn": int(np.argmax(cnn[0])),
            }
        )
    return results


def not_a_digit_report(
    models: TrainedModels, digits: Digits, nondigit_count: int, refusal: Any = None, misses: bool = False
) -> dict[str, Any]:
    """Refusals of non-digits per family (nondigits.py, NONDIGIT_SEED) and of `digits` drawn in random
    canvas styles (DIGIT_SEED): {"nondigits": {...}, "digits": {...}}.

    misses: also list each digit not read right ({"position" in `digits`, "digit", and its reading)
    under "digits"."""
    from digitrec.nondigits import FAMILIES, canvas_digits, nondigit_drawings

    drawings = nondigit_drawings(nondigit_count, seed=NONDIGIT_SEED)
    read = read_canvas(models, [d.ink for d in drawings], refusal)
    families = {}
    for family in FAMILIES:
        mine = [r for d, r in zip(drawings, read, strict=True) if d.kind == family]
        families[family] = round(float(np.mean([r["answer"] is None for r in mine])), 4)
    refused = np.mean([r["answer"] is None for r in read])
    digit_reads = read_canvas(models, canvas_digits(digits.images, seed=DIGIT_SEED), refusal)
    labels = [str(label) for label in digits.labels]
    report = {
        "nondigits": {"count": len(drawings), "refused": round(float(refused), 4), "families": families},
        "digits": {
            "count": len(digits),
            "falsely_refused": round(float(np.mean([r["answer"] is None for r in digit_reads])), 4),
            "answer": round(
                float(np.mean([r["answer"] == y for r, y in zip(digit_reads, labels, strict=True)])), 4
            ),
            "split": round(float(np.mean([r["segments"] > 1 for r in digit_reads])), 4),
            "fnn": round(
                float(np.mean([r["fnn"] == int(y) for r, y in zip(digit_reads, labels, strict=True)])), 4
            ),
            "cnn": round(
                float(np.mean([r["cnn"] == int(y) for r, y in zip(digit_reads, labels, strict=True)])), 4
            ),
        },
        "examples": {
            family: next(r["message"] for d, r in zip(drawings, read, strict=True) if d.kind == family)
            for family in FAMILIES
        },
    }
    if misses:
        report["digits"]["misses"] = [
            {"position": i, "digit": int(y), **r}
            for i, (r, y) in enumerate(zip(digit_reads, labels, strict=True))
            if r["answer"] != y
        ]
    return report
