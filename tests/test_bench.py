"""`python -m bench --quick`: the benchmark runs end to end and its output is complete.

Speed itself is not asserted here (that is the benchmark's job); only that every
measurement is present, no request failed, and the table names every target.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import TARGETS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[str, dict]:
    """The printed table and the JSON of one quick run (one worker: the suite shares 2 cores)."""
    output = tmp_path_factory.mktemp("bench") / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--workers", "1", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed.stdout, json.loads(output.read_text())


def test_every_timed_phase_has_requests_and_no_failures(quick_run):
    _, results = quick_run
    for phase in ("predict_c1", "predict_c4", "predict_c8", "feedback", "healthz_c1"):
        assert results[phase]["n"] > 0, phase
        assert results[phase]["failures"] == 0, results[phase]["first_failure"]
        assert 0 < results[phase]["p50_ms"] <= results[phase]["p95_ms"] <= results[phase]["p99_ms"]


def test_every_target_has_a_measured_value(quick_run):
    _, results = quick_run
    assert set(results["targets"]) == {target.label for target in TARGETS}
    for label, check in results["targets"].items():
        assert isinstance(check["value"], int | float) and math.isfinite(check["value"]), label
        assert isinstance(check["met"], bool)


def test_cold_start_memory_and_baseline_are_measured(quick_run):
    _, results = quick_run
    assert results["cold_start_s"] > 0
    assert len(results["peak_rss_mb"]) == results["workers"]
    assert all(mb > 0 for mb in results["peak_rss_mb"].values())
    assert results["baseline"]["n"] > 0 and results["baseline"]["p50_ms"] > 0
    # timed in rounds that alternate with the one-client prediction rounds, and pooled
    for timed in (results["baseline"], results["predict_c1"]):
        rounds = timed["p50_ms_rounds"]
        assert len(rounds) == 2 and all(ms > 0 for ms in rounds)
        assert min(rounds) <= timed["p50_ms"] <= max(rounds)
    assert results["speedup"] > 0 and results["speedup_cpu"] > 0
    assert results["cold_start_worker_cpu_s"] > 0


def test_the_table_lists_every_target(quick_run):
    table, _ = quick_run
    for target in TARGETS:
        assert target.label in table


def test_startup_is_measured_for_one_and_two_workers(quick_run):
    _, results = quick_run
    startup = results["startup"]
    for workers in (1, 2):
        run = startup[f"workers_{workers}"]
        assert 0 < run["port_bound_s"] <= run["first_prediction_s"] <= run["all_workers_ready_s"]
        assert run["first_request_waited_s"] < startup["router_timeout_s"]
        assert len(run["pss_mb"]) == workers + 1  # the arbiter and its workers
        assert run["pss_total_mb"] == pytest.approx(sum(run["pss_mb"].values()), abs=0.5)


def test_the_dataset_scenario_measures_memory_once_the_workers_have_settled():
    from bench.dataset import _rss_mb, wait_until_settled

    # A process whose memory grows by 8 MB every 0.1 s for 1.5 s once it says so, then stays.
    grow = (
        "import sys, time\nprint('growing', flush=True)\nkept = []\n"
        "for _ in range(15):\n    kept.append(b'x' * 2**23)\n    time.sleep(0.1)\ntime.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", grow], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "growing\n"
        started = _rss_mb(child.pid)
        wait_until_settled([child.pid])
        assert _rss_mb(child.pid) - started >= 15 * 8 - 8  # it waited for the whole growth
    finally:
        child.kill()
        child.wait()
