"""Offline training of both models (`python -m digitrec train`), seeded and reproducible.

Sections: the training data (centre lines and pixels); the images of each epoch,
both renderings of every digit (half of each freshly distorted); the FNN grid
search on the validation set; the CNN; the report (`models/report.json`), the weights and the plots.

The test split is only scored at the end; hyperparameters, epochs and the
recipe are chosen on the validation set carved from train (`data.load_split`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from digitrec import evaluate, plots
from digitrec.augment import pixel_training_images, training_images
from digitrec.data import Digits, load_split, validation_mask
from digitrec.drawing import (
    DrawingError,
    decode_image,
    pixel_image,
    preprocess_ink,
    render_strokes,
    stroke_points,
)
from digitrec.fnn import FNN

Progress = Callable[..., Iterable]


@dataclass(frozen=True)
class FNNHyperparameters:
    """One point of the FNN grid (epochs is the most the run may use; the best epoch is kept)."""

    hidden: int = 100
    learning_rate: float = 0.1
    l2: float = 0.001
    batch_size: int = 24
    epochs: int = 30
    decay: float = 0.95  # learning rate x decay after every epoch


@dataclass(frozen=True)
class CNNHyperparameters:
    """Adam with a cosine learning-rate decay; dropout as in build_cnn."""

    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 2e-3
    final_fraction: float = 0.02  # the learning rate ends at learning_rate * final_fraction
    ema_momentum: float | None = 0.999  # ship the moving average of the weights (steadier than the last step)


@dataclass(frozen=True)
class NotDigitConfig:
    """The not-a-digit classifier's data and training (notdigit.Refusal)."""

    seed: int = 2017
    digits: int = 8004  # train-split digits drawn in random canvas styles (all of them)...
    digit_copies: int = 2  # ...each in this many styles
    strings: int = 2000  # strings of 2-6 train-split digits side by side: their digits are digits too
    nondigits: int = 10000  # non-digit drawings of training seeds (nondigits.py)
    nondigit_seed: int = 1000  # the reported non-digits use other seeds (evaluate.NONDIGIT_SEED)
    hidden: int = 128
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 2e-3
    l2: float = 1e-4
    held_out: float = 0.15  # share of drawings held out to choose the threshold
    false_refusals: float = 0.002  # the threshold refuses this share of the held-out digits


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on besides the data."""

    seed: int = 2017
    fnn_grid: tuple[FNNHyperparameters, ...] = (
        FNNHyperparameters(hidden=512, learning_rate=0.1, l2=1e-4, epochs=40),
        FNNHyperparameters(hidden=512, learning_rate=0.1, l2=1e-5, epochs=40),
        FNNHyperparameters(hidden=800, learning_rate=0.1, l2=1e-5, epochs=40),
        FNNHyperparameters(hidden=800, learning_rate=0.05, l2=1e-5, epochs=40),
    )
    cnn: CNNHyperparameters = CNNHyperparameters()
    distorted_fraction: float = 0.5  # share of each epoch's images that are randomly distorted
    canvas_copies: int = 1  # the CNN also sees each train digit drawn this many times on a canvas
    limit: int | None = None  # use only the first `limit` train and test digits (smoke runs)
    refit: bool = True  # train the shipped models on all train digits once the grid has chosen
    robustness_count: int = 500  # test digits drawn in each canvas style
    weights_dtype: str = "float32"
    notdigit: NotDigitConfig = NotDigitConfig()  # the not-a-digit classifier


QUICK = TrainConfig(
    fnn_grid=(
        FNNHyperparameters(hidden=32, epochs=3),
        FNNHyperparameters(hidden=32, learning_rate=0.05, epochs=3),
    ),
    cnn=CNNHyperparameters(epochs=1),
    limit=300,
    robustness_count=10,
    notdigit=NotDigitConfig(digits=80, digit_copies=1, strings=10, nondigits=70, epochs=2),
)


@dataclass(frozen=True)
class TrainingDigits:
    """Training digits in the two forms drawing.py renders: centre lines and pixel sources.

    strokes: each digit's centre line (drawing.stroke_points); sources: float32 (N, 28, 28),
    what drawing.pixel_image renders each digit from (an MNIST digit itself, or a collected
    drawing's pixel rendering); labels: int32 (N,).
    """

    strokes: list[np.ndarray]
    sources: np.ndarray
    labels: np.ndarray

    @classmethod
    def from_digits(cls, digits: Digits) -> TrainingDigits:
        images = np.asarray(digits.images, np.float32)
        return cls([stroke_points(image) for image in images], images, digits.labels)

    def __add__(self, other: TrainingDigits) -> TrainingDigits:
        return TrainingDigits(
            self.strokes + other.strokes,
            np.concatenate([self.sources, other.sources]),
            np.concatenate([self.labels, other.labels]),
        )

    def __len__(self) -> int:
        return len(self.labels)

    def clean_images(self) -> np.ndarray:
        """Both renderings of every digit, undistorted: float32 (2N, 28, 28), all redrawn ones first."""
        redrawn = [render_strokes(points)[0] for points in self.strokes]
        return np.stack(redrawn + [pixel_image(source) for source in self.sources])


class EpochImages:
    """The training images of each epoch, float32 (2N, 28, 28), rendered once and shared.

    Every digit appears twice per epoch, redrawn (first N) and as pixels (last N); in
    each rendering epoch e distorts a random `fraction` of the digits (redrawn: rotation,
    aspect, shear, elastic; pixels: rotation, aspect, shear) and keeps the rest clean. It
    depends only on (seed, e), so every FNN of the grid and the CNN see the same images,
    and a rerun sees them again. `subset(rows)` is a view on some of the digits sharing
    the rendered epochs.
    """

    def __init__(self, data: TrainingDigits, seed: int, fraction: float):
        self.data = data
        self.seed = seed
        self.fraction = fraction
        self.rows = np.arange(len(data))
        self.clean = _to_uint8(data.clean_images())
        self._cache: dict[int, np.ndarray] = {}

    @property
    def labels(self) -> np.ndarray:
        """The labels of __getitem__'s images: (2N,)."""
        return np.tile(self.data.labels[self.rows], 2)

    def subset(self, rows: np.ndarray) -> EpochImages:
        view = copy.copy(self)  # shares the clean images and the rendered epochs
        view.rows = self.rows[rows]
        return view

    def clean_images(self) -> tuple[np.ndarray, np.ndarray]:
        """Both renderings of these digits, undistorted, and their labels: ((2N, 28, 28), (2N,))."""
        return self.clean[self._image_rows()].astype(np.float32) / 255.0, self.labels

    def __getitem__(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            rng = np.random.default_rng([self.seed, epoch])
            images = self.clean.copy()
            count = len(self.data)
            chosen = np.flatnonzero(rng.random(count) < self.fraction)
            if chosen.size:
                strokes = [self.data.strokes[i] for i in chosen]
                images[chosen] = _to_uint8(training_images(strokes, rng))
            chosen = np.flatnonzero(rng.random(count) < self.fraction)
            if chosen.size:
                images[count + chosen] = _to_uint8(pixel_training_images(self.data.sources[chosen], rng))
            self._cache[epoch] = images
        return self._cache[epoch][self._image_rows()].astype(np.float32) / 255.0

    def _image_rows(self) -> np.ndarray:
        return np.concatenate([self.rows, len(self.data) + self.rows])


def _to_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


# Canvas styles of the training copies: a little wider than canvas.random_style's defaults (pens of
# 2-20% of the height, widths 70-135%) so that the measured styles lie inside what was trained on.
TRAINING_PENS = (0.02, 0.20)
TRAINING_WIDTHS = (0.70, 1.35)


def canvas_training_digits(
    digits: Digits, copies: int, seed: int, progress: Progress = tqdm
) -> TrainingDigits:
    """Each digit drawn `copies` times on a canvas in a random style (canvas.random_style with
    TRAINING_PENS, TRAINING_WIDTHS): (copies x N) training digits, copy-major.

    A copy's centre line is the canvas drawing's, as served; its pixel source is the MNIST digit
    itself (a thin canvas pen shrunk to 28 px fades under the ink threshold).
    """
    from digitrec.canvas import random_style, render_ink

    rng = np.random.default_rng([seed, 11])
    strokes = []
    jobs = [image for _ in range(copies) for image in digits.images]
    for image in progress(jobs, desc="canvas copies", leave=False):
        style = random_style(rng, pens=TRAINING_PENS, widths=TRAINING_WIDTHS)
        strokes.append(stroke_points(render_ink(image, **style)))
    return TrainingDigits(
        strokes,
        np.tile(np.asarray(digits.images, np.float32), (copies, 1, 1)),
        np.tile(digits.labels, copies),
    )


def collected_digits(store: str, endpoint_url: str | None = None) -> TrainingDigits:
    """Every sample of the store at `store` (local dir or s3://) as training digits (unreadable: skipped)."""
    from digitrec.store import SampleStore, open_blob_store

    strokes, sources, labels = [], [], []
    for record, png in SampleStore(open_blob_store(store, endpoint_url)).all():
        try:
            ink = decode_image(png)
            strokes.append(stroke_points(ink))
            sources.append(pixel_image(ink))
        except DrawingError:
            continue
        labels.append(record.digit)
    return TrainingDigits(
        strokes, np.asarray(sources, np.float32).reshape(-1, 28, 28), np.asarray(labels, np.int32)
    )


# --- FNN -------------------------------------------------------------------------------------


@dataclass
class FNNRun:
    """One trained FNN of the grid: the net at its best validation epoch and its curves."""

    hyperparameters: FNNHyperparameters
    net: FNN
    best_epoch: int  # 1-based
    validation_accuracy: float | None
    history: list[dict[str, float]]


def train_fnn(
    hp: FNNHyperparameters,
    epochs: EpochImages,
    validation: tuple[np.ndarray, np.ndarray] | None,
    seed: int,
    progress: Progress = tqdm,
) -> FNNRun:
    """Minibatch SGD with learning-rate decay on (images (N, 28, 28), labels (N,)).

    With a validation set, keeps the epoch with the best validation accuracy; without, the last.
    """
    rng = np.random.default_rng(seed)
    net = FNN.initialise(hp.hidden, seed)
    labels = epochs.labels
    learning_rate, history = hp.learning_rate, []
    best: tuple[float | None, int, FNN] = (None, hp.epochs, net)
    bar = progress(range(hp.epochs), desc=f"FNN h={hp.hidden} lr={hp.learning_rate} l2={hp.l2}", leave=False)
    for epoch in bar:
        x = epochs[epoch].reshape(len(labels), -1)
        order = rng.permutation(len(labels))
        batches = ((x[i], labels[i]) for i in np.array_split(order, max(1, len(order) // hp.batch_size)))
        loss = net.fit(batches, learning_rate, hp.l2)
        learning_rate *= hp.decay
        record = {
            "epoch": epoch + 1,
            "loss": loss,
            "train_accuracy": evaluate.accuracy(net(x), labels),
        }
        history.append(record)
        if validation is None:
            continue
        score = evaluate.accuracy(net(validation[0].reshape(len(validation[0]), -1)), validation[1])
        record["validation_accuracy"] = score
        if best[0] is None or score > best[0]:
            best = (score, epoch + 1, FNN({name: value.copy() for name, value in net.params.items()}))
    return FNNRun(hp, best[2], best[1], best[0], history)


def grid_search_fnn(
    config: TrainConfig,
    epochs: EpochImages,
    validation: tuple[np.ndarray, np.ndarray],
    progress: Progress = tqdm,
) -> tuple[FNNRun, list[dict[str, Any]]]:
    """Every grid point trained on the same epochs; the best by validation accuracy, and the table."""
    runs = [train_fnn(hp, epochs, validation, config.seed, progress) for hp in config.fnn_grid]
    table = [
        {
            **dataclasses.asdict(run.hyperparameters),
            "best_epoch": run.best_epoch,
            "validation_accuracy": run.validation_accuracy,
        }
        for run in runs
    ]
    return max(runs, key=lambda run: run.validation_accuracy), table


# --- CNN -------------------------------------------------------------------------------------


@dataclass
class CNNRun:
    weights: list[np.ndarray]
    history: list[dict[str, float]]


def train_cnn(
    hp: CNNHyperparameters,
    epochs: EpochImages,
    validation: tuple[np.ndarray, np.ndarray] | None,
    seed: int,
    progress: Progress = tqdm,
) -> CNNRun:
    """The one build_cnn model trained with dropout on; Adam, cosine decay, softmax cross-entropy."""
    import tensorflow as tf

    from digitrec.cnn import build_cnn

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    labels = epochs.labels
    steps_per_epoch = max(1, len(labels) // hp.batch_size)
    schedule = tf.keras.optimizers.schedules.CosineDecay(
        hp.learning_rate, hp.epochs * steps_per_epoch, alpha=hp.final_fraction
    )
    model = build_cnn(seed)
    use_ema = hp.ema_momentum is not None
    optimizer = tf.keras.optimizers.Adam(schedule, use_ema=use_ema, ema_momentum=hp.ema_momentum or 0.99)
    images_spec = tf.TensorSpec([None, 28, 28], tf.float32)

    @tf.function(input_signature=[images_spec, tf.TensorSpec([None], tf.int32)])
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    @tf.function(input_signature=[images_spec])
    def infer(x):
        return tf.nn.softmax(model(x, training=False))

    def probabilities(x: np.ndarray) -> np.ndarray:
        return np.concatenate([infer(x[i : i + 1000]).numpy() for i in range(0, len(x), 1000)])

    rng = np.random.default_rng(seed)
    history = []
    for epoch in progress(range(hp.epochs), desc="CNN", leave=False):
        x = epochs[epoch]
        order = rng.permutation(len(labels))[: steps_per_epoch * hp.batch_size]
        losses = [
            float(step(x[batch], labels[batch])) for batch in order.reshape(steps_per_epoch, hp.batch_size)
        ]
        record = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "train_accuracy": evaluate.accuracy(probabilities(x), labels),
        }
        if validation is not None:
            record["validation_accuracy"] = evaluate.accuracy(probabilities(validation[0]), validation[1])
        history.append(record)
    if use_ema:
        optimizer.finalize_variable_values(model.trainable_variables)
        if validation is not None:
            history[-1]["validation_accuracy_averaged"] = evaluate.accuracy(
                probabilities(validation[0]), validation[1]
            )
    return CNNRun([w.astype(np.float32) for w in model.get_weights()], history)


def _validation_of(history: list[dict[str, float]]) -> dict[str, float]:
    """{"validation_accuracy": the final one (of the averaged weights if any)}, or {} without validation."""
    last = history[-1]
    value = last.get("validation_accuracy_averaged", last.get("validation_accuracy"))
    return {} if value is None else {"validation_accuracy": value}


# --- the whole run ---------------------------------------------------------------------------


def train(
    config: TrainConfig,
    out_dir: Path,
    collected: TrainingDigits | None = None,
    progress: Progress = tqdm,
) -> dict[str, Any]:
    """Train both models, score them, write weights, report.json and plots to out_dir; the report."""
    from digitrec.cnn import save_weights

    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_digits, test = load_split("train"), load_split("test")
    if config.limit:
        train_digits, test = (d.subset(np.arange(min(len(d), config.limit))) for d in (train_digits, test))
    digits = TrainingDigits.from_digits(train_digits)
    held_out = validation_mask(len(train_digits))
    extra = collected if collected is not None and len(collected) else None
    # The CNN also learns from canvas copies; the FNN does not: with them it read canvas digits a
    # little better, but online corrections moved it further from MNIST than test_learning allows.
    cnn_digits, cnn_held_out = digits, held_out
    if config.canvas_copies:
        copies = canvas_training_digits(train_digits, config.canvas_copies, config.seed, progress)
        cnn_digits = digits + copies
        # A copy of a validation digit stays in validation.
        cnn_held_out = np.tile(held_out, 1 + config.canvas_copies)
    if extra is not None:
        digits, cnn_digits = digits + extra, cnn_digits + extra
        always_fit = np.zeros(len(extra), bool)  # collected samples
        held_out = np.concatenate([held_out, always_fit])
        cnn_held_out = np.concatenate([cnn_held_out, always_fit])
    epochs = EpochImages(digits, config.seed, config.distorted_fraction)
    fit = epochs.subset(np.flatnonzero(~held_out))
    val = epochs.subset(np.flatnonzero(held_out)).clean_images()

    chosen, grid = grid_search_fnn(config, fit, val, progress)
    if config.refit:
        # The chosen settings and epoch count, trained again on every train digit.
        settings = dataclasses.replace(chosen.hyperparameters, epochs=chosen.best_epoch)
        fnn = train_fnn(settings, epochs, None, config.seed, progress)
    else:
        fnn = chosen
    cnn_epochs = EpochImages(cnn_digits, config.seed, config.distorted_fraction)
    if config.refit:
        cnn = train_cnn(config.cnn, cnn_epochs, None, config.seed, progress)
    else:
        cnn_fit = cnn_epochs.subset(np.flatnonzero(~cnn_held_out))
        cnn_val = cnn_epochs.subset(np.flatnonzero(cnn_held_out)).clean_images()
        cnn = train_cnn(config.cnn, cnn_fit, cnn_val, config.seed, progress)
    fnn.net.save(out_dir / "fnn.npz")
    save_weights(cnn.weights, out_dir / "cnn.npz", dtype=config.weights_dtype)

    models = evaluate.TrainedModels(fnn.net, cnn.weights)
    test_images = np.stack([preprocess_ink(image) for image in test.images])  # as served
    scores = evaluate.score_models(models, test_images, test.labels)
    # Evenly spread over the test split, which is ordered by digit: every class is represented.
    spread = np.unique(np.linspace(0, len(test) - 1, min(len(test), config.robustness_count)).astype(int))
    robustness = evaluate.canvas_robustness(models, test.subset(spread), progress=progress)
    report = {
        "seed": config.seed,
        "data": {
            "train": len(digits),
            "cnn_train": len(cnn_digits),
            "fit": len(fit.rows),
            "validation": int(held_out.sum()),
            "test": len(test),
            "collected": 0 if collected is None else len(collected),
            "distorted_fraction": config.distorted_fraction,
            "canvas_copies": config.canvas_copies,
            "final_models_trained_on": "train" if config.refit else "fit",
        },
        "fnn": {
            **scores["fnn"],
            "validation_accuracy": chosen.validation_accuracy,
            "canvas_worst_accuracy": min(s["fnn"] for s in robustness["styles"].values()),
            "hyperparameters": {
                **dataclasses.asdict(chosen.hyperparameters),
                "epochs": chosen.best_epoch,
            },
            "grid": grid,
            "history": chosen.history,  # the chosen grid run, with its validation curve
            "final_history": fnn.history,
        },
        "cnn": {
            **scores["cnn"],
            **_validation_of(cnn.history),
            "canvas_worst_accuracy": min(s["cnn"] for s in robustness["styles"].values()),
            "hyperparameters": {**dataclasses.asdict(config.cnn), "optimizer": "adam"},
            "history": cnn.history,
        },
        "robustness": robustness,
    }
    report["not_a_digit_classifier"] = train_notdigit(out_dir, config.notdigit, progress)
    report["plots"] = plots.write_all(report, out_dir)
    report["training_seconds"] = round(time.perf_counter() - started, 1)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


# --- the not-a-digit classifier --------------------------------------------------------------


@dataclass(frozen=True)
class NotDigitData:
    """The classifier's training segments: what notdigit.segment_looks finds in each drawing.

    statistics (K, notdigit.STATISTICS), small (K, 196); labels: class indices into
    notdigit.CLASSES (K,); owners: the drawing of each segment (K,); ruled: whether the rules
    refuse it (K,); drawings: how many drawings there were.
    """

    statistics: np.ndarray
    small: np.ndarray
    labels: np.ndarray
    owners: np.ndarray
    ruled: np.ndarray
    drawings: int


def notdigit_data(config: NotDigitConfig, progress: Progress = tqdm) -> NotDigitData:
    """Train-split digits in random canvas styles, alone and in strings, and non-digits of
    config.nondigit_seed, segmented.

    Every segment of a drawing gets its drawing's family; digit drawings split into other than
    their count of digits are left out (the segmentation, not the classifier, is wrong there).
    """
    from digitrec import notdigit
    from digitrec.nondigits import each_canvas_digit, each_nondigit

    train_digits = load_split("train")
    chosen = train_digits.images[
        np.random.default_rng(config.seed).permutation(len(train_digits))[: config.digits]
    ]

    def drawings() -> Iterator[tuple[str, int, np.ndarray]]:
        """(family, digits in it or 0, ink) per drawing, made one at a time: together they are GBs."""
        for style_seed in range(config.seed, config.seed + config.digit_copies):
            yield from (("digit", 1, ink) for ink in each_canvas_digit(chosen, style_seed))
        yield from (("digit", count, ink) for count, ink in training_strings(train_digits, config))
        yield from ((d.kind, 0, d.ink) for d in each_nondigit(config.nondigits, seed=config.nondigit_seed))

    total = len(chosen) * config.digit_copies + config.strings + config.nondigits
    looks, labels, owners = [], [], []
    for index, (family, count, ink) in enumerate(
        progress(drawings(), total=total, desc="looks", leave=False)
    ):
        found, _ = notdigit.segment_looks(ink)
        if count and len(found) != count:
            continue
        looks += found
        labels += [notdigit.CLASSES.index(family)] * len(found)
        owners += [index] * len(found)
    return NotDigitData(
        np.stack([look.statistics for look in looks]),
        np.stack([look.small for look in looks]),
        np.asarray(labels, np.int64),
        np.asarray(owners),
        np.array([look.rule() is not None for look in looks]),
        total,
    )


def training_strings(digits: Digits, config: NotDigitConfig) -> Iterator[tuple[int, np.ndarray]]:
    """config.strings strings of 2-6 of `digits` side by side, each with its own pen, size, slant
    and width: (digits in it, its ink as sent) per string, made one at a time."""
    from digitrec.canvas import SLANT, render_string_ink
    from digitrec.nondigits import as_sent

    rng = np.random.default_rng([config.seed, 20])
    for _ in range(config.strings):
        chosen = rng.choice(len(digits), int(rng.integers(2, 7)), replace=False)
        style = {
            "pen": float(rng.uniform(6.0, 22.0)),
            "scale": float(rng.uniform(0.55, 0.95)),
            "shear": float(rng.uniform(-SLANT, SLANT)),
            "squash": float(rng.uniform(0.8, 1.2)),
        }
        yield len(chosen), as_sent(render_string_ink(digits.images[chosen], **style))


def train_notdigit(
    models_dir: Path, config: NotDigitConfig = NotDigitConfig(), progress: Progress = tqdm
) -> dict[str, Any]:
    """Train notdigit.Refusal; writes models_dir/notdigit.npz.

    Returns its report: segments fitted and held out, the threshold, held-out refusal rates, history.
    """
    return fit_notdigit(notdigit_data(config, progress), Path(models_dir), config, progress)


def fit_notdigit(
    data: NotDigitData, models_dir: Path, config: NotDigitConfig, progress: Progress = tqdm
) -> dict[str, Any]:
    """The classifier fitted on `data`, saved in models_dir."""
    from digitrec import notdigit

    x = notdigit.inputs_from(data.statistics, data.small)
    y, ruled = data.labels, data.ruled
    held = np.random.default_rng([config.seed, 1]).random(data.drawings) < config.held_out
    fit, val = ~held[data.owners], held[data.owners]
    refusal, history = _fit_refusal(x[fit], y[fit], x[val], y[val], config, progress)
    p_digit = refusal.probabilities(x[val])[:, 0]
    val_digits = (y[val] == 0) & ~ruled[val]
    threshold = float(np.quantile(p_digit[val_digits], config.false_refusals)) if val_digits.any() else 0.5
    refusal = dataclasses.replace(refusal, threshold=min(threshold, 0.5))
    refusal.save(Path(models_dir) / notdigit.MODEL_FILE)
    refused = refusal.probabilities(x[val])[:, 0] < refusal.threshold
    return {
        "segments": {"fit": int(fit.sum()), "held_out": int(val.sum())},
        "hidden": config.hidden,
        "threshold": round(refusal.threshold, 4),
        "held_out_digits_refused": round(float(np.mean((refused | ruled[val])[y[val] == 0])), 4),
        "held_out_nondigit_segments_refused": round(float(np.mean((refused | ruled[val])[y[val] != 0])), 4),
        "history": history,
    }


def _fit_refusal(
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: NotDigitConfig,
    progress: Progress,
) -> tuple[Any, list[dict[str, float]]]:
    """A one-hidden-layer ReLU net, softmax cross-entropy (digits weighted as all non-digits), Adam."""
    from digitrec.notdigit import CLASSES, Refusal

    rng = np.random.default_rng(config.seed)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-3
    features, classes = x.shape[1], len(CLASSES)
    params = {
        "w1": rng.normal(0, np.sqrt(2 / features), (features, config.hidden)),
        "b1": np.zeros(config.hidden),
        "w2": rng.normal(0, np.sqrt(2 / config.hidden), (config.hidden, classes)),
        "b2": np.zeros(classes),
    }
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    weights = np.where(np.arange(classes) == 0, counts[1:].sum() / max(counts[0], 1), 1.0)[y]
    weights /= weights.mean()
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    z = (x - mean) / scale
    step, history = 0, []

    def model(p: dict) -> Refusal:
        return Refusal(
            mean, scale, *(p[k].astype(np.float32) for k in ("w1", "b1", "w2", "b2")), threshold=0.5
        )

    for epoch in progress(range(config.epochs), desc="not-a-digit", leave=False):
        order = rng.permutation(len(z))
        for batch in np.array_split(order, max(1, len(order) // config.batch_size)):
            hidden = np.maximum(z[batch] @ params["w1"] + params["b1"], 0.0)
            logits = hidden @ params["w2"] + params["b2"]
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            d_logits = probs
            d_logits[np.arange(len(batch)), y[batch]] -= 1.0
            d_logits *= weights[batch, None] / len(batch)
            d_hidden = (d_logits @ params["w2"].T) * (hidden > 0)
            grads = {
                "w2": hidden.T @ d_logits + config.l2 * params["w2"],
                "b2": d_logits.sum(axis=0),
                "w1": z[batch].T @ d_hidden + config.l2 * params["w1"],
                "b1": d_hidden.sum(axis=0),
            }
            step += 1
            for name, grad in grads.items():
                m, v = moments[name]
                m *= 0.9
                m += 0.1 * grad
                v *= 0.999
                v += 0.001 * grad * grad
                params[name] -= (
                    config.learning_rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
                )
        predicted = np.argmax(model(params).probabilities(x_val), axis=1)
        history.append(
            {
                "epoch": epoch + 1,
                "held_out_accuracy": round(float(np.mean(predicted == y_val)), 4),
                "held_out_digit_vs_not": round(float(np.mean((predicted == 0) == (y_val == 0))), 4),
            }
        )
    return model(params), history
