"""`python -m bench [--quick] [--output PATH] [--dataset N]`: the production server against a naive baseline.

Times half of the naive baseline's calls in a subprocess, starts the `Procfile` command
(gunicorn with gunicorn.conf.py) on 127.0.0.1 with a temporary local store and high
rate limits, times POST /api/predict and POST /api/feedback with keep-alive clients,
reads each worker's peak RSS from /proc, stops the server, then times the other half
of the baseline. Then bench/dataset.py's scenario: listing and export over N stored
samples. Prints a table and writes the numbers as JSON (bench/results.json by default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import dataset
from bench.client import KeepAliveConnection, exchange_once, post_json_request, run_requests
from bench.drawings import Drawing, benchmark_drawings
from bench.report import check_targets, format_table, latency_summary
from bench.startup import measure_all as measure_startup
from tests.live_server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Rate limits far above what the benchmark sends (the defaults protect a public site).
SERVER_ENV = {
    "DIGITREC_RATE_PREDICT": "1000000/1",
    "DIGITREC_RATE_UPLOADS": "1000000/1",
}


@dataclass(frozen=True)
class Plan:
    """How long each phase runs: seconds of predict traffic, counts of feedback and baseline calls."""

    warmup_seconds: float
    latency_seconds: float
    throughput_seconds: float
    feedback_count: int
    baseline_count: int


FULL = Plan(
    warmup_seconds=3, latency_seconds=20, throughput_seconds=12, feedback_count=40, baseline_count=200
)
QUICK = Plan(
    warmup_seconds=0.5, latency_seconds=1.5, throughput_seconds=1, feedback_count=3, baseline_count=10
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Measure the production server and a naive baseline."
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase (smoke test)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results.json", help="where to write the JSON"
    )
    parser.add_argument("--dataset", type=int, help="dataset scenario samples (5000; quick 200; 0: none)")
    args = parser.parse_args(argv)
    results = run_benchmark(QUICK if args.quick else FULL, args.workers)
    samples = args.dataset if args.dataset is not None else 200 if args.quick else 5000
    if samples:
        results["dataset"] = dataset.run_local(samples, args.workers)
    results["mode"] = "quick" if args.quick else "full"
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(format_table(results) + f"\n\nwritten to {args.output}\n")
    if samples:
        sys.stdout.write(dataset.format_results(results["dataset"]) + "\n")
    return 0


def run_benchmark(plan: Plan, workers: int) -> dict[str, Any]:
    """Every measurement of one run, as a JSON-ready dict (see docs/performance.md)."""
    drawings = benchmark_drawings()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "loadavg_before": _loadavg()},
        "workers": workers,
        "drawings": len(drawings),
    }
    # The naive baseline is timed in two halves that bracket the server's phases, before it starts
    # and after it stops, and pooled: this VM's speed drifts by up to ~1.5x within minutes, so a
    # baseline timed only afterwards could meet another speed than the predictions it is compared with.
    first_half = _time_baseline(drawings, plan.baseline_count // 2)
    # Cold start and the whole server's memory with 1 and 2 workers, each a fresh launch.
    results["startup"] = measure_startup(SERVER_ENV)
    began = time.perf_counter()
    with LiveServer(env=SERVER_ENV, workers=workers) as server:
        predict = [
            post_json_request(HOST, server.port, "/api/predict", {"image": d.data_url}) for d in drawings
        ]
        results["cold_start_s"] = _cold_start(server.port, predict[0], began)
        # What starting cost each worker in CPU: the cold start a quiet machine would see.
        results["cold_start_worker_cpu_s"] = max(_cpu_seconds(pid) for pid in server.pids())
        results["correct_answers"] = _correct_answers(server.port, predict, drawings)
        run_requests(HOST, server.port, predict, concurrency=workers, seconds=plan.warmup_seconds)
        results["predict_c1"] = _measure(server, predict, concurrency=1, seconds=plan.latency_seconds)
        for clients in (4, 8):
            results[f"predict_c{clients}"] = _measure(
                server, predict, concurrency=clients, seconds=plan.throughput_seconds
            )
        feedback = [
            post_json_request(HOST, server.port, "/api/feedback", {"image": d.data_url, "digit": d.digit})
            for d in drawings
        ]
        results["feedback"] = _measure(server, feedback, concurrency=1, count=plan.feedback_count)
        # What reading a request, Flask and answering cost without recognition.
        health = f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{server.port}\r\n\r\n".encode()
        results["healthz_c1"] = _measure(server, [health], concurrency=1, seconds=plan.throughput_seconds / 3)
        results["model_version_after"] = server.get_json("/healthz").get("model_version")
        results["peak_rss_mb"] = {str(pid): _peak_rss_mb(pid) for pid in server.pids()}
    results["peak_rss_mb_max"] = max(results["peak_rss_mb"].values())
    second_half = _time_baseline(drawings, plan.baseline_count - plan.baseline_count // 2)
    results["baseline"] = _baseline_summary(first_half, second_half)
    results["speedup"] = round(results["baseline"]["p50_ms"] / results["predict_c1"]["p50_ms"], 1)
    results["speedup_cpu"] = round(
        results["baseline"]["cpu_ms_per_request"] / results["predict_c1"]["server_cpu_ms_per_request"], 1
    )
    results["machine"]["loadavg_after"] = _loadavg()
    results["targets"] = check_targets(results)
    return results


def _measure(server: LiveServer, requests: list[bytes], **load: Any) -> dict[str, Any]:
    """One timed run (see run_requests for `load`), with the server's CPU time per request.

    CPU time per request (all workers, user + system, ms) is the least noisy figure when
    other programs share the cores: it does not count time spent waiting for a core.
    """
    workers = server.pids()
    cpu_before = [_cpu_seconds(pid) for pid in workers]
    summary = latency_summary(run_requests(HOST, server.port, requests, **load))
    cpu = [_cpu_seconds(pid) - before for pid, before in zip(workers, cpu_before, strict=True)]
    summary["server_cpu_ms_per_request"] = round(sum(cpu) * 1000 / max(summary["n"], 1), 2)
    # How the work spread over the workers (keep-alive connections stay with one worker).
    summary["worker_cpu_s"] = [round(seconds, 2) for seconds in cpu]
    return summary


def _cold_start(port: int, request: bytes, began: float) -> float:
    """Seconds from `began` (just before the server process started) to this first prediction."""
    exchange_once(HOST, port, request, "the first prediction")
    return round(time.perf_counter() - began, 2)


def _correct_answers(port: int, requests: list[bytes], drawings: list[Drawing]) -> str:
    """Send every drawing once; "k/n" answered right.

    Raises RuntimeError when a response is not a 200 with all four models' top-3.
    """
    connection = KeepAliveConnection(HOST, port)
    correct = 0
    try:
        for request, drawing in zip(requests, drawings, strict=True):
            status, body = connection.exchange(request)
            answer = json.loads(body) if status == 200 else {}
            if set(answer.get("models", {})) != {"fnn", "fnn_updated", "cnn", "cnn_updated"}:
                raise RuntimeError(f"unexpected predict response {status}: {body[:300]!r}")
            correct += answer.get("answer") == str(drawing.digit)
    finally:
        connection.close()
    return f"{correct}/{len(drawings)}"


def _time_baseline(drawings: list[Drawing], count: int) -> dict[str, Any]:
    """Time `count` naive requests in a fresh process (bench/baseline.py): latencies and CPU in s."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.baseline", str(count)],
        input=json.dumps([d.data_url for d in drawings]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=300,
        check=True,
    )
    return json.loads(completed.stdout)


def _baseline_summary(*halves: dict[str, Any]) -> dict[str, Any]:
    """The halves' latencies pooled (ms), with each half's p50 to show how far the machine drifted."""
    latencies = np.concatenate([half["latencies"] for half in halves]) * 1000
    counts = [len(half["latencies"]) for half in halves]
    return {
        "n": int(latencies.size),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "mean_ms": round(float(latencies.mean()), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "p50_ms_halves": [round(float(np.percentile(half["latencies"], 50)) * 1000, 2) for half in halves],
        "cpu_ms_per_request": round(
            sum(half["cpu"] * n for half, n in zip(halves, counts, strict=True)) * 1000 / sum(counts), 2
        ),
    }


def _peak_rss_mb(pid: int) -> float:
    """A process's peak resident set size (VmHWM) in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for process {pid}")


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, s) a process has used so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


if __name__ == "__main__":
    sys.exit(main())
