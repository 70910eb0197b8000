"""Progress LOG lines, at least every `interval` seconds, also while stdin is idle or the pipeline drains.

The writer's loop only runs when a message arrives; a rate-bound documents sync can spend many minutes
after the last record draining its queue, and a slow source can leave stdin idle for as long. A small daemon
thread therefore logs on a timer: records read, committed, skipped as unchanged, requests in flight, the
recent and overall commit rate, 429s seen, whether the upsert budget is spent by other clients of the workspace,
and an ETA for what is read but not yet committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

PROGRESS_EVERY_SECONDS = 30.0


class _Stats(Protocol):
    @property
    def read(self) -> int: ...
    @property
    def committed(self) -> int: ...
    @property
    def skipped_unchanged(self) -> int: ...
    @property
    def deleted(self) -> int: ...
    @property
    def swept(self) -> int: ...
    @property
    def truncated(self) -> int: ...


class _Pipeline(Protocol):
    @property
    def in_flight(self) -> int: ...


class _Gate(Protocol):
    @property
    def emitted(self) -> int: ...
    @property
    def waiting(self) -> int: ...


class _Limiter(Protocol):
    @property
    def limit(self) -> int: ...
    @property
    def window(self) -> float: ...
    @property
    def waited_seconds(self) -> float: ...
    @property
    def blocked(self) -> bool: ...
    def recent_rejections(self) -> int: ...


class _Client(Protocol):
    @property
    def counters(self) -> dict[str, int]: ...
    @property
    def limiter(self) -> _Limiter: ...


@dataclass(frozen=True)
class Snapshot:
    at: float
    read: int
    committed: int
    skipped: int
    deleted: int  # by CDC
    swept: int  # by clean-ups
    truncated: int
    in_flight: int
    states_emitted: int
    states_waiting: int
    rate_limited: int
    limiter_waited: float


class Progress:
    def __init__(
        self,
        stats: _Stats,
        pipeline: _Pipeline,
        gate: _Gate,
        client: _Client,
        log: Callable[[str], None],
        *,
        interval: float = PROGRESS_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stats, self._pipeline, self._gate, self._client = stats, pipeline, gate, client
        self._log = log
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._previous = self.snapshot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        s = self._stats
        limiter = self._client.limiter
        return Snapshot(
            at=self._clock(),
            read=s.read,
            committed=s.committed,
            skipped=s.skipped_unchanged,
            deleted=s.deleted,
            swept=s.swept,
            truncated=s.truncated,
            in_flight=self._pipeline.in_flight,
            states_emitted=self._gate.emitted,
            states_waiting=self._gate.waiting,
            rate_limited=self._client.counters.get("rate_limited", 0),
            limiter_waited=limiter.waited_seconds,
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="dust-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.report()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def report(self, *, final: bool = False) -> str:
        with self._lock:
            now = self.snapshot()
            text = describe(now, self._previous, self._started, self._client.limiter, final=final)
            self._previous = now
        self._log(text)
        return text


def describe(now: Snapshot, previous: Snapshot, started: float, limiter: _Limiter, *, final: bool) -> str:
    elapsed = max(1e-3, now.at - started)
    span = max(1e-3, now.at - previous.at)
    recent = (now.committed - previous.committed) / span
    text = (
        f"{'sync done' if final else 'progress'} after {elapsed:.0f}s: {now.read} records read, "
        f"{now.committed} committed ({now.skipped} unchanged skipped, {now.truncated} truncated), "
        f"{now.deleted + now.swept} deleted ({now.deleted} by CDC, {now.swept} by clean-ups), "
        f"{now.in_flight} requests in flight, "
        f"{recent:.1f} records/s now, {now.committed / elapsed:.1f} records/s overall, "
        f"{now.states_emitted} states emitted ({now.states_waiting} waiting), "
        f"{now.rate_limited} rate-limited answers"
    )
    pending = now.read - now.committed
    if final or pending <= 0:
        return text
    rate_bound = limiter.limit > 0 and now.limiter_waited > previous.limiter_waited
    if limiter.limit > 0 and limiter.blocked:
        text += f"; {shared_budget_note(limiter)}"
    elif rate_bound:
        per_minute = limiter.limit * 60.0 / limiter.window
        text += f"; rate-bound at {per_minute:.0f} document upserts/min"
    if recent > 0:
        text += f"; ETA for the {pending} records read and not yet committed: ~{pending / recent:.0f}s"
    return text


def shared_budget_note(limiter: _Limiter) -> str:
    """Says the sync waits on a budget someone else spends (a slow sync, not a stuck one)."""
    span = "minute" if limiter.window == 60 else f"{limiter.window:g}s"
    return f"budget used by other clients: waiting, {limiter.recent_rejections()} 429s in the last {span}"
