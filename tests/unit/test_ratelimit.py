"""The client-side document-upsert limiter, on a fake clock (no real sleeping, no timing assertions)."""

from __future__ import annotations

import threading
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_dust.ratelimit import EXPIRY_MARGIN_SECONDS, RECOVERY_PER_SUCCESS, SlidingWindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _limiter(limit: int, window: float = 60.0) -> tuple[SlidingWindowLimiter, FakeClock]:
    clock = FakeClock()
    return SlidingWindowLimiter(limit, window, clock=clock, sleep=clock.sleep), clock


def test_the_first_limit_sends_go_at_once_then_the_next_waits_for_the_oldest_answer() -> None:
    limiter, clock = _limiter(3, 10.0)
    for _ in range(3):
        assert limiter.acquire() == 0.0
        clock.now += 0.5  # the answer comes half a second later
        limiter.on_success()
    assert clock.now == 1001.5
    # the first answer came at 1000.5: its slot frees at 1010.5 (and the safety margin)
    assert limiter.acquire() == pytest.approx(9.0 + EXPIRY_MARGIN_SECONDS)
    assert clock.now == pytest.approx(1010.5 + EXPIRY_MARGIN_SECONDS)


def test_a_slot_is_timed_by_its_answer_not_its_departure() -> None:
    """Dust records a send between departure and answer: timing it at the answer can only be later."""
    limiter, clock = _limiter(1, 10.0)
    limiter.acquire()
    clock.now += 4.0  # a slow answer
    limiter.on_success()
    waited = limiter.acquire()
    # from the answer at 1004, not from the departure at 1000
    assert waited == pytest.approx(10.0 + EXPIRY_MARGIN_SECONDS)
    assert clock.now == pytest.approx(1014.0 + EXPIRY_MARGIN_SECONDS)


def test_unlimited_never_waits_nor_counts() -> None:
    limiter, clock = _limiter(0)
    for _ in range(1000):
        assert limiter.acquire() == 0.0
        limiter.on_success()
    assert clock.sleeps == []
    assert not limiter.enabled


def test_a_rejection_frees_its_slot_lowers_the_allowance_and_says_when_the_window_frees() -> None:
    limiter, clock = _limiter(10, 60.0)
    for _ in range(4):
        limiter.acquire()
        limiter.on_success()
        clock.now += 1.0
    limiter.acquire()
    wait = limiter.on_rejected()  # Dust says full: someone else holds the other 6 slots
    assert limiter.rejections == 1
    assert limiter.allowed == 4.0  # what we held when Dust refused
    # our oldest answer (at 1000) leaves at 1060 (and the margin); now is 1004
    assert wait == pytest.approx(60.0 - 4.0 + EXPIRY_MARGIN_SECONDS)
    assert limiter.in_window() == 4  # the refused send is not counted (Dust did not count it)


def test_the_allowance_recovers_additively_up_to_the_limit() -> None:
    limiter, _ = _limiter(8, 60.0)
    limiter.acquire()
    limiter.on_rejected()
    assert limiter.allowed == 1.0
    successes = 0
    while limiter.allowed < 8:
        limiter.acquire()
        limiter.on_success()
        successes += 1
    assert successes == int(7 / RECOVERY_PER_SUCCESS)
    limiter.acquire()
    limiter.on_success()
    assert limiter.allowed == 8.0  # never above the configured limit


def test_a_send_with_no_answer_is_counted_a_slot_given_back_is_not() -> None:
    limiter, _ = _limiter(5)
    limiter.acquire()
    limiter.on_unknown()
    limiter.acquire()
    limiter.give_back()
    assert limiter.in_window() == 1
    assert limiter.allowed == 5.0  # neither changes the allowance


def test_sends_leave_the_window_after_the_window_and_a_margin() -> None:
    limiter, clock = _limiter(2, 10.0)
    limiter.acquire()
    limiter.on_success()
    clock.now += 10.0
    assert limiter.in_window() == 1  # Dust's copy may end at this very instant: not a safe one
    clock.now += EXPIRY_MARGIN_SECONDS
    assert limiter.in_window() == 0


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(-1)
    with pytest.raises(ValueError):
        SlidingWindowLimiter(5, 0)


class DustWindow:
    """Dust's limiter as documented: allowed sends are recorded, blocked ones are not."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.hits: deque[float] = deque()

    def try_send(self, now: float) -> bool:
        while self.hits and self.hits[0] <= now - self.window:
            self.hits.popleft()
        if len(self.hits) >= self.limit:
            return False
        self.hits.append(now)
        return True


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(1, 30),
    latencies=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=120),
    arrival=st.floats(0.0, 1.0),
)
def test_against_dusts_window_a_lone_client_is_never_refused_and_uses_the_budget(
    limit: int, latencies: list[float], arrival: float
) -> None:
    """One sequential client against a simulated Dust window of the same size: whatever the latency and
    wherever Dust records the send within the round trip, no 429 and no wait beyond the window's pace."""
    window = 10.0
    limiter, clock = _limiter(limit, window)
    dust = DustWindow(limit, window)
    start = clock.now
    for latency in latencies:
        limiter.acquire()
        recorded_at = clock.now + latency * arrival  # somewhere between departure and answer
        assert dust.try_send(recorded_at), "Dust refused a send that our window allowed"
        clock.now += latency
        limiter.on_success()
    # sends are paced by the window only: n sends need at most ceil(n / limit) - 1 full windows of waiting,
    # plus the round trips that delayed each slot
    windows = (len(latencies) - 1) // limit
    assert clock.now - start <= windows * (window + max(latencies)) + sum(latencies) + 1e-6


def test_many_threads_never_hold_more_slots_than_the_limit() -> None:
    """Real threads, fake time that only moves when someone sleeps: the window count never exceeds the
    limit, and every send gets through."""
    lock = threading.Lock()
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.now += seconds

    limiter = SlidingWindowLimiter(5, 10.0, clock=clock, sleep=sleep)
    peak = 0
    sent = 0

    def worker() -> None:
        nonlocal peak, sent
        for _ in range(25):
            limiter.acquire()
            with lock:
                peak = max(peak, limiter.in_window())
                sent += 1
            limiter.on_success()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert sent == 200
    assert peak <= 5
