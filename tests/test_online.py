"""OnlineLearner: augment, step both models, check the canary, publish (retrying lost races)."""

import numpy as np
import pytest

from digitrec.config import Settings
from digitrec.drawing import stroke_points
from digitrec.online import Correction, OnlineLearner, PublishRaceLost, rehearsal_weights
from digitrec.recognizer import Recognizer
from digitrec.store import LocalBlobStore, ModelHistory


@pytest.fixture
def history(tmp_path) -> ModelHistory:
    return ModelHistory(LocalBlobStore(tmp_path / "store"))


def learner_for(engine, history, **changes) -> OnlineLearner:
    settings = Settings(store="unused", follow_interval=0.0).replace(**changes)
    recognizer = Recognizer(engine.originals, cnn=engine.cnn)
    rng = np.random.default_rng(0)
    return OnlineLearner(recognizer, history, settings, engine.canary, engine.replay, rng)


@pytest.fixture
def correction(engine) -> Correction:
    image = engine.replay.images[0]
    return Correction([stroke_points(image)], [int(engine.replay.labels[0])], ["s1"], [None])


def test_a_correction_becomes_24_variants_plus_rehearsed_digits(engine, history, correction):
    learner = learner_for(engine, history, fnn_replay_size=10, cnn_replay_size=4)
    images, labels = learner.training_batch(correction.strokes * 2, [3, 5])
    assert images.shape == (48 + 10, 28, 28)
    assert list(labels[:48]) == [3] * 24 + [5] * 24
    assert images.max() <= 1.0 and images[:48].reshape(48, -1).max(axis=1).min() > 0.5


def test_rehearsed_digits_count_as_the_training_digits_they_stand_for():
    weights = rehearsal_weights(24, 32, 480.0)
    assert weights.shape == (56,)
    np.testing.assert_allclose(weights[:24].sum(), 24 / 504, rtol=1e-6)
    np.testing.assert_allclose(weights[24:].sum(), 480 / 504, rtol=1e-6)
    np.testing.assert_allclose(rehearsal_weights(24, 0, 480.0).sum(), 24 / 504, rtol=1e-6)


def test_rehearsing_as_many_digits_as_they_stand_for_is_the_plain_mean_step(engine, history, correction):
    learner = learner_for(
        engine,
        history,
        fnn_replay_size=40,
        fnn_replay_weight=40.0,
        cnn_replay_size=16,
        cnn_replay_weight=16.0,
    )
    images, labels = learner.training_batch(correction.strokes, correction.digits)
    base = learner.recognizer.snapshot
    stepped, _accuracy, _confidence, staged = learner.step(base, images, labels, 24)
    s = learner.settings
    fnn = engine.originals.fnn.updated(
        images[:64].reshape(64, -1), labels[:64], s.fnn_learning_rate, s.fnn_l2
    )
    cnn, _loss = engine.cnn.step(base.cnn_tensors, images[:40], labels[:40], s.cnn_learning_rate)
    for name, value in fnn.params.items():
        np.testing.assert_allclose(stepped.weights.fnn.params[name], value, rtol=1e-5, atol=1e-7)
    for mine, plain in zip(stepped.weights.cnn, cnn, strict=True):
        np.testing.assert_allclose(mine, plain, rtol=1e-5, atol=1e-7)
    assert history.latest() == 0 and history.blobs.exists(staged.key)  # uploaded, not yet published


def test_the_cnn_canary_scores_every_digit_only_near_a_bound(engine, history, correction, monkeypatch):
    scored = []
    probabilities = engine.cnn.probabilities
    monkeypatch.setattr(
        engine.cnn, "probabilities", lambda w, x: scored.append(len(x)) or probabilities(w, x)
    )
    quick = Settings().canary_quick_size
    far = learner_for(engine, history, canary_max_drop=1.0, canary_max_confidence_drop=1.0)
    scored.clear()
    assert far.learn(correction).accepted
    assert scored == [quick]
    near = learner_for(engine, history, canary_max_drop=1.0, canary_max_confidence_drop=0.0)
    wrong = Correction(correction.strokes, [(correction.digits[0] + 1) % 10], ["s2"], [None])
    scored.clear()
    near.learn(wrong)
    assert scored == [quick, len(engine.canary.images) - quick]


def test_learning_publishes_the_next_version_and_swaps_it_in(engine, history, correction):
    learner = learner_for(engine, history)
    outcome = learner.learn(correction)
    assert outcome.accepted and outcome.version == 1
    record = history.get(1)
    assert record.parent == 0
    assert record.info["sample_id"] == "s1" and record.info["digit"] == correction.digits[0]
    assert set(record.info["accuracy"]) == {"fnn_updated", "cnn_updated"}
    assert learner.recognizer.snapshot.version == 1
    stored = learner.recognizer.snapshot.weights
    assert not np.array_equal(stored.fnn.params["w1"], engine.originals.fnn.params["w1"])


def test_the_originals_never_change(engine, history, correction):
    before = engine.originals.fnn.params["w1"].copy()
    learner_for(engine, history).learn(correction)
    np.testing.assert_array_equal(engine.originals.fnn.params["w1"], before)
    np.testing.assert_array_equal(engine.cnn.model.get_weights()[0], engine.originals.cnn[0])


def test_an_update_that_ruins_the_canary_is_refused_and_recorded(engine, history, correction):
    learner = learner_for(
        engine, history, fnn_learning_rate=50.0, cnn_learning_rate=50.0, canary_max_drop=0.0
    )
    # A wrong label at a huge rate: a digit the models already know well would barely move them.
    wrong = [(correction.digits[0] + 1) % 10]
    outcome = learner.learn(Correction(correction.strokes, wrong, correction.sample_ids, [None]))
    assert not outcome.accepted
    assert outcome.version == 0 and history.latest() == 0
    events = history.events()
    assert len(events) == 1 and events[0]["event"] == "update_refused"
    assert events[0]["sample_id"] == "s1"
    assert history.blobs.list("weights/") == []  # the weights uploaded during the check are gone


def test_a_model_that_fails_the_canary_keeps_its_weights_while_the_other_learns(engine, history, correction):
    learner = learner_for(engine, history, fnn_learning_rate=50.0, canary_max_drop=0.02)
    outcome = learner.learn(correction)
    assert outcome.accepted
    assert history.get(1).info["learned"] == ["cnn_updated"]
    assert history.blobs.list("weights/") == [history.get(1).weights_key]
    np.testing.assert_array_equal(
        learner.recognizer.snapshot.weights.fnn.params["w1"], engine.originals.fnn.params["w1"]
    )


def test_a_lost_race_is_re_applied_on_the_winners_version(engine, history, correction, tmp_path):
    learner = learner_for(engine, history)
    other_worker = ModelHistory(LocalBlobStore(tmp_path / "store"))
    real_publish = history.publish
    calls = []

    def publish_after_a_rival(parent, weights, info):
        if not calls:
            other_worker.publish(parent, engine.originals.to_bytes(), {"by": "rival"})
        calls.append(parent)
        return real_publish(parent, weights, info)

    history.publish = publish_after_a_rival
    outcome = learner.learn(correction)
    assert calls == [0, 1]
    assert outcome.accepted and outcome.version == 2
    assert history.get(2).parent == 1 and history.get(1).info == {"by": "rival"}


def test_too_many_lost_races_give_up_with_a_clear_error(engine, history, correction):
    learner = learner_for(engine, history, publish_retries=3)
    history.publish = lambda parent, weights, info: None
    with pytest.raises(PublishRaceLost, match="saved"):
        learner.learn(correction)


def test_an_update_that_only_lowers_confidence_is_refused_too(engine, history, correction):
    learner = learner_for(
        engine,
        history,
        fnn_learning_rate=0.5,
        cnn_learning_rate=0.5,
        canary_max_drop=1.0,
        canary_max_confidence_drop=0.0,
    )
    wrong = Correction(correction.strokes, [(correction.digits[0] + 1) % 10], ["s1"], [None])
    outcome = learner.learn(wrong)
    assert not outcome.accepted and history.latest() == 0
