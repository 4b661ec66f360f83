"""Summaries of timed runs, the acceptance targets, and the table `make bench` prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.client import Run


def latency_summary(run: Run) -> dict[str, Any]:
    """A run as JSON-ready numbers: request count, failures, latency percentiles (ms), req/s."""
    ms = np.asarray(run.latencies) * 1000.0 if run.latencies else np.full(1, np.nan)
    return {
        "n": len(run.latencies),
        "failures": run.failures,
        "first_failure": run.first_failure,
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "throughput_rps": round(run.throughput, 1),
    }


@dataclass(frozen=True)
class Target:
    """One acceptance figure: where it lives in the results, its bound, and which way is good."""

    label: str
    path: tuple[str, ...]
    bound: float
    at_least: bool = False

    def value(self, results: dict[str, Any]) -> float | None:
        node: Any = results
        for key in self.path:
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, int | float) else None

    def met(self, results: dict[str, Any]) -> bool:
        value = self.value(results)
        if value is None or value != value:  # missing or NaN
            return False
        return value >= self.bound if self.at_least else value <= self.bound


TARGETS = (
    Target("predict p50, concurrency 1 (ms)", ("predict_c1", "p50_ms"), 3.0),
    Target("predict p99, concurrency 1 (ms)", ("predict_c1", "p99_ms"), 10.0),
    Target("predict throughput, concurrency 4 (req/s)", ("predict_c4", "throughput_rps"), 400.0, True),
    Target("baseline / predict p50 (x)", ("speedup",), 15.0, True),
    Target("feedback p50 (ms)", ("feedback", "p50_ms"), 50.0),
    Target("cold start to first prediction (s)", ("cold_start_s",), 8.0),
    Target(
        "cold start, 1 worker: launch to first prediction (s)",
        ("startup", "workers_1", "first_prediction_s"),
        8.0,
    ),
    Target("peak RSS per worker (MB)", ("peak_rss_mb_max",), 700.0),
)


def check_targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target's measured value, bound and whether it is met."""
    return {
        target.label: {
            "value": target.value(results),
            "bound": target.bound,
            "at_least": target.at_least,
            "met": target.met(results),
        }
        for target in TARGETS
    }


def format_table(results: dict[str, Any]) -> str:
    """The human summary: every measurement, then the targets with pass/fail."""
    rows = [("measurement", "p50 ms", "p95 ms", "p99 ms", "req/s", "n", "fail", "CPU ms/req")]
    for key, label in (
        ("predict_c1", "POST /api/predict, 1 client"),
        ("predict_c4", "POST /api/predict, 4 clients"),
        ("predict_c8", "POST /api/predict, 8 clients"),
        ("feedback", "POST /api/feedback, 1 client"),
        ("healthz_c1", "GET /healthz, 1 client (serving alone)"),
    ):
        run = results[key]
        rows.append(
            (
                label,
                f"{run['p50_ms']:.2f}",
                f"{run['p95_ms']:.2f}",
                f"{run['p99_ms']:.2f}",
                f"{run['throughput_rps']:.0f}",
                str(run["n"]),
                str(run["failures"]),
                f"{run['server_cpu_ms_per_request']:.2f}",
            )
        )
    base = results["baseline"]
    rows.append(
        (
            "naive baseline (model.predict)",
            f"{base['p50_ms']:.2f}",
            "",
            f"{base['p99_ms']:.2f}",
            "",
            str(base["n"]),
            "",
            f"{base['cpu_ms_per_request']:.2f}",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    rss = ", ".join(f"{mb:.0f}" for mb in results["peak_rss_mb"].values())
    lines += [
        "",
        f"cold start to first prediction: {results['cold_start_s']:.2f} s "
        f"(CPU of the slowest worker: {results['cold_start_worker_cpu_s']:.2f} s)",
        f"peak RSS per worker: {rss} MB",
        *_startup_lines(results["startup"]),
        f"speed-up over the naive baseline (p50): {results['speedup']:.1f}x "
        f"(CPU per request: {results['speedup_cpu']:.1f}x)",
        "p50 per round, baseline / one-client predict: "
        + ", ".join(
            f"{base:.1f} / {own:.2f}"
            for base, own in zip(
                results["baseline"]["p50_ms_rounds"], results["predict_c1"]["p50_ms_rounds"], strict=True
            )
        )
        + " ms",
        f"drawings answered correctly: {results['correct_answers']}",
        f"load average before / after: {results['machine']['loadavg_before']} / "
        f"{results['machine']['loadavg_after']}",
        "",
        "targets:",
    ]
    for label, check in results["targets"].items():
        sign = ">=" if check["at_least"] else "<="
        value = "missing" if check["value"] is None else f"{check['value']:g}"
        lines.append(f"  {'ok  ' if check['met'] else 'MISS'} {label}: {value} ({sign} {check['bound']:g})")
    return "\n".join(lines)


def _startup_lines(startup: dict[str, Any]) -> list[str]:
    """bench/startup.py's figures: a fresh launch per worker count."""
    lines = []
    for key, run in startup.items():
        if key.startswith("workers_"):
            lines.append(
                f"fresh launch, {run['workers']} worker(s): port bound {run['port_bound_s']:.2f} s, "
                f"first prediction {run['first_prediction_s']:.2f} s (waited "
                f"{run['first_request_waited_s']:.2f} s; server CPU by then "
                f"{run['cpu_to_first_prediction_s']:.2f} s), "
                f"whole server's PSS {run['pss_total_mb']:.0f} MB"
            )
    lines.append(f"PSS one more worker adds: {startup['pss_per_added_worker_mb']:.0f} MB")
    return lines
