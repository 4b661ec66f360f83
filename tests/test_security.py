"""Secure defaults: headers, body and pixel limits, input validation, rate limits, CORS, no leaks."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from flask import Response
from PIL import Image

from digitrec.config import ConfigError, Settings
from digitrec.ratelimit import Rate
from digitrec.web import create_app
from tests.conftest import data_url

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
IMAGE_ROUTES = ["/api/predict", "/api/feedback", "/api/samples"]


def stored_samples(app) -> list:
    return app.extensions["digitrec"].samples.list(limit=1000)[0]


def png_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, format=fmt)
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/no/such/page"),
        ("DELETE", "/healthz"),
        ("POST", "/api/predict"),
    ],
)
def test_every_response_carries_the_security_headers(client, method, path):
    response = client.open(path, method=method, json={})
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "Content-Security-Policy" in response.headers


def test_a_security_header_the_response_sets_itself_is_kept_once(app):
    add = next(f for f in app.after_request_funcs[None] if f.__name__ == "add_security_headers")
    with app.test_request_context("/", base_url="https://localhost"):
        response = add(
            Response("x", headers={"x-frame-options": "SAMEORIGIN", "Strict-Transport-Security": "max-age=1"})
        )
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.getlist("Strict-Transport-Security") == ["max-age=1"]
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_content_security_policy_forbids_inline_script_framing_and_plugins(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_strict_transport_security_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    secure = client.get("/healthz", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_debug_is_off(app):
    assert app.debug is False
    assert app.config["PROPAGATE_EXCEPTIONS"] is False


def test_an_unexpected_error_is_a_json_500_without_details(app, client, draw, monkeypatch):
    def explode(image):
        raise RuntimeError("internal detail /secret/path")

    monkeypatch.setattr(app.extensions["digitrec"], "predict", explode)
    response = client.post("/api/predict", json={"image": data_url(draw(3))})
    assert response.status_code == 500
    assert set(response.json) == {"error"}
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


# --- body and image limits -----------------------------------------------------------------------


@pytest.fixture
def small_body_client(settings):
    return create_app(settings.replace(max_content_length=50_000)).test_client()


@pytest.mark.parametrize("path", IMAGE_ROUTES)
def test_a_json_body_over_the_limit_is_413_json(small_body_client, path):
    response = small_body_client.post(path, json={"image": "A" * 60_000, "digit": 1})
    assert response.status_code == 413
    assert "too large" in response.json["error"]


def test_a_multipart_upload_over_the_limit_is_413_json(small_body_client):
    files = {"image": (io.BytesIO(b"\x89PNG" + b"\0" * 60_000), "big.png")}
    response = small_body_client.post("/api/predict", data=files, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "error" in response.json


def test_the_default_body_limit_is_about_two_megabytes(client):
    body = b"{" + b" " * (2 * 1024 * 1024 + 1) + b"}"
    response = client.post("/api/predict", data=body, content_type="application/json")
    assert response.status_code == 413
    assert Settings().max_content_length == 2 * 1024 * 1024


@pytest.mark.parametrize("path", IMAGE_ROUTES)
def test_a_decompression_bomb_is_refused_and_nothing_is_stored(app, client, path):
    response = client.post(path, json={"image": b64(png_header_claiming(100_000, 100_000)), "digit": 1})
    assert response.status_code == 400
    assert "error" in response.json
    assert stored_samples(app) == []


@pytest.mark.parametrize("path", IMAGE_ROUTES)
def test_an_upload_over_the_pixel_limit_is_refused_before_decoding(app, client, path):
    side = 2049  # just over MAX_UPLOAD_PIXELS (2048 x 2048); its PNG is a few kB
    response = client.post(path, json={"image": b64(png_header_claiming(side, side)), "digit": 1})
    assert response.status_code == 400
    assert "pixels" in response.json["error"]
    assert stored_samples(app) == []


# --- validation of every field -------------------------------------------------------------------


def _bad_images(draw) -> dict[str, object]:
    png = draw(4)
    return {
        "gif": b64(png_bytes(40, 40, "GIF")),
        "bmp": b64(png_bytes(40, 40, "BMP")),
        "truncated png": b64(png[: len(png) // 2]),
        "corrupt png": b64(png[:40] + bytes(200) + png[240:]),
        "not base64": "data:image/png;base64,@@not*base64@@",
        "text": b64(b"hello, world"),
        "empty": "",
        "number": 12345,
        "list": [1, 2, 3],
        "null": None,
    }


@pytest.mark.parametrize("path", IMAGE_ROUTES)
def test_bad_images_are_400_json_and_nothing_is_stored(app, client, draw, path):
    for case, image in _bad_images(draw).items():
        response = client.post(path, json={"image": image, "digit": 4})
        assert response.status_code == 400, case
        assert isinstance(response.json["error"], str) and response.json["error"], case
    assert stored_samples(app) == []


@pytest.mark.parametrize("path", IMAGE_ROUTES)
def test_a_blank_drawing_is_422_and_nothing_is_stored(app, client, path):
    response = client.post(path, json={"image": b64(png_bytes(200, 200)), "digit": 4})
    assert response.status_code == 422
    assert response.json["error"] == "Can't predict: nothing is drawn."
    assert stored_samples(app) == []


@pytest.mark.parametrize("path", ["/api/feedback", "/api/samples"])
@pytest.mark.parametrize("digit", [10, -1, 3.5, True, None, "x", "", [3], {"d": 3}, "٣"])
def test_a_digit_that_is_not_0_to_9_is_400_and_nothing_is_stored(app, client, draw, path, digit):
    response = client.post(path, json={"image": data_url(draw(3)), "digit": digit})
    assert response.status_code == 400
    assert "digit" in response.json["error"]
    assert stored_samples(app) == []


@pytest.mark.parametrize("path", ["/api/feedback", "/api/samples"])
def test_a_missing_digit_is_400(app, client, draw, path):
    response = client.post(path, json={"image": data_url(draw(3))})
    assert response.status_code == 400
    assert stored_samples(app) == []


@pytest.mark.parametrize("path", IMAGE_ROUTES)
@pytest.mark.parametrize("body", [b"[1, 2]", b'"image"', b"42", b"null", b"{not json", b'{"digit": 3}'])
def test_json_that_is_not_an_object_with_an_image_is_400(app, client, path, body):
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json
    assert stored_samples(app) == []


@pytest.mark.parametrize("path", IMAGE_ROUTES)
def test_a_body_that_is_neither_json_nor_a_form_is_400(client, path):
    response = client.post(path, data=b"\x00\x01\x02", content_type="application/octet-stream")
    assert response.status_code == 400
    assert "error" in response.json


def test_unknown_routes_and_methods_are_json(client):
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404 and "error" in missing.json
    wrong_method = client.put("/api/predict")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json
    assert "POST" in wrong_method.headers["Allow"]


@pytest.mark.parametrize("sample_id", ["..%2F..%2Fetc%2Fpasswd", "nope", "a" * 300, "%00"])
def test_sample_ids_from_the_url_never_reach_the_store_as_paths(client, sample_id):
    for path in (f"/api/samples/{sample_id}", f"/api/samples/{sample_id}.png"):
        response = client.get(path)
        assert response.status_code == 404
        assert "error" in response.json


@pytest.mark.parametrize(
    "query", ["digit=12", "digit=x", "limit=0", "limit=-3", "limit=abc", "cursor=../../x"]
)
def test_bad_sample_list_queries_are_400(client, query):
    response = client.get(f"/api/samples?{query}")
    assert response.status_code == 400
    assert "error" in response.json


# --- rate limits ---------------------------------------------------------------------------------


@pytest.fixture
def limited_app(settings):
    return create_app(settings.replace(rate_uploads=Rate(2, 60, 2), rate_predictions=Rate(3, 60, 3)))


def _post_from(client, path, remote_addr, body, headers=None):
    return client.post(path, json=body, environ_base={"REMOTE_ADDR": remote_addr}, headers=headers)


def test_uploads_beyond_the_burst_get_429_with_retry_after_and_are_not_stored(limited_app, draw):
    client = limited_app.test_client()
    body = {"image": data_url(draw(5)), "digit": 5}
    statuses = [_post_from(client, "/api/samples", "10.0.0.1", body).status_code for _ in range(2)]
    refused = _post_from(client, "/api/feedback", "10.0.0.1", body)  # feedback shares the uploads bucket
    assert statuses == [201, 201]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "wait" in refused.json["error"]
    assert len(stored_samples(limited_app)) == 2


def test_predictions_have_their_own_bucket(limited_app, draw):
    client = limited_app.test_client()
    upload = {"image": data_url(draw(5)), "digit": 5}
    for _ in range(2):
        _post_from(client, "/api/samples", "10.0.0.2", upload)
    statuses = [_post_from(client, "/api/predict", "10.0.0.2", upload).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_reading_is_not_rate_limited(limited_app):
    client = limited_app.test_client()
    assert all(client.get("/api/samples").status_code == 200 for _ in range(10))


def test_each_client_address_has_its_own_bucket(limited_app, draw):
    client = limited_app.test_client()
    body = {"image": data_url(draw(5)), "digit": 5}
    for _ in range(3):
        _post_from(client, "/api/samples", "10.0.0.3", body)
    assert _post_from(client, "/api/samples", "10.0.0.4", body).status_code == 201


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(limited_app, draw):
    client = limited_app.test_client()
    body = {"image": data_url(draw(5)), "digit": 5}
    statuses = [
        _post_from(client, "/api/samples", "10.0.0.5", body, {"X-Forwarded-For": f"192.0.2.{i}"}).status_code
        for i in range(3)
    ]
    assert statuses == [201, 201, 429]


def test_behind_one_trusted_proxy_the_hop_it_appended_is_the_client(settings, draw):
    app = create_app(settings.replace(rate_uploads=Rate(1, 60, 1), trusted_proxies=1))
    client = app.test_client()
    body = {"image": data_url(draw(5)), "digit": 5}
    # The router appends the address it saw; whatever the client wrote before it is ignored.
    first = _post_from(client, "/api/samples", "10.1.1.1", body, {"X-Forwarded-For": "198.51.100.7"})
    spoofed = _post_from(
        client, "/api/samples", "10.1.1.1", body, {"X-Forwarded-For": "1.2.3.4, 198.51.100.7"}
    )
    other = _post_from(client, "/api/samples", "10.1.1.1", body, {"X-Forwarded-For": "198.51.100.8"})
    assert (first.status_code, spoofed.status_code, other.status_code) == (201, 429, 201)


@pytest.mark.parametrize("path", ["/api/export.npz", "/api/export.csv"])
def test_exports_are_limited_even_when_other_limits_are_off(client, path):
    statuses = [client.get(path, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get(path, environ_base={"REMOTE_ADDR": "10.0.0.10"}).status_code == 200


def test_rates_come_from_the_environment():
    settings = Settings.from_env({"DIGITREC_RATE_UPLOADS": "5/10:2", "DIGITREC_RATE_PREDICT": "off"})
    assert settings.rate_uploads == Rate(5, 10, 2)
    assert settings.rate_predictions is None
    assert Settings.from_env({"DIGITREC_TRUSTED_PROXIES": "1"}).trusted_proxies == 1


@pytest.mark.parametrize(
    "environ",
    [{"DIGITREC_RATE_UPLOADS": "lots"}, {"DIGITREC_RATE_PREDICT": "5/0"}, {"DIGITREC_TRUSTED_PROXIES": "-1"}],
)
def test_bad_rate_settings_fail_at_start(environ):
    with pytest.raises(ConfigError):
        Settings.from_env(environ)


def test_default_rates_limit_uploads_and_are_generous_for_predictions():
    defaults = Settings()
    assert defaults.rate_uploads is not None and defaults.rate_predictions is not None
    assert defaults.rate_predictions.per_second > 5 * defaults.rate_uploads.per_second
    assert defaults.trusted_proxies == 0


# --- CORS ----------------------------------------------------------------------------------------


def test_without_cors_origins_other_sites_get_no_cors_grant(client):
    response = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/api/predict",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.fixture
def cors_client(settings):
    return create_app(settings.replace(cors_origins=("https://friend.example",))).test_client()


def test_listed_origins_may_call_the_api(cors_client):
    response = cors_client.get("/api/models", headers={"Origin": "https://friend.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://friend.example"
    preflight = cors_client.options(
        "/api/predict",
        headers={
            "Origin": "https://friend.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://friend.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_unlisted_origins_get_no_cors_grant_even_when_some_are_listed(cors_client):
    response = cors_client.get("/api/models", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_errors_are_granted_too_so_the_listed_site_can_read_them(cors_client):
    response = cors_client.post("/api/predict", json={}, headers={"Origin": "https://friend.example"})
    assert response.status_code == 400
    assert response.headers["Access-Control-Allow-Origin"] == "https://friend.example"


def test_cors_origins_come_from_the_environment():
    settings = Settings.from_env({"DIGITREC_CORS_ORIGINS": "https://a.example, https://b.example"})
    assert settings.cors_origins == ("https://a.example", "https://b.example")
