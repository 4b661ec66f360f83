"""digitrec.capacity: how many gunicorn workers fit the memory limit, and who decides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from digitrec.capacity import (
    MB,
    MEMORY_SHARE,
    SERVER_BASE_BYTES,
    WORKER_BYTES,
    memory_limit_bytes,
    worker_count,
    workers_that_fit,
)

ROOT = Path(__file__).resolve().parent.parent
GB = 1024 * MB
BUILDPACK_SET = {"WEB_CONCURRENCY_SET_BY": "heroku/python"}


def server_bytes(workers: int) -> int:
    return SERVER_BASE_BYTES + workers * WORKER_BYTES


@pytest.mark.parametrize(
    ("buildpack_guess", "limit", "expected"),
    [
        ("2", 512 * MB, 1),  # Basic / Standard-1X
        ("4", 1 * GB, 1),  # Standard-2X
        ("5", int(2.5 * GB), 5),  # Performance-M: the buildpack's guess is below what fits
        ("10", int(2.5 * GB), workers_that_fit(int(2.5 * GB))),  # memory bounds a larger guess
        ("2", None, 2),  # no readable limit: the guess, at most the default
        ("8", None, 2),
    ],
)
def test_a_buildpack_guess_is_bounded_by_what_the_memory_limit_holds(buildpack_guess, limit, expected):
    environ = {**BUILDPACK_SET, "WEB_CONCURRENCY": buildpack_guess}
    assert worker_count(environ, limit) == expected


@pytest.mark.parametrize("limit", [512 * MB, 1 * GB, int(2.5 * GB), 6 * GB, 14 * GB])
def test_the_chosen_servers_fit_the_limit_with_headroom_unless_one_worker_is_too_many(limit):
    workers = worker_count({**BUILDPACK_SET, "WEB_CONCURRENCY": "512"}, limit)
    assert workers >= 1
    if workers > 1:
        assert server_bytes(workers) <= limit * MEMORY_SHARE
    assert server_bytes(workers + 1) > limit * MEMORY_SHARE


@pytest.mark.parametrize("limit", [512 * MB, 1 * GB, int(2.5 * GB), None])
def test_a_users_web_concurrency_always_wins(limit):
    assert worker_count({"WEB_CONCURRENCY": "6"}, limit) == 6
    assert worker_count({"WEB_CONCURRENCY": "1"}, limit) == 1


def test_a_user_who_overrides_the_buildpack_marker_wins_too():
    environ = {"WEB_CONCURRENCY": "3", "WEB_CONCURRENCY_SET_BY": "someone-else"}
    assert worker_count(environ, 512 * MB) == 3


@pytest.mark.parametrize(("limit", "expected"), [(None, 2), (64 * GB, 2), (1 * GB, 1), (512 * MB, 1)])
def test_without_a_setting_the_default_is_two_unless_the_limit_holds_fewer(limit, expected):
    assert worker_count({}, limit) == expected


@pytest.mark.parametrize("setting", ["0", "-2", "two", "1.5"])
def test_a_web_concurrency_that_is_no_positive_whole_number_is_refused(setting):
    with pytest.raises(ValueError, match="WEB_CONCURRENCY"):
        worker_count({"WEB_CONCURRENCY": setting}, None)


def test_cgroup_v2_memory_max_is_read(tmp_path):
    (tmp_path / "memory.max").write_text("1073741824\n")
    assert memory_limit_bytes(tmp_path) == 1 * GB


def test_cgroup_v2_max_means_no_limit(tmp_path):
    (tmp_path / "memory.max").write_text("max\n")
    assert memory_limit_bytes(tmp_path) is None


def test_cgroup_v1_limit_is_read(tmp_path):
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("536870912\n")
    assert memory_limit_bytes(tmp_path) == 512 * MB


def test_cgroup_v1_huge_value_means_no_limit(tmp_path):
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert memory_limit_bytes(tmp_path) is None


def test_no_cgroup_files_means_no_known_limit(tmp_path):
    assert memory_limit_bytes(tmp_path) is None


def configured_workers(**environ: str) -> int:
    """`workers` as gunicorn.conf.py sets it under `environ`, in a fresh process (it sets malloc options)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEB_CONCURRENCY")}
    code = "import runpy; print(runpy.run_path('gunicorn.conf.py')['workers'])"
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, **environ},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(completed.stdout.split()[-1])


def test_gunicorn_conf_takes_its_worker_count_from_worker_count():
    limit = memory_limit_bytes()
    assert configured_workers(WEB_CONCURRENCY="3") == 3
    assert configured_workers() == worker_count({}, limit)
    buildpack = {"WEB_CONCURRENCY": "4", "WEB_CONCURRENCY_SET_BY": "heroku/python"}
    assert configured_workers(**buildpack) == worker_count(buildpack, limit)
