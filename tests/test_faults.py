"""Degraded mode and crashes: the real server keeps predicting through store outages and worker kills.

- S3 down at start: predictions on the shipped originals, /healthz says "degraded",
  feedback 503; S3 up: feedback works. moto keeps its data in memory, so a restarted
  moto starts empty: the test recreates the bucket and checks only what can hold.
- An outage mid-run (a relay in front of moto is cut, moto keeps its data): in-flight
  feedback answers 200 or 503, predictions go on with the cached version, and once
  the relay is mended feedback works and the store is consistent.
- A worker SIGKILLed while corrections are being learned leaves the store consistent.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from digitrec.store import S3BlobStore, SampleStore, open_blob_store
from tests import live_server
from tests.live_server import LiveServer
from tests.s3_server import DUMMY_AWS_ENV, Outage, S3Server, dummy_aws_credentials, free_port
from tests.scaleout import check_consistent, corrections, post_json

NO_RATE_LIMITS = {"DIGITREC_RATE_UPLOADS": "off", "DIGITREC_RATE_PREDICT": "off"}
BUCKET = "digitrec-faults"


@pytest.fixture(scope="module")
def bodies() -> list[dict[str, Any]]:
    return corrections(16, seed=7)


@pytest.fixture(autouse=True)
def patient_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_server, "STARTUP_TIMEOUT", 300.0)  # TensorFlow imports slowly on a busy machine


@pytest.fixture
def aws() -> Iterator[None]:
    with dummy_aws_credentials():
        yield


def s3_env(endpoint_url: str, prefix: str = "digitrec") -> dict[str, str]:
    return {
        "DIGITREC_STORE": f"s3://{BUCKET}/{prefix}",
        "DIGITREC_S3_ENDPOINT_URL": endpoint_url,
        **DUMMY_AWS_ENV,
        **NO_RATE_LIMITS,
    }


def predict(server: LiveServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return post_json(f"{server.url}/api/predict", {"image": body["image"]})


def feedback(server: LiveServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return post_json(f"{server.url}/api/feedback", body)


def assert_unavailable(answer: tuple[int, dict[str, Any]]) -> None:
    status, body = answer
    assert status == 503
    assert set(body) == {"error"}
    assert "unavailable" in body["error"]


def test_s3_down_at_start_then_up_then_restarted(aws: None, bodies: list[dict[str, Any]]) -> None:
    s3 = S3Server(port=free_port())  # nothing listens there yet
    with LiveServer(env=s3_env(s3.endpoint_url), workers=1) as server:
        health = server.get_json("/healthz")
        assert (health["status"], health["model_version"]) == ("degraded", 0)
        assert "unreachable" in health["message"]
        status, answer = predict(server, bodies[0])
        assert (status, answer["model_version"]) == (200, 0)
        assert_unavailable(feedback(server, bodies[0]))
        assert_unavailable(post_json(f"{server.url}/api/samples", bodies[0]))

        with s3:
            s3.create_bucket(BUCKET)
            status, answer = feedback(server, bodies[1])
            assert status == 200
            assert server.get_json("/healthz")["status"] == "ok"
            before = answer["model_version"]
            s3.stop()

            assert predict(server, bodies[2])[0] == 200
            assert_unavailable(feedback(server, bodies[2]))
            assert server.get_json("/healthz")["status"] == "degraded"

            s3.start()  # an empty moto: its buckets lived in the stopped process's memory
            s3.create_bucket(BUCKET)
            status, answer = feedback(server, bodies[3])
            assert status == 200
            assert answer["model_version"] == before + (1 if answer["accepted"] else 0)
            assert server.get_json("/healthz")["status"] == "ok"
            stored = SampleStore(S3BlobStore(BUCKET, "digitrec", endpoint_url=s3.endpoint_url))
            assert [record.sample_id for record in stored.list()[0]] == [answer["sample_id"]]
        assert "Traceback" not in server.log()


def test_an_outage_mid_run_leaves_nothing_partial_and_heals(aws: None, bodies: list[dict[str, Any]]) -> None:
    with S3Server() as s3, Outage(s3.port) as outage:
        s3.create_bucket(BUCKET)
        with LiveServer(env=s3_env(outage.endpoint_url), workers=1) as server:
            for body in bodies[:2]:
                assert feedback(server, body)[0] == 200
            with ThreadPoolExecutor(4) as pool:
                in_flight = [pool.submit(feedback, server, body) for body in bodies[2:10]]
                in_flight[0].result()
                outage.cut()
                answers = [future.result() for future in in_flight]
            assert {status for status, _ in answers} <= {200, 503}
            for answer in answers:
                if answer[0] == 503:
                    assert_unavailable(answer)

            cached = max(a["model_version"] for s, a in answers if s == 200)
            for body in bodies[10:13]:
                status, answer = predict(server, body)
                assert (status, answer["model_version"]) == (200, cached)
            assert_unavailable(feedback(server, bodies[13]))
            assert server.get_json("/healthz")["status"] == "degraded"

            outage.mend()
            status, healed = feedback(server, bodies[14])
            assert status == 200
            assert server.get_json("/healthz") == {"status": "ok", "model_version": healed["model_version"]}
            log = server.log()

        stored = check_consistent(S3BlobStore(BUCKET, "digitrec", endpoint_url=s3.endpoint_url))
        confirmed = {a["sample_id"] for s, a in answers if s == 200} | {healed["sample_id"]}
        assert confirmed <= {record.sample_id for record in stored.samples}
        assert stored.latest == healed["model_version"]
    assert "Traceback" not in log


def test_a_worker_killed_during_feedback_leaves_the_store_consistent(
    tmp_path: Path, bodies: list[dict[str, Any]]
) -> None:
    store = str(tmp_path / "store")
    with LiveServer(env={"DIGITREC_STORE": store, **NO_RATE_LIMITS}, workers=2) as server:
        victim = server.pids()[0]
        with ThreadPoolExecutor(8) as pool:
            in_flight = [pool.submit(feedback, server, body) for body in bodies[:12]]
            in_flight[0].result()
            os.kill(victim, signal.SIGKILL)
            answered = [future.result() for future in in_flight if future.exception() is None]
        assert all(status == 200 for status, _ in answered)

        status, after = feedback(server, bodies[12])
        assert status == 200
    stored = check_consistent(open_blob_store(store))
    confirmed = {answer["sample_id"] for _, answer in answered} | {after["sample_id"]}
    assert confirmed <= {record.sample_id for record in stored.samples}
    assert stored.latest == after["model_version"]
