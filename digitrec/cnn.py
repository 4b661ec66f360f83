"""The convolutional net in TensorFlow 2, declared once for training, online steps and inference."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

IMAGES = tf.TensorSpec([None, 28, 28], tf.float32)
LABELS = tf.TensorSpec([None], tf.int32)
RMSPROP_RHO = 0.9


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


def compile_inference(*models: keras.Model) -> Callable[[np.ndarray], list[np.ndarray]]:
    """One traced call that runs every model on the same batch (N, 28, 28) -> [probs (N, 10)].

    The signature is fixed, so the graph is traced once whatever N is.
    """

    @tf.function(input_signature=[IMAGES])
    def infer(x):
        return [tf.nn.softmax(model(x, training=False)) for model in models]

    def run(x: np.ndarray) -> list[np.ndarray]:
        return [probs.numpy() for probs in infer(tf.constant(x, dtype=tf.float32))]

    return run


class CNNTrainer:
    """Compiled RMSProp steps on one model (dropout off: online updates are single small steps).

    Each step starts from a fresh RMSProp state, so an update is a pure function of
    (weights, batch): a writer that lost a publish race can re-apply it exactly.
    """

    def __init__(self, model: keras.Model | None = None):
        self.model = model or build_cnn()
        self._step = tf.function(
            self._rmsprop_step, input_signature=[IMAGES, LABELS, tf.TensorSpec([], tf.float32)]
        )

    def _loss(self, x, y):
        logits = self.model(x, training=False)
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        )

    def _rmsprop_step(self, x, y, learning_rate):
        with tf.GradientTape() as tape:
            loss = self._loss(x, y)
        variables = self.model.trainable_variables
        for var, grad in zip(variables, tape.gradient(loss, variables), strict=True):
            mean_square = (1.0 - RMSPROP_RHO) * tf.square(grad)
            var.assign_sub(learning_rate * grad / (tf.sqrt(mean_square) + 1e-7))
        return loss

    def step(
        self, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, learning_rate: float
    ) -> tuple[list[np.ndarray], float]:
        """New weights one RMSProp step from `weights` on (x (N, 28, 28), y (N,)); and the loss."""
        self.model.set_weights(weights)
        loss = self._step(
            tf.constant(x, tf.float32), tf.constant(y, tf.int32), tf.constant(learning_rate)
        )
        return self.model.get_weights(), float(loss)

    def loss(self, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
        self.model.set_weights(weights)
        return float(self._loss(tf.constant(x, tf.float32), tf.constant(y, tf.int32)))


def save_weights(weights: list[np.ndarray], path: Path, dtype: str = "float32") -> None:
    """Weights as a plain npz (no pickle), arrays arr_0..arr_k in layer order."""
    np.savez_compressed(path, *[w.astype(dtype) for w in weights])


def load_weights(path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return [data[f"arr_{i}"].astype(np.float32) for i in range(len(data.files))]
