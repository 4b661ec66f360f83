"""The convolutional net in TensorFlow 2, declared once for training, online steps and inference.

`build_cnn` is the one definition. Serving never changes a model's variables:
`CNNFunctions` compiles, once, pure functions of (weights, batch) on top of it —
inference of the original and an updated CNN in one call, and the online RMSProp
step — so a new version is just a new list of weight tensors handed in.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers
from tensorflow.python.eager import context, execute, executor

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
        pass  # TensorFlow already initialised its pools (e.g. in a test session): keep them


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
        # The originals as plain tensors, not the variables: a variable is a resource handle
        # to check and read on every call (queueing both CNNs 110 -> 103 us).
        self.original = self.tensors(original)
        specs = [tf.TensorSpec(v.shape, tf.float32) for v in self.model.trainable_variables]
        self._infer = _Call(_concrete(self._infer_both, IMAGES, specs, specs))
        self._step = _concrete(
            self._rmsprop_step,
            specs,
            IMAGES,
            LABELS,
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([], tf.float32),
        )
        self._probs = _Call(_concrete(self._probs_of, specs, IMAGES))

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
        return self.start_infer(x, updated)()

    def start_infer(
        self, x: np.ndarray, updated: list[tf.Tensor]
    ) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        """Start `infer(x, updated)` and return at once; calling the result waits for its answer.

        The call is queued on this thread's asynchronous TensorFlow executor, so the caller
        goes on (numpy work, which TensorFlow's kernels overlap on the other core) with no
        second Python thread to hand over to: in-process ~0.15 ms sooner and ~0.2 ms less CPU
        per drawing than the call on a helper thread. The answers are the same bits. The
        images go in through this thread's reusable input tensor (`_InputSlot`).
        """
        slot = _input_slot(x.shape)
        np.copyto(slot.buffer, x)  # fills slot.tensor: they share memory
        queue = _async_executor()
        with context.executor_scope(queue):
            original, new = self._infer(slot.tensor, *self.original, *updated)

        def answer() -> tuple[np.ndarray, np.ndarray]:
            try:
                return original.numpy(), new.numpy()
            except tf.errors.OpError:
                queue.clear_error()  # a failed call must not fail this thread's next ones
                raise
            finally:
                slot.busy = False

        return answer

    def probabilities(self, weights: list[tf.Tensor], x: np.ndarray) -> np.ndarray:
        """Images (N, 28, 28) -> probabilities (N, 10) of the CNN with `weights`.

        Runs PROBABILITY_CHUNK images at a time: a 500-digit canary in one call would need
        ~50 MB of activations at once, which would set the worker's peak memory.
        """
        x = np.asarray(x, np.float32)
        if len(x) == 0:  # TensorFlow's convolutions refuse an empty batch
            return np.zeros((0, 10), np.float32)
        chunks = [
            self._probs(*weights, tf.constant(x[i : i + PROBABILITY_CHUNK]))[0]
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


_THREAD = threading.local()
_ALIGNMENT = 64  # bytes: what TensorFlow's CPU kernels expect of a tensor's memory


class _InputSlot:
    """A thread's reusable input for `start_infer`: an aligned float32 buffer and a tensor on its memory.

    Making a tensor from an array costs ~75 us once a drawing's preprocessing has pushed
    TensorFlow's code out of the caches (12 us warm), on the request's critical path. A
    tensor imported through DLPack shares the buffer's memory instead, so refilling the
    buffer refills the tensor, and it is made once per thread and batch shape. `busy` from
    the call that reads it until its answer is read: a slot is never refilled under a call.
    """

    def __init__(self, shape: tuple[int, ...]):
        size = int(np.prod(shape)) * 4
        raw = np.empty(size + _ALIGNMENT, np.uint8)
        start = -raw.ctypes.data % _ALIGNMENT
        self.buffer = raw[start : start + size].view(np.float32).reshape(shape)  # filled before each call
        self.tensor = tf.experimental.dlpack.from_dlpack(self.buffer.__dlpack__())
        self.busy = False


def _input_slot(shape: tuple[int, ...]) -> _InputSlot:
    """This thread's input slot for `shape`, marked busy: its last one, or a new one if that is busy
    or of another shape."""
    slot = getattr(_THREAD, "input", None)
    if slot is None or slot.busy or slot.buffer.shape != shape:
        slot = _THREAD.input = _InputSlot(shape)
    slot.busy = True
    return slot


def _async_executor() -> executor.Executor:
    """This thread's asynchronous TensorFlow executor (made on first use; one thread each)."""
    found = getattr(_THREAD, "executor", None)
    if found is None:
        found = _THREAD.executor = executor.new_executor(enable_async=True)
    return found


class _Call:
    """A concrete function called straight through TensorFlow's eager `execute`: flat tensors in,
    in signature order, the list of its flat outputs out.

    ConcreteFunction's own call binds the arguments to the signature (~0.2 ms), and even its
    flat call goes through Python layers (argument checks, gradient-tape and control-dependency
    scopes, the call options serialised anew): queueing both CNNs took 131 us that way, 99 us
    this way. The function stays registered with TensorFlow as long as this object holds it.
    """

    def __init__(self, function: tf.types.experimental.ConcreteFunction):
        self.function = function
        atomic = function._inference_function
        self._name = atomic.name.decode()
        self._outputs = len(atomic.function_type.flat_outputs)
        self._captures = list(function.captured_inputs)  # e.g. the original model's variables
        self._context = context.context()
        options = self._context.function_call_options.as_attrs()
        self._attrs = tuple(itertools.chain(*options.items()))

    def __call__(self, *tensors: tf.Tensor) -> list[tf.Tensor]:
        inputs = [*tensors, *self._captures]
        return execute.execute(self._name, self._outputs, inputs, self._attrs, self._context)


def _concrete(function, *signature) -> tf.types.experimental.ConcreteFunction:
    """`function` traced now for `signature`, as a concrete function.

    Calling it skips tf.function's per-call argument matching (~0.3 ms); autograph is off
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
