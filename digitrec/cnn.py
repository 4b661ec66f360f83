"""The convolutional net in TensorFlow 2, declared once for training, online steps and inference.

`build_cnn` is the one definition. Serving never changes a model's variables:
`CNNFunctions` compiles, once, pure functions of (weights, batch) on top of it —
inference of the original and an updated CNN in one call, and the online RMSProp
step — so a new version is just a new list of weight tensors handed in.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

IMAGES = tf.TensorSpec([None, 28, 28], tf.float32)
LABELS = tf.TensorSpec([None], tf.int32)
RMSPROP_RHO = 0.9
RMSPROP_EPSILON = 1e-7
PROBABILITY_CHUNK = 128  # images per call when scoring many (bounds the activations in memory)
# TF1's RMSPropOptimizer (the original project's) starts its mean square at 1.0, not 0: a
# single step from a fresh state is then close to plain SGD, moving each weight in
# proportion to its gradient (from 0 it would be a sign step of lr * 3.2 on every weight).
RMSPROP_INITIAL_MEAN_SQUARE = 1.0


def configure_threads(threads: int = 1) -> None:
    """Tiny models on few cores: one thread per op avoids thread-pool overhead (call before any TF op)."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow already initialised its pools (e.g. earlier in a test run): keep them


def build_cnn(seed: int = 0) -> keras.Sequential:
    """The original architecture: (N, 28, 28) ink = 1.0 -> logits (N, 10). Xavier init."""
    xavier = keras.initializers.GlorotUniform
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            layers.Reshape((28, 28, 1)),
            layers.Conv2D(16, 4, padding="same", activation="relu", kernel_initializer=xavier(seed)),
            layers.MaxPooling2D(2),
            layers.Dropout(0.2),  # keep 0.8
            layers.Conv2D(32, 4, padding="same", activation="relu", kernel_initializer=xavier(seed + 1)),
            layers.MaxPooling2D(2),
            layers.Dropout(0.2),
            layers.Flatten(),  # 7 * 7 * 32 = 1568
            layers.Dense(625, activation="relu", kernel_initializer=xavier(seed + 2)),
            layers.Dropout(0.5),
            layers.Dense(10, kernel_initializer=xavier(seed + 3)),
        ]
    )


class CNNFunctions:
    """Compiled pure functions of the CNN, traced once each with fixed signatures.

    Weights are arguments (Keras `get_weights()` order, 8 float32 arrays): the model's
    variables hold the original weights only for its dropout seeds and for callers;
    `original` holds them as the tensors `infer` and the original snapshot use.
    """

    def __init__(self, original: list[np.ndarray]):
        self.model = build_cnn()
        self.model.set_weights(original)
        self._non_trainable = [v.value for v in self.model.non_trainable_variables]  # dropout seeds
        # Plain tensors, like the updated weights: one code path, no variable reads per call.
        self.original = self.tensors(original)
        specs = [tf.TensorSpec(v.shape, tf.float32) for v in self.model.trainable_variables]
        self._infer = _concrete(self._infer_both, IMAGES, specs, specs)
        self._step = _concrete(
            self._rmsprop_step,
            specs,
            IMAGES,
            LABELS,
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([], tf.float32),
        )
        self._probs = _concrete(self._probs_of, specs, IMAGES)

    def _logits(self, weights, x):
        logits, _ = self.model.stateless_call(list(weights), self._non_trainable, x, training=False)
        return logits

    def _infer_both(self, x, original, updated):
        return tf.nn.softmax(self._logits(original, x)), tf.nn.softmax(self._logits(updated, x))

    def _probs_of(self, weights, x):
        return tf.nn.softmax(self._logits(weights, x))

    def _rmsprop_step(self, weights, x, y, sample_weight, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            loss = tf.reduce_sum(
                sample_weight
                * tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=self._logits(weights, x))
            )
        grads = tape.gradient(loss, weights)
        # A fresh RMSProp state each step: the update is a pure function of its inputs.
        start = RMSPROP_RHO * RMSPROP_INITIAL_MEAN_SQUARE
        mean_squares = [start + (1.0 - RMSPROP_RHO) * tf.square(g) for g in grads]
        return [
            w - learning_rate * g / (tf.sqrt(ms) + RMSPROP_EPSILON)
            for w, g, ms in zip(weights, grads, mean_squares, strict=True)
        ], loss

    def tensors(self, weights: list[np.ndarray]) -> list[tf.Tensor]:
        """Weight arrays -> immutable tensors, ready to pass to `infer` many times."""
        return [tf.constant(w, tf.float32) for w in weights]

    def infer(self, x: np.ndarray, updated: list[tf.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        """Images (N, 28, 28) -> probabilities (N, 10) of the original and of the `updated` CNN."""
        original, new = _call_flat(self._infer, tf.constant(x, tf.float32), *self.original, *updated)
        return original.numpy(), new.numpy()

    def probabilities(self, weights: list[tf.Tensor], x: np.ndarray) -> np.ndarray:
        """Images (N, 28, 28) -> probabilities (N, 10) of the CNN with `weights`.

        Runs PROBABILITY_CHUNK images at a time: a 500-digit canary in one call would need
        ~50 MB of activations at once, which would set the worker's peak memory.
        """
        x = np.asarray(x, np.float32)
        if len(x) == 0:  # TensorFlow's convolutions refuse an empty batch
            return np.zeros((0, 10), np.float32)
        chunks = [
            _call_flat(self._probs, *weights, tf.constant(x[i : i + PROBABILITY_CHUNK]))[0]
            for i in range(0, len(x), PROBABILITY_CHUNK)
        ]
        return chunks[0].numpy() if len(chunks) == 1 else np.concatenate([c.numpy() for c in chunks])

    def step(
        self,
        weights: list[tf.Tensor],
        x: np.ndarray,
        y: np.ndarray,
        learning_rate: float,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[list[tf.Tensor], float]:
        """New weights one RMSProp step (dropout off) from `weights` on (x (N, 28, 28), y (N,)); the loss.

        The loss is the sum of the cross-entropies weighted by `sample_weight` (N,); the mean if
        None. The weights stay tensors, ready for `infer` or `probabilities` without a copy
        (`w.numpy()` for arrays).
        """
        if sample_weight is None:
            sample_weight = np.full(len(x), 1.0 / max(len(x), 1), np.float32)
        new, loss = self._step(
            weights,
            tf.constant(x, tf.float32),
            tf.constant(y, tf.int32),
            tf.constant(sample_weight, tf.float32),
            tf.constant(learning_rate, tf.float32),
        )
        return new, float(loss)


def _call_flat(function: tf.types.experimental.ConcreteFunction, *tensors: tf.Tensor) -> list[tf.Tensor]:
    """`function` on its arguments flattened in signature order: its flat outputs.

    The concrete function's own call binds nested arguments to its signature in Python on every
    call, which for one drawing costs more than the graph itself; `PartitionedCall` runs the
    traced graph directly (docs/performance.md).
    """
    return tf.raw_ops.PartitionedCall(
        args=[*tensors, *function.captured_inputs], Tout=[t.dtype for t in function.outputs], f=function
    )


def _concrete(function, *signature) -> tf.types.experimental.ConcreteFunction:
    """`function` traced now for `signature`, as a concrete function.

    A concrete function skips tf.function's per-call lookup of a trace; autograph is off
    because these functions have no Python control flow on tensors (faster start-up).
    """
    return tf.function(function, input_signature=list(signature), autograph=False).get_concrete_function()


def save_weights(weights: list[np.ndarray], path: Path, dtype: str = "float32") -> None:
    """Weights as a plain npz (no pickle), arrays arr_0..arr_k in layer order."""
    np.savez_compressed(path, *[w.astype(dtype) for w in weights])


def load_weights(path) -> list[np.ndarray]:
    """Weights saved by `save_weights` (a path or a file object) -> float32 arrays in layer order."""
    with np.load(path, allow_pickle=False) as data:
        return [data[f"arr_{i}"].astype(np.float32) for i in range(len(data.files))]
