"""Token buckets: rate parsing, refill, burst, per-client separation, bounded memory, threads."""

import threading

import pytest

from digitrec.ratelimit import Rate, RateLimiter, retry_after_header


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10/60", Rate(10, 60, 10)), ("10/60:3", Rate(10, 60, 3)), (" 5 / 0.5 : 2 ", Rate(5, 0.5, 2))],
)
def test_rate_parses_count_seconds_and_optional_burst(text, expected):
    assert Rate.parse(text) == expected


@pytest.mark.parametrize("text", ["off", "", "0", "OFF"])
def test_rate_off_means_no_limit(text):
    assert Rate.parse(text) is None


@pytest.mark.parametrize("text", ["ten/60", "10", "10/0", "0/60", "10/60:0", "-1/60", "10/60:5:5"])
def test_rate_rejects_malformed_text(text):
    with pytest.raises(ValueError):
        Rate.parse(text)


def test_burst_is_allowed_then_refused():
    limiter = RateLimiter(Rate(10, 60, 3), clock=FakeClock())
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(6.0)  # one token comes back every 6 s


def test_tokens_refill_with_time():
    clock = FakeClock()
    limiter = RateLimiter(Rate(10, 60, 2), clock=clock)
    limiter.acquire("a")
    limiter.acquire("a")
    assert limiter.acquire("a") > 0
    clock.now += 6.0
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


def test_refused_requests_do_not_consume_tokens():
    clock = FakeClock()
    limiter = RateLimiter(Rate(1, 10, 1), clock=clock)
    limiter.acquire("a")
    for _ in range(5):
        limiter.acquire("a")
    clock.now += 10.0
    assert limiter.acquire("a") == 0.0


def test_refill_never_exceeds_the_burst():
    clock = FakeClock()
    limiter = RateLimiter(Rate(10, 60, 2), clock=clock)
    limiter.acquire("a")
    clock.now += 3600
    assert [limiter.acquire("a") for _ in range(3)][2] > 0


def test_clients_have_separate_buckets():
    limiter = RateLimiter(Rate(1, 60, 1), clock=FakeClock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_memory_is_bounded_by_max_clients():
    limiter = RateLimiter(Rate(1, 60, 1), max_clients=100, clock=FakeClock())
    for i in range(1000):
        limiter.acquire(f"client-{i}")
    assert len(limiter) == 100


def test_idle_refilled_buckets_are_dropped():
    clock = FakeClock()
    limiter = RateLimiter(Rate(10, 10, 10), clock=clock)
    for i in range(300):
        limiter.acquire(f"old-{i}")
    clock.now += 11.0  # every old bucket has refilled to its burst
    for i in range(300):
        limiter.acquire(f"new-{i}")
    assert len(limiter) <= 300


def test_concurrent_clients_get_exactly_the_burst():
    limiter = RateLimiter(Rate(1, 3600, 50))
    allowed = []
    lock = threading.Lock()

    def hammer():
        mine = sum(limiter.acquire("shared") == 0.0 for _ in range(40))
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 50


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60")])
def test_retry_after_is_a_whole_number_of_seconds_at_least_one(wait, header):
    assert retry_after_header(wait) == header
