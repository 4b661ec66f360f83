"""The CNN: one definition, compiled once; inference and the online step are pure functions of weights."""

import numpy as np
import pytest
import tensorflow as tf

from digitrec.cnn import CNNFunctions, build_cnn, load_weights, save_weights
from digitrec.config import ROOT


@pytest.fixture(scope="module")
def shipped() -> list[np.ndarray]:
    return load_weights(ROOT / "models" / "cnn.npz")


@pytest.fixture(scope="module")
def cnn(shipped) -> CNNFunctions:
    return CNNFunctions(shipped)


@pytest.fixture(scope="module")
def batch(test_digits):
    return test_digits.images[:24], test_digits.labels[:24]


def test_the_declared_model_has_the_original_layers():
    model = build_cnn()
    assert model.output_shape == (None, 10)
    assert [w.shape for w in model.get_weights()][4] == (1568, 625)
    assert model.count_params() == 16 * 16 + 16 + 16 * 16 * 32 + 32 + 1568 * 625 + 625 + 6250 + 10


def test_original_and_updated_run_in_one_call_and_agree_on_the_same_weights(cnn, shipped, batch):
    original, updated = cnn.infer(batch[0], cnn.tensors(shipped))
    assert original.shape == updated.shape == (24, 10)
    np.testing.assert_allclose(original.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(original, updated, atol=1e-6)


def test_inference_answers_what_the_model_and_the_scoring_function_answer(cnn, shipped, batch):
    images = batch[0]
    stepped, _ = cnn.step(cnn.tensors(shipped), images, batch[1], 0.05)
    original, updated = cnn.infer(images, stepped)
    through_its_own_call = cnn._infer(tf.constant(images), cnn.original, stepped)
    np.testing.assert_array_equal(original, through_its_own_call[0].numpy())
    np.testing.assert_array_equal(updated, through_its_own_call[1].numpy())
    np.testing.assert_array_equal(cnn.probabilities(stepped, images), updated)
    np.testing.assert_array_equal(cnn.probabilities(cnn.original, images), original)
    np.testing.assert_allclose(original, tf.nn.softmax(cnn.model(images, training=False)), atol=1e-6)


def test_inference_is_traced_once_for_any_batch_size_and_any_weights(cnn, shipped, batch):
    stepped, _ = cnn.step(cnn.tensors(shipped), *batch, 0.01)
    for size in (1, 3, 24):
        cnn.infer(batch[0][:size], cnn.tensors(shipped))
        cnn.infer(batch[0][:size], cnn.tensors(stepped))
    # A concrete function holds one graph and cannot retrace: any other input would fail instead.
    assert isinstance(cnn._infer, tf.types.experimental.ConcreteFunction)


def test_a_step_is_pure_and_leaves_the_originals_alone(cnn, shipped, batch):
    weights = cnn.tensors(shipped)
    first, _ = cnn.step(weights, *batch, 0.01)
    second, _ = cnn.step(weights, *batch, 0.01)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    for variable, original in zip(cnn.model.get_weights(), shipped, strict=True):
        np.testing.assert_array_equal(variable, original)
    assert any(not np.array_equal(a, b) for a, b in zip(first, shipped, strict=True))


def test_a_step_lowers_the_loss_on_its_batch(cnn, shipped, batch):
    images, labels = batch
    wrong = (labels + 1) % 10  # a label the model does not predict yet
    weights, loss_before = cnn.step(cnn.tensors(shipped), images, wrong, 0.05)
    _, loss_after = cnn.step(cnn.tensors(weights), images, wrong, 0.0)
    assert loss_after < loss_before


def test_updated_weights_change_only_the_updated_output(cnn, shipped, batch):
    images, labels = batch
    stepped, _ = cnn.step(cnn.tensors(shipped), images, (labels + 1) % 10, 0.05)
    original, updated = cnn.infer(images, cnn.tensors(stepped))
    before, _ = cnn.infer(images, cnn.tensors(shipped))
    np.testing.assert_allclose(original, before, atol=1e-6)
    assert np.abs(updated - original).max() > 1e-3


def test_weights_round_trip_through_npz(tmp_path, shipped):
    path = tmp_path / "cnn.npz"
    save_weights(shipped, path)
    back = load_weights(path)
    assert len(back) == len(shipped)
    for a, b in zip(back, shipped, strict=True):
        np.testing.assert_array_equal(a, b)
