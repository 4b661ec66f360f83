"""The dataset scenario: listing and export over N stored samples.

`python -m bench.dataset N` (and `python -m bench --dataset N`, after the predict phases):
N canvas-drawn samples are written through the store API (a pool of test-split digits
drawn as browser canvas PNGs, each stored as its own sample with the model input the
collect route would store), then the production server is started on that store and
timed: the first page of GET /api/samples (all digits and one digit), a walk over every
page, GET /api/export.npz and GET /api/export.csv, while another client sends
predictions meanwhile (their p99) and the workers' resident memory is sampled.

`python -m bench.dataset N --s3 --versions V` does the S3 part on the moto server of
tests/s3_server.py: the first page of N samples and the first GET /api/models of a
fresh worker over V versions.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.client import KeepAliveConnection, post_json_request
from bench.drawings import benchmark_drawings
from digitrec.canvas import STYLES, render_digit
from digitrec.data import load_split
from digitrec.dataset import ink_model_input
from digitrec.drawing import decode_image
from digitrec.store import BlobStore, LocalBlobStore, ModelHistory, S3BlobStore, SampleStore
from tests.live_server import LiveServer

HOST = "127.0.0.1"
POOL = 500  # distinct canvas drawings; the N samples cycle through them
PAGE = 50  # the page size the gallery asks for
WALK_PAGE = 200  # the largest page the API gives, for the walk over every page
FIRST_PAGE_TRIES = 20  # first-page requests timed; the median is reported
MEMORY_SAMPLE_SECONDS = 0.01
# A worker prepares online learning's digits on a thread once it is up (service.Engine): the exports'
# memory is measured once every worker's RSS has stayed within SETTLED_MB for SETTLED_SECONDS.
SETTLED_MB = 1.0
SETTLED_SECONDS = 1.0
SETTLE_POLL_SECONDS = 0.1
SERVER_ENV = {"DIGITREC_RATE_PREDICT": "1000000/1", "DIGITREC_RATE_UPLOADS": "1000000/1"}


def canvas_samples(count: int = POOL) -> list[tuple[bytes, int, bytes]]:
    """`count` test-split digits drawn as canvas PNGs: (PNG, digit, model input 784 bytes)."""
    test = load_split("test")
    styles = list(STYLES.values())
    by_digit = [np.flatnonzero(test.labels == digit) for digit in range(10)]
    pool = []
    for n in range(count):
        digit = n % 10
        png = render_digit(test.images[by_digit[digit][n // 10]], **styles[n % len(styles)])
        pool.append((png, digit, ink_model_input(decode_image(png)).tobytes()))
    return pool


def fill(blobs: BlobStore, count: int, threads: int = 4) -> float:
    """Store `count` canvas-drawn samples as `collect` samples; seconds it took."""
    pool = canvas_samples(min(POOL, count))
    samples = SampleStore(blobs)
    began = time.perf_counter()

    def add(n: int) -> None:
        png, digit, model_input = pool[n % len(pool)]
        samples.add(png, digit, "collect", model_input)

    with ThreadPoolExecutor(threads) as executor:
        list(executor.map(add, range(count)))
    return time.perf_counter() - began


class Getter:
    """GET requests over one keep-alive connection (http.client reads chunked, streamed bodies)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=120)

    def get(self, path: str) -> tuple[float, bytes]:
        """(seconds, body); raises RuntimeError unless the answer is 200."""
        began = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - began
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
        return elapsed, body

    def get_json(self, path: str) -> tuple[float, Any]:
        """(seconds, decoded JSON body)."""
        elapsed, body = self.get(path)
        return elapsed, json.loads(body)

    def close(self) -> None:
        self.connection.close()


def first_page_ms(getter: Getter, path: str, tries: int = FIRST_PAGE_TRIES) -> dict[str, float]:
    """Median and max of `tries` GETs of `path`, in ms."""
    times = [getter.get(path)[0] * 1000 for _ in range(tries)]
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


def walk(getter: Getter, limit: int = WALK_PAGE) -> dict[str, Any]:
    """Follow next_cursor over every page: seconds, pages, samples seen (each exactly once)."""
    began, cursor, seen, pages = time.perf_counter(), None, [], 0
    while True:
        path = f"/api/samples?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        _elapsed, body = getter.get_json(path)
        seen.extend(sample["sample_id"] for sample in body["samples"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    if len(seen) != len(set(seen)):
        raise RuntimeError("the walk saw a sample twice")
    return {"seconds": round(time.perf_counter() - began, 3), "pages": pages, "samples": len(seen)}


@contextmanager
def predictions_meanwhile(port: int) -> Iterator[list[float]]:
    """Predictions sent one after another on another connection while the block runs; their latencies (s)."""
    requests = [
        post_json_request(HOST, port, "/api/predict", {"image": drawing.data_url})
        for drawing in benchmark_drawings(per_digit=1)
    ]
    latencies: list[float] = []
    stop = threading.Event()

    def send() -> None:
        connection = KeepAliveConnection(HOST, port)
        try:
            n = 0
            while not stop.is_set():
                began = time.perf_counter()
                status, body = connection.exchange(requests[n % len(requests)])
                if status != 200:
                    raise RuntimeError(f"a prediction answered {status}: {body[:300]!r}")
                latencies.append(time.perf_counter() - began)
                n += 1
        finally:
            connection.close()

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield latencies
    finally:
        stop.set()
        thread.join()


@contextmanager
def peak_memory(pids: list[int]) -> Iterator[dict[str, float]]:
    """Samples the workers' VmRSS meanwhile; the yielded dict gets the largest rise (MB) in the block."""
    before = {pid: _rss_mb(pid) for pid in pids}
    peak = dict(before)
    stop = threading.Event()
    result: dict[str, float] = {}

    def sample() -> None:
        while not stop.is_set():
            for pid in pids:
                peak[pid] = max(peak[pid], _rss_mb(pid))
            time.sleep(MEMORY_SAMPLE_SECONDS)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["worker_rss_rise_mb"] = round(max(peak[pid] - before[pid] for pid in pids), 1)
        result["worker_rss_mb"] = round(max(before.values()), 1)


def wait_until_settled(pids: list[int], timeout: float = 60.0) -> None:
    """Return once no worker's RSS has moved more than SETTLED_MB for SETTLED_SECONDS."""
    deadline = time.monotonic() + timeout
    polls = round(SETTLED_SECONDS / SETTLE_POLL_SECONDS) + 1
    window: deque[list[float]] = deque(maxlen=polls)  # the last SETTLED_SECONDS of samples
    while time.monotonic() < deadline:
        window.append([_rss_mb(pid) for pid in pids])
        if len(window) == polls and np.ptp(np.asarray(window), axis=0).max() <= SETTLED_MB:
            return
        time.sleep(SETTLE_POLL_SECONDS)
    raise RuntimeError(f"the workers' memory did not settle within {timeout:.0f} s")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _timed_export(getter: Getter, port: int, pids: list[int], path: str) -> tuple[dict[str, Any], bytes]:
    with predictions_meanwhile(port) as latencies, peak_memory(pids) as memory:
        seconds, body = getter.get(path)
    return {
        "seconds": round(seconds, 3),
        "mb": round(len(body) / 1e6, 2),
        **memory,
        "predictions_meanwhile": _latencies(latencies),
    }, body


def _latencies(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"n": 0}
    ms = np.asarray(seconds) * 1000
    return {
        "n": int(ms.size),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def run_local(count: int, workers: int = 2) -> dict[str, Any]:
    """The local-store scenario over `count` samples (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="digitrec-bench-dataset-") as folder:
        store = str(Path(folder) / "store")
        results: dict[str, Any] = {"samples": count, "backend": "local", "workers": workers}
        results["fill_seconds"] = round(fill(LocalBlobStore(store), count), 1)
        with LiveServer(env={**SERVER_ENV, "DIGITREC_STORE": store}, workers=workers) as server:
            getter = Getter(server.port)
            try:
                getter.get(f"/api/samples?limit={PAGE}")  # the connection and the worker, warm
                results["first_page"] = first_page_ms(getter, f"/api/samples?limit={PAGE}")
                results["first_page_digit"] = first_page_ms(getter, f"/api/samples?digit=3&limit={PAGE}")
                with predictions_meanwhile(server.port) as latencies:
                    results["walk"] = walk(getter)
                results["walk"]["predictions_meanwhile"] = _latencies(latencies)
                wait_until_settled(server.pids())
                results["export_npz"], body = _timed_export(
                    getter, server.port, server.pids(), "/api/export.npz"
                )
                with np.load(io.BytesIO(body), allow_pickle=False) as npz:
                    results["export_npz"]["images"] = int(npz["images"].shape[0])
                results["export_csv"], _body = _timed_export(
                    getter, server.port, server.pids(), "/api/export.csv"
                )
            finally:
                getter.close()
    return results


def run_s3(count: int, versions: int) -> dict[str, Any]:
    """On the moto server: `count` samples and `versions` versions, then a fresh server's first
    GET /api/models and first pages (see the module docstring)."""
    from tests.s3_server import DUMMY_AWS_ENV, running_s3

    results: dict[str, Any] = {"samples": count, "versions": versions, "backend": "s3 (moto)"}
    with running_s3() as s3:
        bucket = s3.create_bucket()
        blobs = S3BlobStore(bucket, "bench", endpoint_url=s3.endpoint_url)
        results["fill_seconds"] = round(fill(blobs, count, threads=8), 1)
        results["publish_seconds"] = round(_publish(ModelHistory(blobs), versions), 1)
        env = {
            **SERVER_ENV,
            **DUMMY_AWS_ENV,
            "DIGITREC_STORE": f"s3://{bucket}/bench",
            "DIGITREC_S3_ENDPOINT_URL": s3.endpoint_url,
        }
        with LiveServer(env=env, workers=1) as server:
            getter = Getter(server.port)
            try:
                seconds, body = getter.get_json("/api/models")
                results["models_first_ms"] = round(seconds * 1000, 1)
                results["models_history_len"] = len(body["history"])
                results["models_again"] = first_page_ms(getter, "/api/models", tries=10)
                results["first_page"] = first_page_ms(getter, f"/api/samples?limit={PAGE}", tries=10)
                results["first_page_digit"] = first_page_ms(
                    getter, f"/api/samples?digit=3&limit={PAGE}", tries=10
                )
            finally:
                getter.close()
    return results


def _publish(history: ModelHistory, versions: int) -> float:
    """Publish `versions` versions with records like online learning's (no weights: the originals)."""
    began = time.perf_counter()
    for version in range(versions):
        info = {
            "sample_id": f"bench{version}",
            "digit": version % 10,
            "accuracy": {"fnn_updated": 0.9, "cnn_updated": 0.95},
        }
        if history.publish(version, None, info) is None:
            raise RuntimeError(f"version {version + 1} was taken by another writer")
    return time.perf_counter() - began


def format_results(results: dict[str, Any]) -> str:
    """The scenario's figures, one per line."""
    lines = [f"dataset scenario: {results['samples']} samples, {results['backend']}"]
    lines.extend(f"  {key:<18} {value}" for key, value in results.items())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dataset", description="Listing and export over a store of N samples."
    )
    parser.add_argument("samples", type=int, nargs="?", default=5000, help="samples to store")
    parser.add_argument("--s3", action="store_true", help="on the moto S3 server instead of a local store")
    parser.add_argument("--versions", type=int, default=500, help="model versions to publish (--s3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (local store)")
    parser.add_argument("--output", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    results = run_s3(args.samples, args.versions) if args.s3 else run_local(args.samples, args.workers)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(format_results(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
