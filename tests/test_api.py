"""The HTTP API of CONTRACT.md: every route, every error status, always JSON."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from digitrec.store import StoreUnavailable
from tests.conftest import data_url


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def assert_error(response, status: int) -> str:
    assert response.status_code == status
    assert response.is_json and set(response.json) == {"error"}
    assert response.json["error"].endswith(".")
    return response.json["error"]


def service_of(app):
    return app.extensions["digitrec"]


def test_predict_takes_a_json_data_url(client, draw):
    response = client.post("/api/predict", json={"image": data_url(draw(7))})
    assert response.status_code == 200
    body = response.json
    assert body["answer"] == "7"
    assert set(body) >= {"answer", "message", "models", "digits", "model_version", "input_preview"}
    assert body["models"]["cnn"][0] == {"digit": 7, "probability": body["models"]["cnn"][0]["probability"]}
    assert body["input_preview"].startswith("data:image/png;base64,")


def test_predict_takes_bare_base64_a_multipart_upload_and_the_original_form_field(client, draw):
    png = draw(2)
    bare = client.post("/api/predict", json={"image": base64.b64encode(png).decode()})
    upload = client.post("/api/predict", data={"image": (io.BytesIO(png), "d.png")})
    form = client.post("/api/predict", data={"imageBase64": data_url(png)})
    assert [r.json["answer"] for r in (bare, upload, form)] == ["2", "2", "2"]


def test_predict_reads_jpeg_too(client, draw):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(draw(4))).convert("RGB").save(buffer, format="JPEG", quality=90)
    assert client.post("/api/predict", json={"image": data_url(buffer.getvalue())}).json["answer"] == "4"


def test_a_28x28_mnist_upload_is_read_from_its_pixels(client, test_digits):
    from digitrec.drawing import pixel_image

    index = int(np.flatnonzero(test_digits.labels == 5)[0])
    gray = np.rint(255 - 255 * test_digits.images[index]).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buffer, format="PNG")
    body = client.post("/api/predict", json={"image": data_url(buffer.getvalue())}).json
    assert body["answer"] == "5"
    preview = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["input_preview"].split(",")[1]))))
    expected = pixel_image(1.0 - gray / 255.0)
    assert np.abs((1.0 - preview / 255.0) - expected).max() <= 0.5 / 255 + 1e-6  # the pixels, not redrawn


def test_nothing_drawn_is_422(client):
    message = assert_error(client.post("/api/predict", json={"image": data_url(blank_png())}), 422)
    assert message == "Can't predict: nothing is drawn."


@pytest.mark.parametrize(
    "body",
    [
        {"image": "data:image/png;base64,!!!not base64!!!"},
        {"image": base64.b64encode(b"GIF89a" + bytes(100)).decode()},
        {"image": 42},
        {"image": ""},
        {"picture": "x"},
        [1, 2, 3],
    ],
)
def test_malformed_or_non_images_are_400(client, body):
    assert_error(client.post("/api/predict", json=body), 400)


def test_a_truncated_png_is_400(client, draw):
    assert_error(client.post("/api/predict", json={"image": data_url(draw(1)[:200])}), 400)


def test_no_body_at_all_is_400(client):
    assert_error(client.post("/api/predict"), 400)
    assert_error(client.post("/api/predict", data="{not json", content_type="application/json"), 400)


def test_a_body_over_the_limit_is_413(client):
    huge = "A" * (3 * 1024 * 1024)
    assert_error(client.post("/api/predict", json={"image": huge}), 413)


def test_unknown_routes_are_json_404_and_wrong_methods_json_405(client):
    assert_error(client.get("/api/nothing-here"), 404)
    message = assert_error(client.get("/api/predict"), 405)
    assert "GET" in message


def test_unexpected_failures_are_a_json_500_without_details(app, client, draw, monkeypatch):
    def crash(image):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(service_of(app), "predict", crash)
    response = client.post("/api/predict", json={"image": data_url(draw(1))})
    message = assert_error(response, 500)
    assert "secret" not in response.get_data(as_text=True) and "Traceback" not in message


def test_feedback_teaches_and_the_next_prediction_reports_the_new_version(client, draw):
    response = client.post("/api/feedback", json={"image": data_url(draw(9)), "digit": 9})
    assert response.status_code == 200
    body = response.json
    assert body["accepted"] is True and body["model_version"] == 1
    assert isinstance(body["sample_id"], str) and body["message"]
    assert client.post("/api/predict", json={"image": data_url(draw(9))}).json["model_version"] == 1
    assert client.get("/healthz").json == {"status": "ok", "model_version": 1}


@pytest.mark.parametrize("digit", [10, -1, "seven", True, 3.5, None, [3]])
def test_feedback_with_a_bad_digit_is_400_and_stores_nothing(app, client, draw, digit):
    body = {"image": data_url(draw(9))}
    if digit is not None:
        body["digit"] = digit
    assert_error(client.post("/api/feedback", json=body), 400)
    assert_error(client.post("/api/samples", json=body), 400)
    assert client.get("/api/samples").json["samples"] == []


def test_feedback_on_a_blank_drawing_is_422_and_stores_nothing(client):
    assert_error(client.post("/api/feedback", json={"image": data_url(blank_png()), "digit": 1}), 422)
    assert client.get("/api/samples").json["samples"] == []


def test_store_outage_is_a_json_503_with_retry_after(app, client, draw, monkeypatch):
    def down(*args):
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(service_of(app).samples, "add", down)
    response = client.post("/api/feedback", json={"image": data_url(draw(9)), "digit": 9})
    assert_error(response, 503)
    assert int(response.headers["Retry-After"]) > 0


def test_samples_are_created_listed_and_fetched(client, draw):
    created = client.post("/api/samples", json={"image": data_url(draw(3)), "digit": 3})
    assert created.status_code == 201
    sample_id = created.json["sample_id"]
    client.post("/api/samples", data={"image": (io.BytesIO(draw(5)), "x.png"), "digit": "5"})
    listing = client.get("/api/samples").json
    assert [s["digit"] for s in listing["samples"]] == [5, 3] and listing["next_cursor"] is None
    assert listing["samples"][1] == client.get(f"/api/samples/{sample_id}").json
    assert listing["samples"][1]["source"] == "collect"
    png = client.get(f"/api/samples/{sample_id}.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert Image.open(io.BytesIO(png.data)).format == "PNG"


def test_samples_page_with_a_cursor_and_filter_by_digit(client, draw):
    for digit in (1, 2, 1):
        client.post("/api/samples", json={"image": data_url(draw(digit)), "digit": digit})
    first = client.get("/api/samples?limit=2").json
    assert len(first["samples"]) == 2 and first["next_cursor"]
    second = client.get("/api/samples", query_string={"limit": 2, "cursor": first["next_cursor"]}).json
    assert len(second["samples"]) == 1 and second["next_cursor"] is None
    assert [s["digit"] for s in client.get("/api/samples?digit=1").json["samples"]] == [1, 1]


@pytest.mark.parametrize(
    "query", ["digit=10", "digit=x", "digit=-1", "limit=0", "limit=abc", "limit=100000", "cursor=../../x"]
)
def test_bad_listing_parameters_are_400(client, query):
    assert_error(client.get(f"/api/samples?{query}"), 400)


@pytest.mark.parametrize("sample_id", ["0" * 26, "nope", "..%2F..%2Fetc", "digit3__abc"])
def test_unknown_samples_are_404(client, sample_id):
    assert_error(client.get(f"/api/samples/{sample_id}"), 404)
    assert_error(client.get(f"/api/samples/{sample_id}.png"), 404)


def test_export_is_an_npz_of_model_inputs_and_labels(client, draw):
    client.post("/api/samples", json={"image": data_url(draw(6)), "digit": 6})
    response = client.get("/api/export.npz")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    with np.load(io.BytesIO(response.data), allow_pickle=False) as data:
        assert data["images"].shape == (1, 28, 28) and data["images"].dtype == np.uint8
        assert data["labels"].tolist() == [6]


def test_models_lists_the_history(client, draw):
    assert client.get("/api/models").json["version"] == 0
    client.post("/api/feedback", json={"image": data_url(draw(0)), "digit": 0})
    body = client.get("/api/models").json
    assert body["version"] == 1
    entry = body["history"][0]
    assert entry["version"] == 1 and entry["digit"] == 0 and entry["sample_id"]
    assert set(entry["accuracy"]) == {"fnn_updated", "cnn_updated"} and entry["created"]


def test_healthz_says_ok_and_the_version(client):
    assert client.get("/healthz").json == {"status": "ok", "model_version": 0}
