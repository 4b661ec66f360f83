"""A hanging S3 does not stall predictions: moto's server is frozen (SIGSTOP) for FREEZE_SECONDS.

Meanwhile one client predicts every 0.1 s, another asks /healthz every 0.5 s and two send
corrections. Predictions and /healthz never wait on the store (the model refresh runs on its own
thread); corrections answer 200 or a 503 JSON sentence within a few seconds. Once S3 resumes,
every correction that got a 200 is in the store. Run with -s to see the figures.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from digitrec.store import S3BlobStore
from tests import live_server
from tests.live_server import LiveServer
from tests.s3_server import DUMMY_AWS_ENV, S3Server, running_s3
from tests.scaleout import check_consistent, corrections, post_json

FREEZE_SECONDS = 15
BUCKET = "digitrec-hang"
MAX_PREDICT_P99 = 0.2  # seconds
MAX_PREDICT = 1.0
MAX_HEALTH = 1.0
MAX_FEEDBACK = 8.0  # one store call giving up (~5 s), after the correction ahead of it (blobs.Outage)


@pytest.fixture(autouse=True)
def patient_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_server, "STARTUP_TIMEOUT", 300.0)


@pytest.fixture
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        server.create_bucket(BUCKET)
        yield server


class Timed:
    """(status, seconds, answer) of every call one client made."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, float, dict[str, Any]]] = []

    def call(self, url: str, body: dict[str, Any] | None) -> None:
        started = time.monotonic()
        if body is None:
            try:
                status, answer = 200, live_server._DIRECT.open(url, timeout=30).read()
            except OSError:
                status, answer = 0, b""
            answer = {"raw": answer}
        else:
            try:
                status, answer = post_json(url, body, timeout=60)
            except OSError:
                status, answer = 0, {}
        self.calls.append((status, time.monotonic() - started, answer))

    def seconds(self) -> list[float]:
        return sorted(seconds for _, seconds, _ in self.calls)


def test_predictions_and_health_go_on_while_s3_hangs(s3: S3Server) -> None:
    env = {
        "DIGITREC_STORE": f"s3://{BUCKET}/digitrec",
        "DIGITREC_S3_ENDPOINT_URL": s3.endpoint_url,
        "DIGITREC_RATE_UPLOADS": "off",
        "DIGITREC_RATE_PREDICT": "off",
        **DUMMY_AWS_ENV,
    }
    bodies = corrections(60, seed=5)
    with LiveServer(env=env, workers=2) as server:
        assert post_json(f"{server.url}/api/feedback", bodies[0])[0] == 200
        predictions, health, feedback = Timed(), Timed(), [Timed(), Timed()]
        stop = threading.Event()

        def every(seconds: float, work) -> None:
            while not stop.is_set():
                started = time.monotonic()
                work()
                stop.wait(max(0.0, seconds - (time.monotonic() - started)))

        picture = {"image": bodies[1]["image"]}
        clients = [
            threading.Thread(
                target=every, args=(0.1, lambda: predictions.call(f"{server.url}/api/predict", picture))
            ),
            threading.Thread(target=every, args=(0.5, lambda: health.call(f"{server.url}/healthz", None))),
        ]
        for n, timed in enumerate(feedback):
            queue = itertools.cycle(bodies[2 + n :: 2])  # fast 503s during the freeze use many
            clients.append(
                threading.Thread(
                    target=every,
                    args=(0.3, lambda t=timed, q=queue: t.call(f"{server.url}/api/feedback", next(q))),
                )
            )
        for client in clients:
            client.start()
        time.sleep(1.0)
        s3.freeze()
        try:
            time.sleep(FREEZE_SECONDS)
        finally:
            s3.thaw()
        time.sleep(2.0)
        stop.set()
        for client in clients:
            client.join()
        log = server.log()

    predict_seconds = predictions.seconds()
    p99 = predict_seconds[int(len(predict_seconds) * 0.99) - 1]
    fed = [call for timed in feedback for call in timed.calls]
    p50 = predict_seconds[len(predict_seconds) // 2]
    print(
        f"\n{len(predict_seconds)} predictions: p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {predict_seconds[-1] * 1000:.0f} ms; "
        f"/healthz max {health.seconds()[-1] * 1000:.0f} ms; corrections: "
        f"{sum(s == 200 for s, _, _ in fed)} x 200, {sum(s == 503 for s, _, _ in fed)} x 503, "
        f"slowest {max(t for _, t, _ in fed):.1f} s"
    )
    assert all(status == 200 for status, _, _ in predictions.calls)
    assert p99 <= MAX_PREDICT_P99
    assert predict_seconds[-1] <= MAX_PREDICT
    assert all(status == 200 for status, _, _ in health.calls)
    assert health.seconds()[-1] <= MAX_HEALTH
    assert {status for status, _, _ in fed} <= {200, 503}
    assert any(status == 503 for status, _, _ in fed)  # the freeze was felt where the store is needed
    assert max(seconds for _, seconds, _ in fed) <= MAX_FEEDBACK
    for status, _, answer in fed:
        if status == 503:
            assert set(answer) == {"error"}
    stored = check_consistent(S3BlobStore(BUCKET, "digitrec", endpoint_url=s3.endpoint_url))
    confirmed = {answer["sample_id"] for status, _, answer in fed if status == 200}
    assert confirmed <= {record.sample_id for record in stored.samples}
    assert "Traceback" not in log
