"""Cold start and memory of the whole server, for 1 and 2 workers: `python -m bench.startup`.

For each worker count it launches the `Procfile` command (tests/live_server.py) and, from
the moment the port accepts connections, sends one prediction, as Heroku's router would
forward a request that arrives while the dyno boots. It times launch -> port bound and
launch -> that prediction answered (the request's wait must stay under the router's 30 s),
and counts the CPU time the server's processes had used by then: on a shared machine the
wall time includes waiting for a core, the CPU time is what a quiet machine would wait.
Then it sends predictions on several fresh connections (so every worker serves some) and
CORRECTIONS corrections, and sums the proportional set size (Pss in /proc/<pid>/smaps_rollup) over
the arbiter and its workers: the memory the server takes from the machine, shared pages
counted once. Nothing here depends on the worker class. Prints the figures as JSON.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.client import KeepAliveConnection, exchange_once, post_json_request
from bench.drawings import Drawing, benchmark_drawings
from tests.live_server import LiveServer

HOST = "127.0.0.1"
WORKER_COUNTS = (1, 2)
ROUTER_TIMEOUT_S = 30.0  # Heroku's router answers 503 (H12) to a request unanswered this long
CONNECTIONS = 8  # fresh connections of predictions after the cold one
PREDICTIONS_PER_CONNECTION = 10
CORRECTIONS = 6  # each on a fresh connection, so more than one worker learns
# Rate limits far above what this sends (the defaults protect a public site).
SERVER_ENV = {"DIGITREC_RATE_PREDICT": "1000000/1", "DIGITREC_RATE_UPLOADS": "1000000/1"}


def measure_startup(
    workers: int, drawings: list[Drawing], env: Mapping[str, str] = SERVER_ENV
) -> dict[str, Any]:
    """One launch with `workers` workers: cold-start seconds, and PSS in MB after some traffic."""
    server = LiveServer(env=dict(env), workers=workers)
    predict = [post_json_request(HOST, server.port, "/api/predict", {"image": d.data_url}) for d in drawings]
    failure: list[BaseException] = []

    def start() -> None:
        try:
            server.start()  # returns once /healthz answers and every worker is forked
        except BaseException as error:  # re-raised below, in the measuring thread
            failure.append(error)

    launched = time.perf_counter()
    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    try:
        bound = _wait_for_port(server.port, starter, launched)
        answered = _first_prediction(server.port, predict[0])
        cpu = sum(_cpu_seconds(pid) for pid in [server.master_pid, *server.pids()])
        starter.join()
        if failure:
            raise failure[0]
        ready = time.perf_counter()
        _traffic(server, drawings, predict)
        pss = {str(pid): _pss_mb(pid) for pid in [server.master_pid, *server.pids()]}
    finally:
        starter.join()
        server.stop()
    return {
        "workers": workers,
        "port_bound_s": round(bound - launched, 2),
        "first_prediction_s": round(answered - launched, 2),
        "first_request_waited_s": round(answered - bound, 2),
        "cpu_to_first_prediction_s": round(cpu, 2),
        "all_workers_ready_s": round(ready - launched, 2),
        "pss_mb": pss,
        "pss_total_mb": round(sum(pss.values()), 1),
    }


def measure_all(env: Mapping[str, str] = SERVER_ENV) -> dict[str, Any]:
    """measure_startup for each of WORKER_COUNTS, and what one more worker adds to the PSS (MB)."""
    drawings = benchmark_drawings()
    runs = {f"workers_{n}": measure_startup(n, drawings, env) for n in WORKER_COUNTS}
    first, second = (runs[f"workers_{n}"]["pss_total_mb"] for n in WORKER_COUNTS)
    runs["pss_per_added_worker_mb"] = round(second - first, 1)
    runs["router_timeout_s"] = ROUTER_TIMEOUT_S
    return runs


def _wait_for_port(port: int, starter: threading.Thread, launched: float) -> float:
    """The moment the port first accepts a TCP connection."""
    while time.perf_counter() - launched < ROUTER_TIMEOUT_S * 2:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return time.perf_counter()
        except OSError:
            if not starter.is_alive():
                raise RuntimeError("the server stopped before binding its port") from None
            time.sleep(0.02)
    raise RuntimeError(f"port {port} not bound within {ROUTER_TIMEOUT_S * 2:.0f} s")


def _first_prediction(port: int, request: bytes) -> float:
    """Send one prediction now; the moment its 200 arrives."""
    exchange_once(HOST, port, request, "the first prediction", timeout=ROUTER_TIMEOUT_S * 2)
    return time.perf_counter()


def _traffic(server: LiveServer, drawings: list[Drawing], predict: list[bytes]) -> None:
    """Predictions on CONNECTIONS fresh connections (spread over the workers), then corrections."""
    for index in range(CONNECTIONS):
        connection = KeepAliveConnection(HOST, server.port)
        try:
            for offset in range(PREDICTIONS_PER_CONNECTION):
                request = predict[(index * PREDICTIONS_PER_CONNECTION + offset) % len(predict)]
                status, body = connection.exchange(request)
                if status != 200:
                    raise RuntimeError(f"a prediction failed with {status}: {body[:300]!r}")
        finally:
            connection.close()
    for drawing in drawings[:CORRECTIONS]:
        feedback = post_json_request(
            HOST, server.port, "/api/feedback", {"image": drawing.data_url, "digit": drawing.digit}
        )
        exchange_once(HOST, server.port, feedback, "a correction")


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, s) a process has used so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pss_mb(pid: int) -> float:
    """A process's proportional set size in MB, from /proc/<pid>/smaps_rollup (Linux)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no Pss for process {pid}")


if __name__ == "__main__":
    sys.stdout.write(json.dumps(measure_all(), indent=2) + "\n")
