"""`ModelWeights`: one FNN plus one CNN weight list — what a model version is.

Shipped originals come from `models/` (`fnn.npz`: w1 b1 w2 b2; `cnn.npz`:
arr_0.. in Keras `get_weights()` order). A version travels to and from the
store as one npz (float32, no pickle): `fnn_w1 .. fnn_b2`, `cnn_0 .. cnn_k`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitrec.fnn import FNN

FNN_PARAMS = ("w1", "b1", "w2", "b2")
_CNN_KEY = re.compile(r"cnn_(\d+)")


class WeightsError(ValueError):
    """Stored weights are missing, malformed or of the wrong shape."""


@dataclass(frozen=True)
class ModelWeights:
    """The weights of one FNN and one CNN; treated as immutable (never changed in place)."""

    fnn: FNN
    cnn: list[np.ndarray]

    def to_bytes(self) -> bytes:
        """One npz, float32, uncompressed (float weights barely compress; compressing slows every update)."""
        arrays = {f"fnn_{name}": self.fnn.params[name] for name in FNN_PARAMS}
        arrays.update({f"cnn_{i}": w for i, w in enumerate(self.cnn)})
        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelWeights:
        """Inverse of `to_bytes`; WeightsError if the data is not such an npz."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name].astype(np.float32) for name in npz.files}
        except (OSError, ValueError, EOFError) as err:
            raise WeightsError(f"not a weights npz: {err}") from None
        try:
            fnn = FNN({name: arrays[f"fnn_{name}"] for name in FNN_PARAMS})
        except KeyError as err:
            raise WeightsError(f"missing FNN array {err}") from None
        indices = sorted(int(m[1]) for name in arrays if (m := _CNN_KEY.fullmatch(name)))
        if indices != list(range(len(indices))) or not indices:
            raise WeightsError("CNN arrays must be cnn_0..cnn_k")
        return cls(fnn, [arrays[f"cnn_{i}"] for i in indices])

    def check_like(self, reference: ModelWeights) -> ModelWeights:
        """Self, if every array has the shape of `reference`'s; else WeightsError."""
        same_fnn = all(self.fnn.params[n].shape == reference.fnn.params[n].shape for n in FNN_PARAMS)
        same_cnn = len(self.cnn) == len(reference.cnn) and all(
            a.shape == b.shape for a, b in zip(self.cnn, reference.cnn, strict=True)
        )
        if not (same_fnn and same_cnn):
            raise WeightsError("the weights do not fit the shipped architectures")
        return self


def load_shipped(models_dir: Path) -> ModelWeights:
    """The original models from `models_dir` (fnn.npz, cnn.npz)."""
    from digitrec.cnn import load_weights  # TensorFlow is not needed to read an npz, but cnn owns the format

    models_dir = Path(models_dir)
    try:
        return ModelWeights(FNN.load(models_dir / "fnn.npz"), load_weights(models_dir / "cnn.npz"))
    except (OSError, KeyError) as err:
        raise WeightsError(f"cannot load the shipped models from {models_dir}: {err}") from None
