"""How many gunicorn workers fit the machine: the `workers` setting of gunicorn.conf.py.

A user's WEB_CONCURRENCY always wins. Heroku's Python buildpack sets WEB_CONCURRENCY itself
(marking it with WEB_CONCURRENCY_SET_BY=heroku/python) from the dyno's RAM at 256 MB a process,
far less than a digitrec worker needs; its value is then only an upper bound, and the count is
what the memory limit (the cgroup's, as Heroku's docs suggest reading it) holds with headroom.
Without a setting the default is 2 workers, fewer when the memory limit cannot hold 2.

The sizes are the whole server's proportional set size (arbiter + workers, after predictions
and a correction) that `python -m bench` reports as `startup` for 1 and 2 workers
(docs/deploy.md); re-measure them when the serving stack changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

MB = 1024 * 1024
SERVER_BASE_BYTES = 560 * MB  # the 1-worker server's PSS minus what one worker adds
WORKER_BYTES = 170 * MB  # what each further worker adds to the server's PSS
MEMORY_SHARE = 0.8  # plan for 80% of the limit: memory grows with traffic, and Heroku swaps past 100%
DEFAULT_WORKERS = 2
BUILDPACK = "heroku/python"
NO_LIMIT = 1 << 60  # cgroup v1 reports "no limit" as a number near 2**63


def memory_limit_bytes(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """This process's cgroup memory limit in bytes (v2 memory.max, else v1), None when unlimited/unknown."""
    for path in (cgroup_root / "memory.max", cgroup_root / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            limit = int(text)
        except ValueError:
            continue
        return limit if 0 < limit < NO_LIMIT else None
    return None


def workers_that_fit(
    memory_limit: int, base_bytes: int = SERVER_BASE_BYTES, worker_bytes: int = WORKER_BYTES
) -> int:
    """Workers whose server fits MEMORY_SHARE of `memory_limit` bytes; at least 1 (a dyno must serve)."""
    budget = memory_limit * MEMORY_SHARE - base_bytes
    return max(1, int(budget // worker_bytes))


def worker_count(environ: Mapping[str, str], memory_limit: int | None) -> int:
    """gunicorn's worker count from the environment and the memory limit in bytes (None: unlimited).

    Raises ValueError when WEB_CONCURRENCY is not a positive whole number.
    """
    setting = environ.get("WEB_CONCURRENCY", "").strip()
    requested = _positive_count(setting) if setting else None
    if requested is not None and environ.get("WEB_CONCURRENCY_SET_BY") != BUILDPACK:
        return requested
    # Unset, or the buildpack's guess: never more than the guess (it counts the dyno's cores too).
    ceiling = min(requested, DEFAULT_WORKERS) if requested is not None else DEFAULT_WORKERS
    if memory_limit is None:
        return ceiling
    fitting = workers_that_fit(memory_limit)
    return min(requested, fitting) if requested is not None else min(ceiling, fitting)


def _positive_count(setting: str) -> int:
    if setting.isdecimal() and int(setting) > 0:
        return int(setting)
    raise ValueError(f"WEB_CONCURRENCY must be a positive whole number of workers, not {setting!r}.")
