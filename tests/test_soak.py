"""Soak: a minute of mixed traffic from 8 concurrent clients against the real gunicorn server.

Zero 5xx, every sample the server said it stored is in the store afterwards, the
workers are the same processes at the end (none crashed or was restarted), and
their memory stays flat. Run with -s to see the figures. The same server also
checks that a streamed (chunked) body larger than the limit is refused.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from digitrec.canvas import STYLES, render_digit
from digitrec.data import load_split
from tests.live_server import LiveServer

SOAK_SECONDS = 60
CLIENTS = 8
WORKERS = 2
RSS_SAMPLES = 6  # memory readings during the soak, evenly spaced
RSS_GROWTH_LIMIT_MB = 150  # generous: the models and caches are allocated during the warm-up
MIX = [("predict", 0.6), ("feedback", 0.15), ("samples", 0.15), ("bad", 0.1)]
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with _DIRECT.open(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def drawings(count: int) -> list[tuple[str, int]]:
    """(data URL, true digit) of test-split digits drawn in the canvas styles."""
    test = load_split("test")
    styles = list(STYLES.values())
    picked = np.random.default_rng(11).choice(len(test), count, replace=False)
    return [
        (
            "data:image/png;base64,"
            + base64.b64encode(render_digit(test.images[i], **styles[n % len(styles)])).decode("ascii"),
            int(test.labels[i]),
        )
        for n, i in enumerate(picked)
    ]


class Traffic:
    """The clients' shared tally: statuses per kind, stored sample ids, unexpected answers."""

    def __init__(self, url: str, pool: list[tuple[str, int]]) -> None:
        self.url = url
        self.pool = pool
        self.lock = threading.Lock()
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.sample_ids: list[str] = []
        self.failures: list[str] = []

    def one(self, rng: random.Random) -> None:
        kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        image, digit = rng.choice(self.pool)
        if kind == "bad":
            path, body = rng.choice(["/api/predict", "/api/feedback"]), {"image": image[:200], "digit": 12}
        else:
            path, body = f"/api/{kind}", {"image": image, "digit": digit}
        status, answer = post(self.url + path, json.dumps(body).encode())
        with self.lock:
            self.statuses[(kind, status)] += 1
            if status < 300 and kind in ("feedback", "samples"):
                self.sample_ids.extend(answer.get("sample_ids") or [answer["sample_id"]])
            if status >= 500 or (kind != "bad" and status >= 300) or "error" in answer and status < 400:
                self.failures.append(f"{kind} {status} {answer}")

    def run(self, seconds: float, seed: int) -> None:
        rng = random.Random(seed)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.one(rng)


def listed_sample_ids(server: LiveServer) -> set[str]:
    ids: set[str] = set()
    cursor = None
    while True:
        page = server.get_json("/api/samples?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        ids.update(sample["sample_id"] for sample in page["samples"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


@pytest.fixture(scope="module")
def server():
    env = {"DIGITREC_RATE_UPLOADS": "off", "DIGITREC_RATE_PREDICT": "off"}  # 8 clients share one address
    with LiveServer(env=env, workers=WORKERS) as live:
        yield live


def test_a_minute_of_mixed_traffic_leaves_no_5xx_no_lost_sample_and_flat_memory(server):
    traffic = Traffic(server.url, drawings(60))
    warm_up = [threading.Thread(target=traffic.run, args=(5, 100 + n)) for n in range(CLIENTS)]
    for thread in warm_up:
        thread.start()
    for thread in warm_up:
        thread.join()
    workers = server.pids()
    start_rss = {pid: rss_mb(pid) for pid in workers}

    clients = [threading.Thread(target=traffic.run, args=(SOAK_SECONDS, n)) for n in range(CLIENTS)]
    for thread in clients:
        thread.start()
    series = {pid: [start_rss[pid]] for pid in workers}
    for _ in range(RSS_SAMPLES):
        time.sleep(SOAK_SECONDS / RSS_SAMPLES)
        for pid in workers:
            series[pid].append(rss_mb(pid))
    for thread in clients:
        thread.join()

    end_rss = {pid: series[pid][-1] for pid in workers}
    listed = listed_sample_ids(server)
    print(f"\nsoak: {CLIENTS} clients, {SOAK_SECONDS} s (+5 s warm-up), {WORKERS} workers")
    print("requests:", dict(sorted(traffic.statuses.items())), "total", sum(traffic.statuses.values()))
    for pid in workers:
        trace = " ".join(f"{mb:.0f}" for mb in series[pid])
        print(f"worker {pid}: RSS {start_rss[pid]:.0f} MB -> {end_rss[pid]:.0f} MB (readings: {trace})")
    print(f"samples stored: {len(traffic.sample_ids)}, listed afterwards: {len(listed)}")

    assert not traffic.failures, traffic.failures[:5]
    assert not [key for key in traffic.statuses if key[1] >= 500]
    assert traffic.statuses[("predict", 200)] > 0 and traffic.statuses[("feedback", 200)] > 0
    assert set(traffic.sample_ids) <= listed
    assert server.pids() == workers  # no worker died or was replaced
    for pid in workers:
        assert end_rss[pid] - start_rss[pid] < RSS_GROWTH_LIMIT_MB
    assert server.get_json("/healthz")["status"] == "ok"


def test_a_chunked_body_over_the_limit_is_refused_without_harm(server):
    """No Content-Length to check up front: the body is never buffered, the answer is a JSON 4xx."""

    def chunks():
        yield b'{"image": "'
        for _ in range(300):
            yield b"A" * 10_000  # 3 MB in all, over the 2 MB limit
        yield b'"}'

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Content-Type": "application/json"}
    try:
        # The server may answer and close before reading the rest: then read that answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request("POST", "/api/predict", body=chunks(), headers=headers, encode_chunked=True)
        try:
            response = connection.getresponse()
            status, answer = response.status, json.loads(response.read())
        except ConnectionResetError:
            status, answer = None, None  # the reset overtook the answer: refused all the same
    finally:
        connection.close()
    if status is not None:
        assert 400 <= status < 500
        assert isinstance(answer["error"], str)
    assert server.get_json("/healthz")["status"] == "ok"
