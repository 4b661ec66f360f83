"""`python -m bench [--quick] [--output PATH] [--dataset N]`: the production server against a naive baseline.

Starts the naive baseline in a subprocess, then the `Procfile` command (gunicorn with
gunicorn.conf.py) on 127.0.0.1 with a temporary local store and high rate limits; times
POST /api/predict with one keep-alive client in rounds that alternate with rounds of the
baseline, then with 4 and 8 clients, and POST /api/feedback; reads each worker's peak RSS
from /proc. Then bench/dataset.py's scenario: listing and export over N stored samples.
Prints a table and writes the numbers as JSON (bench/results.json by default).
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
from bench.client import KeepAliveConnection, Run, exchange_once, post_json_request, run_requests
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
    rounds: int  # the one-client predictions and the baseline, alternating


FULL = Plan(
    warmup_seconds=3,
    latency_seconds=20,
    throughput_seconds=12,
    feedback_count=40,
    baseline_count=200,
    rounds=5,
)
QUICK = Plan(
    warmup_seconds=0.5,
    latency_seconds=1.5,
    throughput_seconds=1,
    feedback_count=3,
    baseline_count=10,
    rounds=2,
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
    # Cold start and the whole server's memory with 1 and 2 workers, each a fresh launch.
    results["startup"] = measure_startup(SERVER_ENV)
    with NaiveBaseline(drawings) as baseline:
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
            results["predict_c1"], results["baseline"] = _one_client_against_baseline(
                server, predict, baseline, plan
            )
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
            results["healthz_c1"] = _measure(
                server, [health], concurrency=1, seconds=plan.throughput_seconds / 3
            )
            results["model_version_after"] = server.get_json("/healthz").get("model_version")
            results["peak_rss_mb"] = {str(pid): _peak_rss_mb(pid) for pid in server.pids()}
    results["peak_rss_mb_max"] = max(results["peak_rss_mb"].values())
    results["speedup"] = round(results["baseline"]["p50_ms"] / results["predict_c1"]["p50_ms"], 1)
    results["speedup_cpu"] = round(
        results["baseline"]["cpu_ms_per_request"] / results["predict_c1"]["server_cpu_ms_per_request"], 1
    )
    results["machine"]["loadavg_after"] = _loadavg()
    results["targets"] = check_targets(results)
    return results


def _measure(server: LiveServer, requests: list[bytes], **load: Any) -> dict[str, Any]:
    """One timed run (see run_requests for `load`), with the server's CPU time per request."""
    run, cpu = _timed_run(server, requests, **load)
    return _summary([run], [cpu])


def _timed_run(server: LiveServer, requests: list[bytes], **load: Any) -> tuple[Run, list[float]]:
    """One run of run_requests and each worker's CPU seconds during it."""
    workers = server.pids()
    cpu_before = [_cpu_seconds(pid) for pid in workers]
    run = run_requests(HOST, server.port, requests, **load)
    return run, [_cpu_seconds(pid) - before for pid, before in zip(workers, cpu_before, strict=True)]


def _summary(runs: list[Run], cpus: list[list[float]]) -> dict[str, Any]:
    """Runs pooled: latencies, the server's CPU time per request, and each worker's CPU seconds.

    CPU time per request (all workers, user + system, ms) is the least noisy figure when
    other programs share the cores: it does not count time spent waiting for a core.
    """
    pooled = Run(
        [latency for run in runs for latency in run.latencies],
        sum(run.elapsed for run in runs),
        sum(run.failures for run in runs),
        next((run.first_failure for run in runs if run.first_failure), None),
    )
    summary = latency_summary(pooled)
    cpu = np.sum(cpus, axis=0)
    summary["server_cpu_ms_per_request"] = round(float(cpu.sum()) * 1000 / max(summary["n"], 1), 2)
    # How the work spread over the workers (keep-alive connections stay with one worker).
    summary["worker_cpu_s"] = [round(float(seconds), 2) for seconds in cpu]
    if len(runs) > 1:
        summary["p50_ms_rounds"] = [latency_summary(run)["p50_ms"] for run in runs]
    return summary


def _one_client_against_baseline(
    server: LiveServer, requests: list[bytes], baseline: NaiveBaseline, plan: Plan
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Predictions from one client and the naive baseline, timed in alternating rounds.

    This VM's speed drifts by up to ~1.5x within minutes: alternating short rounds, each side
    meets the same speeds, so their ratio (the speed-up) holds whatever the drift.
    """
    runs, cpus, rounds = [], [], []
    for index in range(plan.rounds):
        run, cpu = _timed_run(server, requests, concurrency=1, seconds=plan.latency_seconds / plan.rounds)
        runs.append(run)
        cpus.append(cpu)
        share = plan.baseline_count // plan.rounds + (index < plan.baseline_count % plan.rounds)
        rounds.append(baseline.time(share))
    return _summary(runs, cpus), _baseline_summary(rounds)


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


class NaiveBaseline:
    """The naive baseline (bench/baseline.py) in its own process, loaded once and timed on request."""

    def __init__(self, drawings: list[Drawing]):
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.baseline", "--rounds"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        self._send(json.dumps([d.data_url for d in drawings]))
        self._receive()  # ready: loaded and warmed up, before anything else is timed

    def __enter__(self) -> NaiveBaseline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def time(self, count: int) -> dict[str, Any]:
        """`count` naive requests timed: {"latencies": [s, ...], "cpu": s per request}."""
        self._send(str(count))
        return self._receive()

    def close(self) -> None:
        if self._process.stdin and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _send(self, line: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()

    def _receive(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the naive baseline stopped (exit code {self._process.wait()})")
        return json.loads(line)


def _baseline_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds' latencies pooled (ms), with each round's p50 to show how far the machine drifted."""
    latencies = np.concatenate([one["latencies"] for one in rounds]) * 1000
    counts = [len(one["latencies"]) for one in rounds]
    return {
        "n": int(latencies.size),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "mean_ms": round(float(latencies.mean()), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "p50_ms_rounds": [round(float(np.percentile(one["latencies"], 50)) * 1000, 2) for one in rounds],
        "cpu_ms_per_request": round(
            sum(one["cpu"] * n for one, n in zip(rounds, counts, strict=True)) * 1000 / sum(counts), 2
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
