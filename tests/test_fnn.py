"""The numpy FNN: gradients, learning, and the npz round trip."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.fnn import FNN


@pytest.fixture
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((6, 784)).astype(np.float32), rng.integers(0, 10, 6)


def test_probabilities_are_rows_summing_to_one(batch):
    probs = FNN.initialise(hidden=16)(batch[0])
    assert probs.shape == (6, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_weighted_gradients_mix_the_mean_gradients_of_each_part(batch):
    x, y = batch
    net = FNN.initialise(hidden=16, seed=3)
    # The first 2 rows count as 2 of 10 shares, the other 4 together as 8 (rehearsal).
    weights = np.array([1, 1, 2, 2, 2, 2], np.float32) / 10
    mixed = net.weighted_gradients(x, y, 0.01, weights)
    _, first = net.loss_and_gradients(x[:2], y[:2], l2=0.01)
    _, rest = net.loss_and_gradients(x[2:], y[2:], l2=0.01)
    for name, grad in mixed.items():
        np.testing.assert_allclose(grad, 0.2 * first[name] + 0.8 * rest[name], rtol=1e-4, atol=1e-7)
    uniform = net.weighted_gradients(x, y, 0.01, np.full(6, 1 / 6, np.float32))
    for name, grad in net.loss_and_gradients(x, y, l2=0.01)[1].items():
        np.testing.assert_allclose(uniform[name], grad, rtol=1e-5, atol=1e-8)


def test_gradients_match_finite_differences(batch):
    x, y = batch
    net = FNN.initialise(hidden=8, seed=1)
    net.params = {name: value.astype(np.float64) for name, value in net.params.items()}
    x = x.astype(np.float64)
    _, grads = net.loss_and_gradients(x, y, l2=0.01)
    rng = np.random.default_rng(2)
    eps = 1e-5
    for name, value in net.params.items():
        for index in [tuple(rng.integers(0, n) for n in value.shape) for _ in range(5)]:
            original = value[index]
            value[index] = original + eps
            plus, _ = net.loss_and_gradients(x, y, l2=0.01)
            value[index] = original - eps
            minus, _ = net.loss_and_gradients(x, y, l2=0.01)
            value[index] = original
            numeric = (plus - minus) / (2 * eps)
            assert grads[name][index] == pytest.approx(numeric, rel=1e-4, abs=1e-7), (name, index)


def test_sgd_steps_lower_the_loss_on_a_fixed_batch(batch):
    x, y = batch
    net = FNN.initialise(hidden=32)
    before, _ = net.loss_and_gradients(x, y, l2=0.001)
    for _ in range(20):
        net.sgd_step(x, y, learning_rate=0.1, l2=0.001)
    after, _ = net.loss_and_gradients(x, y, l2=0.001)
    assert after < before * 0.5


def test_updated_leaves_the_original_untouched(batch):
    net = FNN.initialise(hidden=16)
    w1 = net.params["w1"].copy()
    new = net.updated(*batch, learning_rate=0.1, l2=0.001)
    np.testing.assert_array_equal(net.params["w1"], w1)
    assert not np.array_equal(new.params["w1"], w1)


def test_save_load_round_trip_is_exact(tmp_path, batch):
    net = FNN.initialise(hidden=16, seed=4)
    net.save(tmp_path / "fnn.npz")
    loaded = FNN.load(tmp_path / "fnn.npz")
    for name in ("w1", "b1", "w2", "b2"):
        np.testing.assert_array_equal(loaded.params[name], net.params[name])
    np.testing.assert_array_equal(loaded(batch[0]), net(batch[0]))


def test_he_initialisation_scale():
    w1 = FNN.initialise(hidden=200, seed=0).params["w1"]
    assert w1.std() == pytest.approx(np.sqrt(2 / 784), rel=0.05)
