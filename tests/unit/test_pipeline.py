"""The pipeline: bounded workers, bounded bytes and jobs, dependencies without blocked workers, failure
propagation and cancellation. Jobs synchronise on events; nothing asserts on elapsed time."""

from __future__ import annotations

import functools
import threading
from concurrent.futures import Future
from typing import Any

import pytest

from destination_dust.errors import Cancelled
from destination_dust.pipeline import Pipeline
from destination_dust.progress import Progress

WAIT = 10.0  # generous upper bound for events that must happen; never a measured duration


class Boom(Exception):
    pass


def _wait_for(predicate: Any) -> bool:
    event = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if predicate():
            return True
        event.wait(0.01)
    return bool(predicate())


@pytest.fixture
def pipeline() -> Any:
    pipe = Pipeline(max_workers=3, max_bytes=1000, max_jobs=50)
    yield pipe
    pipe.shutdown()


def test_at_most_max_workers_jobs_run_at_once(pipeline: Pipeline) -> None:
    release = threading.Event()
    lock = threading.Lock()
    running = peak = 0

    def job() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(WAIT)
        with lock:
            running -= 1

    futures = [pipeline.submit(job) for _ in range(10)]
    assert _wait_for(lambda: pipeline.running == 3)
    release.set()
    for future in futures:
        future.result(WAIT)
    assert peak == 3
    assert pipeline.wait_all(WAIT)


def test_submit_blocks_while_too_many_bytes_are_held(pipeline: Pipeline) -> None:
    release = threading.Event()
    submitted: list[Future[Any]] = []

    def submitter() -> None:
        for _ in range(6):
            submitted.append(pipeline.submit(lambda: release.wait(WAIT), size=400))

    thread = threading.Thread(target=submitter)
    thread.start()
    assert _wait_for(lambda: len(submitted) == 2)
    thread.join(0.2)
    assert thread.is_alive() and len(submitted) == 2  # a third 400-byte job would exceed 1000 bytes
    assert pipeline.held_bytes == 800
    release.set()
    thread.join(WAIT)
    assert len(submitted) == 6
    assert pipeline.wait_all(WAIT)
    assert pipeline.held_bytes == 0


def test_a_job_larger_than_the_budget_runs_alone() -> None:
    pipe = Pipeline(max_workers=2, max_bytes=100)
    try:
        assert pipe.submit(lambda: "big", size=10_000).result(WAIT) == "big"
        assert pipe.held_bytes == 0
    finally:
        pipe.shutdown()


def test_submit_blocks_while_too_many_jobs_are_held() -> None:
    pipe = Pipeline(max_workers=1, max_bytes=10**9, max_jobs=4)
    release = threading.Event()
    submitted: list[Future[Any]] = []

    def submitter() -> None:
        for _ in range(8):
            submitted.append(pipe.submit(lambda: release.wait(WAIT)))

    thread = threading.Thread(target=submitter)
    thread.start()
    try:
        assert _wait_for(lambda: len(submitted) == 4)
        thread.join(0.2)
        assert thread.is_alive() and len(submitted) == 4
        assert pipe.in_flight == 4
    finally:
        release.set()
        thread.join(WAIT)
        pipe.shutdown()
    assert len(submitted) == 8


def test_a_dependent_job_runs_after_its_dependency(pipeline: Pipeline) -> None:
    order: list[str] = []
    gate = threading.Event()

    def first_job() -> None:
        gate.wait(WAIT)
        order.append("first")

    first = pipeline.submit(first_job)
    second = pipeline.submit(lambda: order.append("second"), after=[first])
    gate.set()
    second.result(WAIT)
    assert order == ["first", "second"]


def test_waiting_for_a_dependency_does_not_hold_a_worker() -> None:
    """Two workers: A blocks, B waits for A, C is independent. C must run while A still blocks (a design
    where B sat on a worker waiting for A would leave no worker for C)."""
    pipe = Pipeline(max_workers=2)
    release_a = threading.Event()
    c_ran = threading.Event()
    try:
        a = pipe.submit(lambda: release_a.wait(WAIT))
        b = pipe.submit(lambda: "b", after=[a])
        c = pipe.submit(c_ran.set)
        assert c_ran.wait(WAIT)  # ran on the second worker while A still blocks
        assert not a.done() and not b.done()
        release_a.set()
        assert b.result(WAIT) == "b"
        c.result(WAIT)
    finally:
        release_a.set()
        pipe.shutdown()


def test_independent_work_overtakes_a_parked_job() -> None:
    pipe = Pipeline(max_workers=1)
    release = threading.Event()
    started: list[str] = []

    def slow_job() -> None:
        started.append("slow")
        release.wait(WAIT)

    try:
        slow = pipe.submit(slow_job)
        parked = pipe.submit(lambda: started.append("parked"), after=[slow])
        free = pipe.submit(lambda: started.append("free"))
        assert not parked.done()
        release.set()
        free.result(WAIT)
        parked.result(WAIT)
        # the independent job entered the queue before the parked one was released into it
        assert started == ["slow", "free", "parked"]
    finally:
        release.set()
        pipe.shutdown()


def test_a_failed_dependency_fails_the_dependent_without_running_it(pipeline: Pipeline) -> None:
    ran: list[str] = []

    def fail() -> None:
        raise Boom("first")

    first = pipeline.submit(fail)
    second = pipeline.submit(lambda: ran.append("second"), after=[first])
    with pytest.raises(Boom):
        second.result(WAIT)
    assert ran == []


def test_the_first_failure_is_kept_reported_once_and_later_jobs_are_cancelled() -> None:
    pipe = Pipeline(max_workers=1)
    failures: list[str] = []
    pipe.on_failure = lambda: failures.append("cancel")
    release = threading.Event()
    ran: list[int] = []

    def fail() -> None:
        release.wait(WAIT)
        raise Boom("the real one")

    try:
        failing = pipe.submit(fail)
        later = [pipe.submit(functools.partial(ran.append, i)) for i in range(5)]
        release.set()
        for future in later:
            with pytest.raises(Cancelled):
                future.result(WAIT)
        with pytest.raises(Boom):
            failing.result(WAIT)
        with pytest.raises(Boom, match="the real one"):
            pipe.raise_if_failed()
        assert ran == []
        assert failures == ["cancel"]
        assert pipe.wait_all(WAIT)
    finally:
        pipe.shutdown()


def test_on_done_is_called_after_every_job(pipeline: Pipeline) -> None:
    done: list[bool] = []
    lock = threading.Lock()

    def on_done() -> None:
        with lock:
            done.append(True)

    pipeline.on_done = on_done
    for _ in range(20):
        pipeline.submit(lambda: None)
    assert pipeline.wait_all(WAIT)
    assert _wait_for(lambda: len(done) == 20)
    assert pipeline.completed == pipeline.submitted == 20


def test_per_id_chains_keep_order_under_concurrency() -> None:
    """Like the document sink: each job for an id names the previous job of that id."""
    pipe = Pipeline(max_workers=8)
    seen: dict[int, list[int]] = {i: [] for i in range(10)}
    last: dict[int, Future[Any]] = {}
    lock = threading.Lock()

    def write(key: int, version: int) -> None:
        with lock:
            seen[key].append(version)

    try:
        for version in range(30):
            for key in range(10):
                after = [last[key]] if key in last else []
                last[key] = pipe.submit(functools.partial(write, key, version), after=after)
        assert pipe.wait_all(WAIT)
    finally:
        pipe.shutdown()
    assert all(versions == list(range(30)) for versions in seen.values())


# -- progress lines (progress.py), which report on the pipeline from a timer thread ---------------------


class _Stats:
    read = 1200
    committed = 200
    skipped_unchanged = 50
    deleted = 3
    swept = 40
    truncated = 0


class _Gate:
    emitted = 3
    waiting = 2


class _Limiter:
    limit = 120
    window = 60.0
    waited_seconds = 0.0
    blocked = False

    def recent_rejections(self) -> int:
        return 7


class _Client:
    def __init__(self) -> None:
        self.counters = {"rate_limited": 1}
        self.limiter = _Limiter()


class _Pipe:
    in_flight = 8


def test_progress_lines_carry_the_counts_the_rate_and_an_eta_for_a_rate_bound_sync() -> None:
    clock = [0.0]
    lines: list[str] = []
    stats, client = _Stats(), _Client()
    progress = Progress(stats, _Pipe(), _Gate(), client, lines.append, clock=lambda: clock[0])
    clock[0] = 30.0
    stats.committed, client.limiter.waited_seconds = 260, 12.0  # 60 more in 30 s, and the limiter waited
    text = progress.report()
    assert "1200 records read" in text and "260 committed" in text and "50 unchanged skipped" in text
    assert "8 requests in flight" in text and "2.0 records/s now" in text and "1 rate-limited" in text
    assert "43 deleted (3 by CDC, 40 by clean-ups)" in text
    assert "rate-bound at 120 document upserts/min" in text
    assert "ETA for the 940 records read and not yet committed: ~470s" in text
    assert lines == [text]
    final = progress.report(final=True)
    assert final.startswith("sync done") and "ETA" not in final


def test_progress_says_when_the_budget_is_spent_by_other_clients() -> None:
    lines: list[str] = []
    client = _Client()
    progress = Progress(_Stats(), _Pipe(), _Gate(), client, lines.append, clock=lambda: 30.0)
    client.limiter.blocked = True
    text = progress.report()
    assert "budget used by other clients: waiting, 7 429s in the last minute" in text
    assert "rate-bound" not in text
    client.limiter.blocked = False
    assert "budget used by other clients" not in progress.report()


def test_progress_logs_on_a_timer_while_nothing_else_happens() -> None:
    logged = threading.Event()
    progress = Progress(_Stats(), _Pipe(), _Gate(), _Client(), lambda _: logged.set(), interval=0.01)
    progress.start()
    try:
        assert logged.wait(WAIT)
    finally:
        progress.stop()


def test_malloc_arenas_are_capped_on_glibc() -> None:
    import platform

    from destination_dust.__main__ import limit_malloc_arenas

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert limit_malloc_arenas() is expected
