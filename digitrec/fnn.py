"""The feed-forward net in pure numpy: 784 -> H (ReLU) -> 10 (softmax), cross-entropy + L2."""

from __future__ import annotations

from pathlib import Path

import numpy as np

INPUTS, CLASSES = 784, 10


class FNN:
    """x float32 (N, 784), ink = 1.0 -> class probabilities (N, 10).

    Parameters live in `self.params` (w1 (784, H), b1 (H,), w2 (H, 10), b2 (10,)).
    An instance is never changed in place by `sgd_step`'s callers who share it:
    `updated()` returns a new net, so readers of the old one are never disturbed.
    """

    def __init__(self, params: dict[str, np.ndarray]):
        self.params = {name: np.asarray(value, dtype=np.float32) for name, value in params.items()}

    @classmethod
    def initialise(cls, hidden: int = 100, seed: int = 0) -> FNN:
        """He initialisation (ReLU), zero biases."""
        rng = np.random.default_rng(seed)
        return cls(
            {
                "w1": rng.normal(0, np.sqrt(2 / INPUTS), (INPUTS, hidden)),
                "b1": np.zeros(hidden),
                "w2": rng.normal(0, np.sqrt(2 / hidden), (hidden, CLASSES)),
                "b2": np.zeros(CLASSES),
            }
        )

    @property
    def hidden(self) -> int:
        return self.params["w1"].shape[1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10)."""
        return _softmax(self._forward(x)[1])

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        hidden = np.maximum(x @ p["w1"] + p["b1"], 0.0)
        return hidden, hidden @ p["w2"] + p["b2"]

    def loss_and_gradients(
        self, x: np.ndarray, y: np.ndarray, l2: float
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Mean cross-entropy + l2/2 * sum of squared weights, and its gradients."""
        p = self.params
        hidden, logits = self._forward(x)
        probs = _softmax(logits)
        n = len(x)
        data_loss = -np.mean(np.log(probs[np.arange(n), y] + 1e-12))
        loss = data_loss + 0.5 * l2 * (np.sum(p["w1"] ** 2) + np.sum(p["w2"] ** 2))
        d_logits = probs
        d_logits[np.arange(n), y] -= 1.0
        d_logits /= n
        return float(loss), self._backward(x, hidden, d_logits, l2)

    def weighted_gradients(
        self, x: np.ndarray, y: np.ndarray, l2: float, sample_weight: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Gradients of sum(sample_weight (N,) x cross-entropy) + l2/2 * sum of squared weights.

        With weights 1/N it is `loss_and_gradients`' step; the loss itself is not computed.
        """
        hidden, logits = self._forward(x)
        d_logits = _softmax(logits)
        d_logits[np.arange(len(x)), y] -= 1.0
        d_logits *= sample_weight[:, None]
        return self._backward(x, hidden, d_logits, l2)

    def _backward(
        self, x: np.ndarray, hidden: np.ndarray, d_logits: np.ndarray, l2: float
    ) -> dict[str, np.ndarray]:
        """Gradients of every parameter, from d(loss)/d(logits) (N, 10) and the forward pass's hidden."""
        p = self.params
        d_hidden = (d_logits @ p["w2"].T) * (hidden > 0)
        return {
            "w2": hidden.T @ d_logits + l2 * p["w2"],
            "b2": d_logits.sum(axis=0),
            "w1": x.T @ d_hidden + l2 * p["w1"],
            "b1": d_hidden.sum(axis=0),
        }

    def sgd_step(self, x: np.ndarray, y: np.ndarray, learning_rate: float, l2: float) -> float:
        """One plain SGD step in place on a batch; returns the loss before the step."""
        loss, grads = self.loss_and_gradients(x, y, l2)
        for name, grad in grads.items():
            self.params[name] -= learning_rate * grad
        return loss

    def updated(self, x: np.ndarray, y: np.ndarray, learning_rate: float, l2: float) -> FNN:
        """A new net one SGD step from this one (this one is left untouched)."""
        new = FNN({name: value.copy() for name, value in self.params.items()})
        new.sgd_step(x, y, learning_rate, l2)
        return new

    def fit(
        self,
        batches,
        learning_rate: float,
        l2: float,
    ) -> float:
        """One epoch of minibatch SGD over an iterable of (x, y); returns the mean loss."""
        losses = [self.sgd_step(x, y, learning_rate, l2) for x, y in batches]
        return float(np.mean(losses))

    def save(self, path: Path) -> None:
        np.savez(path, **self.params)

    @classmethod
    def load(cls, path: Path) -> FNN:
        with np.load(path, allow_pickle=False) as data:
            return cls({name: data[name] for name in ("w1", "b1", "w2", "b2")})


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
