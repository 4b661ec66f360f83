"""ModelWeights: shipped weights load, and a version round-trips through bytes without pickle."""

import io

import numpy as np
import pytest

from digitrec.config import ROOT
from digitrec.fnn import FNN
from digitrec.weights import ModelWeights, WeightsError, load_shipped


@pytest.fixture(scope="module")
def shipped() -> ModelWeights:
    return load_shipped(ROOT / "models")


def test_shipped_models_have_the_original_architectures(shipped):
    assert shipped.fnn.params["w1"].shape[0] == 784
    assert shipped.fnn.params["w2"].shape[1] == 10
    assert [w.shape for w in shipped.cnn] == [
        (4, 4, 1, 16),
        (16,),
        (4, 4, 16, 32),
        (32,),
        (1568, 625),
        (625,),
        (625, 10),
        (10,),
    ]
    assert all(w.dtype == np.float32 for w in shipped.cnn)


def test_bytes_round_trip_is_exact(shipped):
    back = ModelWeights.from_bytes(shipped.to_bytes())
    for name, value in shipped.fnn.params.items():
        np.testing.assert_array_equal(back.fnn.params[name], value)
    for a, b in zip(back.cnn, shipped.cnn, strict=True):
        np.testing.assert_array_equal(a, b)
    back.check_like(shipped)


def test_bytes_that_are_not_weights_are_refused():
    with pytest.raises(WeightsError):
        ModelWeights.from_bytes(b"not an npz")


def test_pickled_arrays_are_never_loaded(shipped):
    buffer = io.BytesIO()
    arrays = {f"fnn_{n}": v for n, v in shipped.fnn.params.items()}
    np.savez(buffer, **arrays, cnn_0=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(WeightsError):
        ModelWeights.from_bytes(buffer.getvalue())


def test_missing_arrays_are_refused(shipped):
    buffer = io.BytesIO()
    np.savez(buffer, cnn_0=shipped.cnn[0])
    with pytest.raises(WeightsError, match="FNN"):
        ModelWeights.from_bytes(buffer.getvalue())


def test_weights_of_another_shape_do_not_fit(shipped):
    other = ModelWeights(FNN.initialise(hidden=7), shipped.cnn)
    with pytest.raises(WeightsError):
        other.check_like(shipped)


def test_a_missing_models_dir_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="shipped models"):
        load_shipped(tmp_path)
