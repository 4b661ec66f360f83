"""Token buckets per client: how often one client may upload drawings or ask for predictions.

A ``Rate`` such as ``"30/60:10"`` lets a client make 30 requests per 60 seconds
on average, at most 10 of them back to back. Buckets live in the memory of one
process, so with several gunicorn workers a client gets up to ``workers`` times
the rate (each worker counts on its own); that still bounds a flood and needs no
shared server. Memory is bounded: a bucket that has refilled is dropped (a fresh
bucket behaves the same), and past ``max_clients`` the least recently seen goes.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(?::\s*(\d+)\s*)?", re.ASCII)
_PRUNE_EVERY = 256  # acquisitions between sweeps for refilled buckets


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``seconds`` on average, bursts of at most ``burst`` at once."""

    count: int
    seconds: float
    burst: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds <= 0 or self.burst < 1:
            raise ValueError("a rate needs count >= 1, seconds > 0 and burst >= 1")

    @property
    def per_second(self) -> float:
        """Tokens added back per second."""
        return self.count / self.seconds

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """``"COUNT/SECONDS"`` or ``"COUNT/SECONDS:BURST"`` -> Rate; ``"off"`` or ``""`` -> None.

        Without a burst the bucket holds ``count`` tokens. ValueError on anything else.
        """
        if text.strip().lower() in ("", "off", "none", "0"):
            return None
        match = _RATE.fullmatch(text)
        if not match:
            raise ValueError(f"a rate looks like '10/60' or '10/60:5' (count/seconds:burst), not {text!r}")
        count, seconds = int(match[1]), float(match[2])
        return cls(count, seconds, int(match[3]) if match[3] else count)

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}:{self.burst}"


class RateLimiter:
    """One token bucket per client key, safe to share between threads."""

    def __init__(
        self, rate: Rate, max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_clients < 1:
            raise ValueError("max_clients must be >= 1")
        self.rate = rate
        self.max_clients = max_clients
        self.clock = clock  # seconds, monotonic; tests may freeze it
        self._lock = threading.Lock()
        # key -> (tokens left, time of the last update); ordered least recently seen first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._since_prune = 0

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else the seconds until a token is back."""
        rate = self.rate
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.pop(key, (float(rate.burst), now))
            tokens = min(float(rate.burst), tokens + (now - then) * rate.per_second)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / rate.per_second
            self._buckets[key] = (tokens, now)
            self._evict(now)
            return wait

    def __len__(self) -> int:
        """How many clients have a bucket in memory."""
        with self._lock:
            return len(self._buckets)

    def _evict(self, now: float) -> None:
        # Caller holds the lock.
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        self._since_prune += 1
        if self._since_prune < _PRUNE_EVERY:
            return
        self._since_prune = 0
        full_after = self.rate.burst / self.rate.per_second
        # Least recently seen first: stop at the first bucket that may not have refilled yet.
        while self._buckets:
            key, (_tokens, then) = next(iter(self._buckets.items()))
            if now - then < full_after:
                break
            del self._buckets[key]


def retry_after_header(wait: float) -> str:
    """Seconds to wait as an HTTP ``Retry-After`` value (a whole number, at least 1)."""
    return str(max(1, math.ceil(wait)))
