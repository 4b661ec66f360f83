"""DigitService: predict, feedback (sample first, then learning), samples, export, versions, degraded mode."""

import base64
import concurrent.futures
import io
import threading

import numpy as np
import pytest
from PIL import Image

import digitrec.service as service_module
from digitrec.canvas import render_string
from digitrec.drawing import BlankDrawing, DrawingError
from digitrec.service import DigitService, InvalidRequest, NotFound, ServiceUnavailable
from digitrec.store import LocalBlobStore, StoreUnavailable


class SwitchableStore(LocalBlobStore):
    """A local store that can be switched off, like an S3 endpoint going down."""

    down = False

    def __getattribute__(self, name):
        if name in ("put", "put_if_absent", "get", "exists", "list", "delete") and object.__getattribute__(
            self, "down"
        ):
            raise StoreUnavailable("switched off")
        return object.__getattribute__(self, name)


@pytest.fixture
def service(settings) -> DigitService:
    return DigitService(settings)


@pytest.fixture
def switchable(monkeypatch, tmp_path):
    store = SwitchableStore(tmp_path / "switchable")
    monkeypatch.setattr(service_module, "open_blob_store", lambda url, endpoint_url=None: store)
    return store


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (200, 200), 255).save(buffer, format="PNG")
    return buffer.getvalue()


def test_predict_answers_with_four_models_a_box_and_the_input_preview(service, draw):
    result = service.predict(draw(3))
    assert result["answer"] == "3"
    assert result["model_version"] == 0
    assert set(result["models"]) == {"fnn", "fnn_updated", "cnn", "cnn_updated"}
    assert all(len(top) == 3 for top in result["models"].values())
    assert len(result["digits"]) == 1 and len(result["digits"][0]["box"]) == 4
    preview = Image.open(io.BytesIO(base64.b64decode(result["input_preview"].split(",", 1)[1])))
    assert preview.size == (28, 28)


def test_several_digits_are_answered_left_to_right(service, test_digits):
    images = [test_digits.images[np.flatnonzero(test_digits.labels == d)[0]] for d in (4, 2)]
    result = service.predict(render_string(np.stack(images)))
    assert len(result["digits"]) == 2
    first, second = (entry["box"] for entry in result["digits"])
    assert first[2] <= second[0]
    assert result["answer"] == "42"


def test_blank_and_broken_images_are_refused(service):
    with pytest.raises(BlankDrawing):
        service.predict(blank_png())
    with pytest.raises(DrawingError):
        service.predict(b"GIF89a not a png")


def test_feedback_stores_the_sample_and_publishes_a_version(service, draw):
    result = service.feedback(draw(5), 5)
    assert result["accepted"] and result["model_version"] == 1
    assert service.sample(result["sample_id"])["digit"] == 5
    assert service.sample(result["sample_id"])["source"] == "feedback"
    assert service.predict(draw(5))["model_version"] == 1


def test_a_prediction_does_not_wait_for_the_canary_and_a_correction_does(settings, engine, draw, monkeypatch):
    prepared = threading.Event()
    load_canary = service_module.load_canary

    def slow_canary(size):
        assert prepared.wait(30)
        return load_canary(size)

    monkeypatch.setattr(service_module, "load_canary", slow_canary)
    fresh = service_module.Engine(engine.originals, engine.cnn, settings.canary_size, settings.replay_pool)
    service = DigitService(settings, fresh)
    assert service.predict(draw(3))["answer"] == "3"  # while the learner's digits are not ready
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        learning = pool.submit(service.feedback, draw(5), 5)
        with pytest.raises(concurrent.futures.TimeoutError):
            learning.result(timeout=2)  # a correction takes well under a second once they are
        prepared.set()
        assert learning.result(timeout=60)["accepted"]
    assert service.learner.canary is fresh.canary and len(fresh.canary.images) == settings.canary_size


def test_the_sample_is_kept_even_when_learning_fails(service, draw, monkeypatch):
    def broken(correction):
        raise RuntimeError("training crashed")

    monkeypatch.setattr(service.learner, "learn", broken)
    with pytest.raises(RuntimeError):
        service.feedback(draw(5), 5)
    assert [s["digit"] for s in service.list_samples()["samples"]] == [5]


def test_multi_digit_feedback_stores_and_trains_each_digit(service, test_digits):
    images = [test_digits.images[np.flatnonzero(test_digits.labels == d)[1]] for d in (7, 1)]
    result = service.feedback(render_string(np.stack(images)), "71")
    assert len(result["sample_ids"]) == 2
    assert [service.sample(i)["digit"] for i in result["sample_ids"]] == [7, 1]
    assert service.history.get(1).info["digits"] == [7, 1]


def test_a_digit_string_of_the_wrong_length_is_refused_before_anything_is_stored(service, draw):
    with pytest.raises(InvalidRequest, match="1 digit"):
        service.feedback(draw(5), "55")
    assert service.list_samples()["samples"] == []


@pytest.mark.parametrize("digit", [10, -1, True, 2.5, None, "x"])
def test_bad_digits_are_refused(service, draw, digit):
    with pytest.raises(InvalidRequest):
        service.feedback(draw(5), digit)
    with pytest.raises(InvalidRequest):
        service.collect(draw(5), digit)


def test_collect_stores_without_training(service, draw):
    sample_id = service.collect(draw(8), 8)["sample_id"]
    assert service.sample(sample_id)["source"] == "collect"
    assert service.history.latest() == 0
    assert Image.open(io.BytesIO(service.sample_png(sample_id))).format == "PNG"


def test_listing_pages_through_samples_newest_first(service, draw):
    ids = [service.collect(draw(d), d)["sample_id"] for d in (1, 2, 3)]
    page = service.list_samples(limit=2)
    assert [s["sample_id"] for s in page["samples"]] == ids[::-1][:2]
    rest = service.list_samples(limit=2, cursor=page["next_cursor"])
    assert [s["sample_id"] for s in rest["samples"]] == ids[:1] and rest["next_cursor"] is None
    assert [s["digit"] for s in service.list_samples(digit=2)["samples"]] == [2]


def test_bad_listing_parameters_are_refused(service):
    for kwargs in ({"limit": 0}, {"limit": 10_000}, {"cursor": "../../etc"}, {"digit": 12}):
        with pytest.raises(InvalidRequest):
            service.list_samples(**kwargs)


def test_unknown_or_malformed_sample_ids_are_not_found(service):
    for sample_id in ("0" * 26, "../secrets", "digit3__x.png"):
        with pytest.raises(NotFound):
            service.sample(sample_id)
        with pytest.raises(NotFound):
            service.sample_png(sample_id)


def test_export_holds_the_model_inputs_and_labels(service, draw):
    service.collect(draw(4), 4)
    service.collect(draw(9), 9)
    with np.load(io.BytesIO(b"".join(service.export())), allow_pickle=False) as data:
        assert data["images"].shape == (2, 28, 28) and data["images"].dtype == np.uint8
        assert data["images"].max() == 255
        assert sorted(data["labels"].tolist()) == [4, 9]


def test_models_lists_every_version_with_its_accuracy(service, draw):
    service.feedback(draw(6), 6)
    models = service.models()
    assert models["version"] == 1
    assert models["history"][0]["digit"] == 6
    assert set(models["history"][0]["accuracy"]) == {"fnn_updated", "cnn_updated"}
    assert set(models["originals"]) == {"fnn_updated", "cnn_updated"}


def test_reset_and_roll_back_publish_new_versions(service, draw):
    service.feedback(draw(6), 6)
    assert service.reset_models() == 2
    assert service.recognizer.snapshot.weights is service.engine.originals
    assert service.roll_back(1) == 3
    assert service.predict(draw(6))["model_version"] == 3
    with pytest.raises(NotFound):
        service.roll_back(99)


def test_an_unreachable_store_at_start_degrades_but_predicts(settings, switchable, draw):
    switchable.down = True
    service = DigitService(settings)
    assert service.health()["status"] == "degraded"
    assert service.predict(draw(3))["answer"] == "3"
    with pytest.raises(ServiceUnavailable, match="nothing was saved"):
        service.feedback(draw(3), 3)
    switchable.down = False
    service.refresh()  # what the refresh thread does every follow interval
    assert service.health()["status"] == "ok"
    assert service.feedback(draw(3), 3)["accepted"]


def test_an_outage_later_keeps_predictions_on_the_cached_models(settings, switchable, draw):
    service = DigitService(settings)
    service.feedback(draw(2), 2)
    switchable.down = True
    assert service.predict(draw(2))["model_version"] == 1
    with pytest.raises(ServiceUnavailable):
        service.collect(draw(2), 2)
    assert service.health()["status"] == "degraded"
    switchable.down = False
    assert len(service.list_samples()["samples"]) == 1
