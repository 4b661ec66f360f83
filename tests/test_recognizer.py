"""Recognizer: four models on one batch; versions swap in atomically and follow the store."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tensorflow as tf

from digitrec.fnn import FNN
from digitrec.recognizer import MODEL_NAMES, Recognizer
from digitrec.store import LocalBlobStore, ModelHistory, StoreUnavailable
from digitrec.weights import ModelWeights


@pytest.fixture
def recognizer(engine) -> Recognizer:
    return Recognizer(engine.originals, follow_interval=0.0, cnn=engine.cnn)


@pytest.fixture
def history(tmp_path) -> ModelHistory:
    return ModelHistory(LocalBlobStore(tmp_path / "store"))


@pytest.fixture(scope="module")
def images(engine) -> np.ndarray:
    return engine.canary.images[:8]


def other_weights(engine, seed: int) -> ModelWeights:
    """Weights that answer differently from the originals (same shapes)."""
    rng = np.random.default_rng(seed)
    fnn = FNN.initialise(hidden=engine.originals.fnn.hidden, seed=seed)
    cnn = [w + rng.normal(0, 0.05, w.shape).astype(np.float32) for w in engine.originals.cnn]
    return ModelWeights(fnn, cnn)


def test_four_models_answer_one_batch(recognizer, images):
    probs = recognizer.predict(images)
    assert set(probs) == set(MODEL_NAMES)
    for p in probs.values():
        assert p.shape == (8, 10)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_at_version_zero_the_updated_models_are_the_originals(recognizer, images):
    probs = recognizer.predict(images)
    assert recognizer.snapshot.version == 0
    np.testing.assert_allclose(probs["fnn"], probs["fnn_updated"], atol=1e-6)
    np.testing.assert_allclose(probs["cnn"], probs["cnn_updated"], atol=1e-6)
    # Run once then, the CNN gives the very numbers of the original in the two-model call.
    both = recognizer.cnn.infer(images, recognizer.cnn.original)
    np.testing.assert_array_equal(probs["cnn"], both[0])
    np.testing.assert_array_equal(probs["cnn_updated"], both[1])


def test_installing_a_newer_version_changes_only_the_updated_models(recognizer, engine, images):
    before = recognizer.predict(images)
    assert recognizer.install(recognizer.make_snapshot(1, other_weights(engine, 1)))
    after = recognizer.predict(images)
    np.testing.assert_allclose(after["fnn"], before["fnn"], atol=1e-6)
    np.testing.assert_allclose(after["cnn"], before["cnn"], atol=1e-6)
    assert np.abs(after["fnn_updated"] - before["fnn_updated"]).max() > 1e-3
    assert np.abs(after["cnn_updated"] - before["cnn_updated"]).max() > 1e-3


def test_an_older_version_is_never_installed_over_a_newer_one(recognizer, engine):
    assert recognizer.install(recognizer.make_snapshot(5, other_weights(engine, 1)))
    assert not recognizer.install(recognizer.make_snapshot(4, other_weights(engine, 2)))
    assert recognizer.snapshot.version == 5


def test_follow_loads_the_latest_published_version(recognizer, engine, history, images):
    weights = other_weights(engine, 3)
    history.publish(0, weights.to_bytes(), {})
    assert recognizer.follow(history).version == 1
    expected = weights.fnn(images.reshape(8, -1))
    np.testing.assert_allclose(recognizer.predict(images)["fnn_updated"], expected, atol=1e-6)


def test_a_reset_version_brings_back_the_originals_under_its_number(recognizer, engine, history, images):
    history.publish(0, other_weights(engine, 3).to_bytes(), {})
    history.publish(1, None, {"event": "reset"})
    assert recognizer.follow(history).version == 2
    probs = recognizer.predict(images)
    np.testing.assert_allclose(probs["fnn_updated"], probs["fnn"], atol=1e-6)


def test_follow_asks_the_store_at_most_once_per_interval_unless_forced(engine, history):
    recognizer = Recognizer(engine.originals, follow_interval=3600.0, cnn=engine.cnn)
    assert recognizer.follow(history).version == 0
    history.publish(0, other_weights(engine, 4).to_bytes(), {})
    assert recognizer.follow(history).version == 0
    assert recognizer.follow(history, force=True).version == 1


def test_a_store_outage_keeps_the_current_models(recognizer):
    class DownHistory:
        def latest(self):
            raise StoreUnavailable("down")

    with pytest.raises(StoreUnavailable):
        recognizer.follow(DownHistory())
    assert recognizer.snapshot.version == 0


def test_predictions_never_mix_two_versions(recognizer, engine, images):
    versions = [other_weights(engine, 10), other_weights(engine, 11)]
    flat = images.reshape(8, -1)
    expected = [(w.fnn(flat), recognizer.make_snapshot(1, w)) for w in versions]
    cnn_expected = [recognizer.predict(images, snap)["cnn_updated"] for _, snap in expected]
    recognizer.install(recognizer.make_snapshot(1, versions[1]))
    stop = threading.Event()

    def swap():
        version = 2
        while not stop.is_set():
            recognizer.install(recognizer.make_snapshot(version, versions[version % 2]))
            version += 1

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        for _ in range(60):
            probs = recognizer.predict(images)
            fnn_match = [np.allclose(probs["fnn_updated"], fnn, atol=1e-6) for fnn, _ in expected]
            cnn_match = [np.allclose(probs["cnn_updated"], cnn, atol=1e-5) for cnn in cnn_expected]
            assert fnn_match == cnn_match and any(fnn_match)
    finally:
        stop.set()
        swapper.join()


def test_predict_with_runs_the_work_and_gives_the_same_answer_on_any_thread(recognizer, images):
    alone, result = recognizer.predict_with(images, lambda: "done")
    assert result == "done"
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda _: recognizer.predict(images), range(12)))
    for answer in answers:
        for name in MODEL_NAMES:
            np.testing.assert_array_equal(alone[name], answer[name])


def test_work_that_fails_leaves_the_recognizer_working(recognizer, images):
    def fail():
        raise ValueError("bad work")

    with pytest.raises(ValueError, match="bad work"):
        recognizer.predict_with(images, fail)
    np.testing.assert_array_equal(
        recognizer.predict(images)["cnn"], recognizer.cnn.infer(images, recognizer.snapshot.cnn_tensors)[0]
    )


def test_a_failed_cnn_call_does_not_break_the_next_ones(recognizer, images):
    tensors = recognizer.snapshot.cnn_tensors
    with pytest.raises(tf.errors.OpError):  # 27x28 pixels cannot be reshaped to a 28x28 image
        recognizer.cnn.infer(np.zeros((1, 27, 28), np.float32), tensors)
    assert recognizer.predict(images)["cnn"].shape == (len(images), 10)
