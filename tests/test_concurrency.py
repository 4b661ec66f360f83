"""Safe scale-out: 4 gunicorn workers take 200 corrections, 16 at a time, on one shared store.

Checked on the local store and on S3 (moto's server on
127.0.0.1): every correction is stored, every accepted update becomes exactly one
version in one unbroken history, every refusal is on record, nothing errors, and a
second app instance on the same store sees the final version.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from digitrec.config import Settings
from digitrec.store import open_blob_store
from digitrec.web import create_app
from tests import live_server
from tests.live_server import LiveServer
from tests.s3_server import DUMMY_AWS_ENV, S3Server, running_s3
from tests.scaleout import check_consistent, corrections, post_json

CORRECTIONS = 200
AT_ONCE = 16
WORKERS = 4
SERVER_ENV = {
    # Upload limits are per client, and this test is one client sending 200 corrections.
    "DIGITREC_RATE_UPLOADS": "off",
    "DIGITREC_RATE_PREDICT": "off",
}


@pytest.fixture(scope="module")
def bodies() -> list[dict[str, Any]]:
    return corrections(CORRECTIONS)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment naming the shared store: a local directory or a fresh S3 bucket."""
    if request.param == "local":
        return {"DIGITREC_STORE": str(tmp_path / "store")}
    server = request.getfixturevalue("s3")
    return {
        "DIGITREC_STORE": f"s3://{server.create_bucket()}/digitrec",
        "DIGITREC_S3_ENDPOINT_URL": server.endpoint_url,
        **DUMMY_AWS_ENV,
    }


def test_200_corrections_on_4_workers_make_one_history(
    store_env: dict[str, str], bodies: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_server, "STARTUP_TIMEOUT", 300.0)  # 4 workers import TensorFlow at once
    with LiveServer(env={**store_env, **SERVER_ENV}, workers=WORKERS) as server:
        with ThreadPoolExecutor(AT_ONCE) as pool:
            answers = list(pool.map(lambda body: post_json(f"{server.url}/api/feedback", body), bodies))
        final = server.get_json("/api/models")["version"]
        log = server.log()

    failures = [(status, body) for status, body in answers if status != 200]
    assert failures == [], f"{len(failures)} corrections failed, e.g. {failures[:3]}\n{log[-3000:]}"
    assert "Traceback" not in log
    accepted = [answer["sample_id"] for _, answer in answers if answer["accepted"]]
    refused = [answer["sample_id"] for _, answer in answers if not answer["accepted"]]

    blobs = open_blob_store(store_env["DIGITREC_STORE"], store_env.get("DIGITREC_S3_ENDPOINT_URL"))
    stored = check_consistent(blobs)
    assert sorted((s.sample_id, s.digit) for s in stored.samples) == sorted(
        (answer["sample_id"], body["digit"]) for (_, answer), body in zip(answers, bodies, strict=True)
    )
    assert len(stored.samples) == CORRECTIONS
    assert stored.latest == final == CORRECTIONS - len(refused)
    assert sorted(stored.applied_sample_ids) == sorted(accepted)
    assert sorted(stored.refused_sample_ids) == sorted(refused)
    print(f"\n{store_env['DIGITREC_STORE'][:5]}: {len(accepted)} accepted, {len(refused)} refused")

    second = create_app(Settings.from_env({**store_env, **SERVER_ENV})).test_client()
    assert second.get("/api/models").get_json()["version"] == final
    assert second.get("/healthz").get_json() == {"status": "ok", "model_version": final}
