"""Admin routes: disabled without a token, 401 without the right one, and what each route does."""

from __future__ import annotations

import logging

import pytest

from digitrec.web import create_app
from tests.conftest import data_url

TOKEN = "test-admin-token-4f9c2e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN_ROUTES = [
    ("POST", "/api/models/reset", None),
    ("POST", "/api/models/rollback", {"version": 0}),
    ("DELETE", "/api/samples/x", None),
    ("PATCH", "/api/samples/x", {"digit": 3}),
]


@pytest.fixture
def admin_app(settings):
    return create_app(settings.replace(admin_token=TOKEN))


@pytest.fixture
def admin_client(admin_app):
    return admin_app.test_client()


def add_sample(client, draw, digit: int = 7) -> str:
    response = client.post("/api/samples", json={"image": data_url(draw(digit)), "digit": digit})
    assert response.status_code == 201
    return response.json["sample_id"]


def teach(client, draw, digit: int = 2) -> int:
    response = client.post("/api/feedback", json={"image": data_url(draw(digit, 1)), "digit": digit})
    assert response.status_code == 200 and response.json["accepted"]
    return response.json["model_version"]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_without_a_configured_token_admin_routes_are_403(client, method, path, body):
    response = client.open(path, method=method, json=body, headers=AUTH)
    assert response.status_code == 403
    assert "DIGITREC_ADMIN_TOKEN" in response.json["error"]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer "},
    ],
)
def test_a_missing_or_wrong_token_is_401(admin_client, method, path, body, headers):
    response = admin_client.open(path, method=method, json=body, headers=headers)
    assert response.status_code == 401
    assert "Authorization" in response.json["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_bearer_scheme_is_case_insensitive(admin_client):
    response = admin_client.post("/api/models/reset", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


def test_an_empty_token_setting_keeps_admin_disabled(settings):
    client = create_app(settings.replace(admin_token="")).test_client()
    assert client.post("/api/models/reset", headers={"Authorization": "Bearer "}).status_code == 403


def test_guessing_tokens_is_rate_limited_per_client(admin_client):
    statuses = [
        admin_client.post(
            "/api/models/reset",
            headers={"Authorization": f"Bearer guess-{i}"},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
        ).status_code
        for i in range(12)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    still_ok = admin_client.post("/api/models/reset", headers=AUTH, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert still_ok.status_code == 200  # the right token is never locked out


def test_the_token_never_appears_in_responses_or_logs(admin_client, caplog):
    with caplog.at_level(logging.DEBUG):
        responses = [
            admin_client.post("/api/models/reset", headers=AUTH),
            admin_client.post("/api/models/reset", headers={"Authorization": "Bearer nope"}),
            admin_client.post("/api/models/rollback", json={"version": 999}, headers=AUTH),
        ]
    for response in responses:
        assert TOKEN not in response.get_data(as_text=True)
    assert TOKEN not in caplog.text


def test_reset_publishes_a_new_version_with_the_original_models(admin_client, draw):
    original = admin_client.post("/api/predict", json={"image": data_url(draw(8))}).json["models"]
    taught = teach(admin_client, draw)
    response = admin_client.post("/api/models/reset", headers=AUTH)
    assert response.status_code == 200
    assert response.json["model_version"] == taught + 1
    after = admin_client.post("/api/predict", json={"image": data_url(draw(8))}).json
    assert after["model_version"] == taught + 1
    assert after["models"]["fnn_updated"] == original["fnn"]
    assert after["models"]["cnn_updated"] == original["cnn"]
    assert admin_client.get("/healthz").json["model_version"] == taught + 1


def test_rollback_restores_an_earlier_version_as_a_new_version(admin_client, draw):
    first = teach(admin_client, draw, 2)
    at_first = admin_client.post("/api/predict", json={"image": data_url(draw(8))}).json["models"]
    second = teach(admin_client, draw, 3)
    response = admin_client.post("/api/models/rollback", json={"version": first}, headers=AUTH)
    assert response.status_code == 200
    assert response.json["model_version"] == second + 1
    after = admin_client.post("/api/predict", json={"image": data_url(draw(8))}).json
    assert after["models"]["fnn_updated"] == at_first["fnn_updated"]
    assert after["models"]["cnn_updated"] == at_first["cnn_updated"]


def test_rollback_to_an_unknown_version_is_404(admin_client):
    response = admin_client.post("/api/models/rollback", json={"version": 42}, headers=AUTH)
    assert response.status_code == 404
    assert "error" in response.json


@pytest.mark.parametrize(
    "body", [{}, {"version": -1}, {"version": "1"}, {"version": 1.5}, {"version": True}, [1]]
)
def test_rollback_needs_a_whole_version_number(admin_client, body):
    response = admin_client.post("/api/models/rollback", json=body, headers=AUTH)
    assert response.status_code == 400
    assert "error" in response.json


def test_delete_removes_the_sample(admin_client, draw):
    sample_id = add_sample(admin_client, draw)
    response = admin_client.delete(f"/api/samples/{sample_id}", headers=AUTH)
    assert response.status_code == 200
    assert response.json == {"sample_id": sample_id, "deleted": True}
    assert admin_client.get(f"/api/samples/{sample_id}").status_code == 404
    assert admin_client.get("/api/samples").json["samples"] == []


def test_delete_without_the_token_leaves_the_sample(admin_client, draw):
    sample_id = add_sample(admin_client, draw)
    assert admin_client.delete(f"/api/samples/{sample_id}").status_code == 401
    assert admin_client.get(f"/api/samples/{sample_id}").status_code == 200


def test_delete_of_an_unknown_sample_is_404(admin_client):
    response = admin_client.delete("/api/samples/no-such-sample", headers=AUTH)
    assert response.status_code == 404
    assert "error" in response.json


def test_relabel_changes_the_digit_and_keeps_the_drawing(admin_client, draw):
    sample_id = add_sample(admin_client, draw, 7)
    png = admin_client.get(f"/api/samples/{sample_id}.png").data
    response = admin_client.patch(f"/api/samples/{sample_id}", json={"digit": 1}, headers=AUTH)
    assert response.status_code == 200
    assert response.json["sample_id"] == sample_id and response.json["digit"] == 1
    assert admin_client.get(f"/api/samples/{sample_id}").json["digit"] == 1
    assert admin_client.get(f"/api/samples/{sample_id}.png").data == png
    assert [s["digit"] for s in admin_client.get("/api/samples").json["samples"]] == [1]


@pytest.mark.parametrize(
    "body", [{}, {"digit": 10}, {"digit": -1}, {"digit": "x"}, {"digit": None}, {"digit": False}]
)
def test_relabel_needs_a_digit_0_to_9(admin_client, draw, body):
    sample_id = add_sample(admin_client, draw, 7)
    response = admin_client.patch(f"/api/samples/{sample_id}", json=body, headers=AUTH)
    assert response.status_code == 400
    assert admin_client.get(f"/api/samples/{sample_id}").json["digit"] == 7


def test_relabel_of_an_unknown_sample_is_404(admin_client):
    response = admin_client.patch("/api/samples/no-such-sample", json={"digit": 1}, headers=AUTH)
    assert response.status_code == 404


def test_a_cors_preflight_to_an_admin_route_is_answered_but_grants_nothing(settings):
    client = create_app(
        settings.replace(admin_token=TOKEN, cors_origins=("https://friend.example",))
    ).test_client()
    headers = {"Origin": "https://friend.example", "Access-Control-Request-Method": "POST"}
    preflight = client.options("/api/models/reset", headers=headers)
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://friend.example"
    assert client.post("/api/models/reset", headers={"Origin": "https://friend.example"}).status_code == 401
