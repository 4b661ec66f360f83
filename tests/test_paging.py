"""GET /api/samples and GET /api/models in pages, on a local store and on S3 (moto's server)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from digitrec.store import ModelHistory, SampleStore, open_blob_store
from digitrec.web import create_app

INPUT = bytes(784)


@pytest.fixture(params=["local", "s3"])
def store_settings(request: pytest.FixtureRequest, settings):
    """The test settings on a local store, and on a fresh bucket of the S3 server."""
    if request.param == "local":
        return settings
    server = request.getfixturevalue("s3")
    return replace(settings, store=f"s3://{server.create_bucket()}/app", s3_endpoint_url=server.endpoint_url)


def blobs_of(settings):
    return open_blob_store(settings.store, settings.s3_endpoint_url)


def publish_versions(settings, count: int, refused_after: tuple[int, ...] = ()) -> None:
    """`count` versions like online learning's, and a refused update after each version in `refused_after`."""
    history = ModelHistory(blobs_of(settings))
    for version in range(1, count + 1):
        info = {"digit": version % 10, "accuracy": {"fnn_updated": 0.9, "cnn_updated": 0.95}}
        assert history.publish(version - 1, None, info) is not None
        if version in refused_after:
            history.record_event({"event": "update_refused", "after": version})


def walk_models(client, limit: int) -> list[dict]:
    pages, cursor = [], None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"/api/models{query}")
        assert response.status_code == 200
        pages.append(response.get_json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages


def test_models_pages_cover_every_version_once_newest_first(store_settings):
    publish_versions(store_settings, 12, refused_after=(2, 9, 12))
    pages = walk_models(create_app(store_settings).test_client(), limit=5)
    assert [[r["version"] for r in page["history"]] for page in pages] == [
        [12, 11, 10, 9, 8],
        [7, 6, 5, 4, 3],
        [2, 1],
    ]
    # Each refused update appears once, newest first, on the page of the version that came after it.
    assert [[e["after"] for e in page["refused"]] for page in pages] == [[12, 9], [2], []]
    assert all(page["version"] == 12 and page["latest"]["version"] == 12 for page in pages)


def test_models_without_parameters_answers_the_contract_with_a_first_page(settings):
    publish_versions(settings, 60)
    body = create_app(settings).test_client().get("/api/models").get_json()
    assert body["version"] == 60 and body["latest"]["version"] == 60
    assert [r["version"] for r in body["history"]] == list(range(60, 10, -1))
    assert body["next_cursor"] and set(body["history"][0]) >= {"version", "created", "digit", "accuracy"}


def test_models_of_the_originals_has_no_history_and_no_latest(client):
    body = client.get("/api/models").get_json()
    assert body["version"] == 0 and body["history"] == [] and body["latest"] is None
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    ["cursor=abc", "cursor=v1", "cursor=v0", "cursor=v99", "cursor=v" + "9" * 30, "limit=0", "limit=201"],
)
def test_models_refuses_a_bad_cursor_or_limit_with_a_sentence(settings, query):
    publish_versions(settings, 3)
    response = create_app(settings).test_client().get(f"/api/models?{query}")
    assert response.status_code == 400 and response.get_json()["error"].endswith(".")


def test_sample_pages_with_a_digit_filter_follow_their_cursor(store_settings):
    samples = SampleStore(blobs_of(store_settings))
    ids = [samples.add(b"png", digit, "collect", INPUT).sample_id for digit in [4, 1, 4, 4, 2, 4, 4]]
    client = create_app(store_settings).test_client()
    seen, cursor = [], None
    while True:
        query = "digit=4&limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/api/samples?{query}").get_json()
        assert all(sample["digit"] == 4 for sample in body["samples"])
        seen.extend(sample["sample_id"] for sample in body["samples"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        samples.add(b"png", 4, "collect", INPUT)  # newer samples never shift the pages still to come
    assert seen == [ids[n] for n in (6, 5, 3, 2, 0)]
