"""The client-side document-upsert limiter, on a fake clock (no real sleeping, no timing assertions)."""

from __future__ import annotations

import threading
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_dust.ratelimit import (
    EXPIRY_MARGIN_SECONDS,
    PROBES_PER_WINDOW,
    REJECTIONS_PER_WINDOW,
    STRAY_SLOTS,
    SlidingWindowLimiter,
)


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


def _send_then_refuse(limiter: SlidingWindowLimiter, clock: FakeClock, accepted: int) -> None:
    """`accepted` sends answered at one-second steps, then a 429 (someone else holds the rest of Dust's window)."""
    for _ in range(accepted):
        limiter.acquire()
        limiter.on_success()
        clock.now += 1.0
    limiter.acquire()
    limiter.on_rejected()


def test_blocked_a_rejection_frees_its_slot_and_the_allowance_becomes_what_we_hold() -> None:
    limiter, clock = _limiter(10, 60.0)
    _send_then_refuse(limiter, clock, 4)
    assert limiter.blocked
    assert limiter.rejections == 1 and limiter.recent_rejections() == 1
    assert limiter.allowed == 4  # what we held when Dust refused
    assert limiter.in_window() == 4  # the refused send is not counted (Dust did not count it)


def test_probing_the_send_after_a_429_is_a_probe_one_interval_later_not_at_our_oldest_expiry() -> None:
    limiter, clock = _limiter(10, 60.0)
    _send_then_refuse(limiter, clock, 4)  # refused at 1004; our oldest send leaves only at 1060
    assert limiter.probe_interval == 60.0 / PROBES_PER_WINDOW
    assert limiter.acquire() == pytest.approx(limiter.probe_interval)
    assert clock.now == pytest.approx(1004 + limiter.probe_interval)
    assert limiter.probes == 1


def test_recovered_an_accepted_probe_doubles_the_allowance_every_round_trip_up_to_the_limit() -> None:
    limiter, clock = _limiter(40, 60.0)
    _send_then_refuse(limiter, clock, 4)
    limiter.acquire()  # the probe
    limiter.on_success()
    assert not limiter.blocked
    assert limiter.allowed == 6  # the 5 we hold and one more
    rounds = []
    while limiter.in_window() < 40:  # round trips: everything the allowance lets go at once, then answers
        sends = limiter.allowed - limiter.in_window()
        for _ in range(sends):
            assert limiter.acquire() == 0.0
        for _ in range(sends):
            limiter.on_success()
        rounds.append(sends)
    assert rounds == [1, 2, 4, 8, 16, 4]  # doubling, then what is left of the limit
    assert limiter.allowed == 40 and clock.now == 1004 + limiter.probe_interval


def test_recovering_a_429_after_a_few_slots_hands_them_back() -> None:
    limiter, clock = _limiter(40, 60.0)
    _send_then_refuse(limiter, clock, 4)
    limiter.acquire()
    limiter.on_success()  # the probe: 5 held, 6 allowed
    limiter.acquire()
    limiter.on_success()  # 6 held, 8 allowed
    limiter.acquire()
    limiter.on_rejected()  # a steady client's slack, not free budget: one more 429
    assert limiter.blocked and limiter.allowed == 4  # back to what we had before the probe
    assert limiter.acquire() == pytest.approx(2 * limiter.probe_interval)


def test_probing_a_refused_probe_waits_one_more_interval_and_keeps_us_blocked() -> None:
    limiter, clock = _limiter(10, 60.0)
    _send_then_refuse(limiter, clock, 4)
    limiter.acquire()
    limiter.on_rejected()
    assert limiter.blocked and limiter.allowed == 4
    refused_at = clock.now
    assert limiter.acquire() == pytest.approx(limiter.probe_interval)
    assert clock.now == pytest.approx(refused_at + limiter.probe_interval)


def test_blocked_our_own_freed_slots_are_refilled_and_their_success_is_not_a_recovery() -> None:
    """While blocked we keep our share: a slot our own send frees is refilled when it frees (before the
    next probe if sooner), and its acceptance says nothing about the other client's share."""
    limiter, clock = _limiter(10, 60.0)
    _send_then_refuse(limiter, clock, 4)  # answers at 1000..1003, refused at 1004
    limiter.acquire()  # probe at 1009, refused
    limiter.on_rejected()
    clock.now = 1058.0
    limiter.acquire()  # the next probe, due since 1014, goes at once
    limiter.on_rejected()
    waited = limiter.acquire()  # our oldest (answered at 1000) leaves at 1060 + margin: before the probe
    assert clock.now == pytest.approx(1060 + EXPIRY_MARGIN_SECONDS)
    assert waited == pytest.approx(2 + EXPIRY_MARGIN_SECONDS)
    limiter.on_success()
    assert limiter.blocked and limiter.allowed == 4


def test_probing_a_stray_probe_hands_its_slot_back_and_halves_the_probe_rate() -> None:
    """A probe accepted and its follow-up refused took a steady client's slack: we keep our share (none
    here), not the slot, and probe half as often each time, down to once per window."""
    limiter, clock = _limiter(40, 60.0)
    _send_then_refuse(limiter, clock, 0)  # refused at once: another client holds the whole window
    waits = []
    for _ in range(6):
        waits.append(limiter.acquire())  # the probe
        limiter.on_success()
        assert limiter.acquire() == 0.0  # its follow-up goes at once
        limiter.on_rejected()
        assert limiter.blocked and limiter.allowed == 0
    p = limiter.probe_interval
    assert waits == pytest.approx([p, 2 * p, 4 * p, 8 * p, 12 * p, 12 * p])


def test_probing_a_recovery_that_gets_further_than_a_few_slots_restores_the_probe_rate() -> None:
    limiter, clock = _limiter(40, 60.0)
    _send_then_refuse(limiter, clock, 4)
    limiter.acquire()
    limiter.on_success()
    limiter.acquire()
    limiter.on_rejected()  # a stray: the next probe waits two intervals
    assert limiter.acquire() == pytest.approx(2 * limiter.probe_interval)
    limiter.on_success()
    for _ in range(STRAY_SLOTS - 1):  # this time the recovery gets further: free budget, not a stray
        limiter.acquire()
        limiter.on_success()
    held = limiter.in_window()
    limiter.acquire()
    limiter.on_rejected()
    assert limiter.allowed == held  # what it gained is kept
    assert limiter.acquire() == pytest.approx(limiter.probe_interval)


def test_probing_only_one_probe_is_in_flight_and_its_answer_wakes_the_waiters() -> None:
    limiter, clock = _limiter(10, 60.0)
    _send_then_refuse(limiter, clock, 4)
    limiter.acquire()  # this thread holds the probe
    other_sent = threading.Event()

    def other() -> None:
        limiter.acquire()
        other_sent.set()
        limiter.on_success()

    thread = threading.Thread(target=other)
    thread.start()
    assert not other_sent.wait(0.3)  # the probe is due but in flight: no second one
    limiter.on_success()  # the probe was accepted: the waiter goes at once
    assert other_sent.wait(5)
    thread.join(5)
    assert limiter.in_window() == 6 and limiter.probes == 1


def test_the_cap_on_429s_in_the_window_pauses_the_probes_until_the_oldest_leaves() -> None:
    limit = REJECTIONS_PER_WINDOW + 6
    limiter, _ = _limiter(limit, 60.0)
    for _ in range(REJECTIONS_PER_WINDOW):  # sends in flight together, all refused
        limiter.acquire()
    for _ in range(REJECTIONS_PER_WINDOW):
        limiter.on_rejected()
    assert limiter.recent_rejections() == REJECTIONS_PER_WINDOW and limiter.allowed == 0
    assert limiter.acquire() == pytest.approx(60.0)  # not one probe interval: the cap holds it back
    assert limiter.probes == 1


def test_a_send_with_no_answer_is_counted_a_slot_given_back_is_not() -> None:
    limiter, _ = _limiter(5)
    limiter.acquire()
    limiter.on_unknown()
    limiter.acquire()
    limiter.give_back()
    assert limiter.in_window() == 1
    assert limiter.allowed == 5 and not limiter.blocked  # neither changes the allowance


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
    # plus the round trips that delayed each slot (and the expiry margin, which zero latencies do not absorb)
    windows = (len(latencies) - 1) // limit
    pace = window + max(max(latencies), EXPIRY_MARGIN_SECONDS)
    assert clock.now - start <= windows * pace + sum(latencies) + 1e-6


def _sequential_sync(
    limiter: SlidingWindowLimiter, clock: FakeClock, dust: DustWindow, documents: int, latency: float = 0.0
) -> None:
    """One client sending `documents` one at a time, each retried until Dust accepts it."""
    for _ in range(documents):
        while True:
            limiter.acquire()
            accepted = dust.try_send(clock.now)
            clock.now += latency
            if accepted:
                limiter.on_success()
                break
            limiter.on_rejected()


def test_recovered_when_another_clients_burst_ends_not_when_our_oldest_send_leaves() -> None:
    """Dust's 120 per 60 s; another client sent 100 ten seconds before us and stopped. A client that knows
    the window sends 20 at once, 100 when the burst leaves (t=50), 20 at t=60, and so on: the last of 360
    at t=170. We lose at most one probe interval, and the 429s are the probes refused meanwhile."""
    limiter, clock = _limiter(120, 60.0)
    dust = DustWindow(120, 60.0)
    start = clock.now
    for _ in range(100):
        assert dust.try_send(start - 10.0)
    _sequential_sync(limiter, clock, dust, 360)
    assert clock.now - start <= 170 + limiter.probe_interval + 1.0
    assert limiter.rejections <= 1 + 50 / limiter.probe_interval
    assert not limiter.blocked


@settings(max_examples=30, deadline=None)
@given(windows=st.integers(1, 10), held=st.integers(0, 20))
def test_429s_while_blocked_stay_within_the_probe_rate(windows: int, held: int) -> None:
    """Another client keeps Dust's window full (it takes every slot as soon as it frees, ours included): for
    `windows` windows the 429s are the first one, one per slot of ours it took (each lowers our allowance
    for good) and at most one probe per interval."""
    limiter, clock = _limiter(30, 10.0)
    for _ in range(held):
        limiter.acquire()
        limiter.on_success()
    limiter.acquire()
    limiter.on_rejected()
    start = clock.now
    while clock.now - start < windows * limiter.window:
        limiter.acquire()
        limiter.on_rejected()
    per_window = limiter.window / limiter.probe_interval
    assert limiter.rejections <= 1 + held + windows * per_window + 1
    assert limiter.blocked and limiter.allowed <= held


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
