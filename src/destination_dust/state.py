"""The state gate: a STATE is echoed only once every record before it is acknowledged by Dust.

Each incoming STATE is queued with the futures it depends on (the work of its stream for a STREAM state,
of every stream for GLOBAL and LEGACY) and with its exact record count. States leave in arrival order: a
later state never overtakes an earlier one, even when its own work finished first. If any dependency failed,
that state and every later one are held forever: the platform then resumes from the last echoed state.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from destination_dust.catalog import StreamKey
from destination_dust.protocol import Output, with_destination_stats


@dataclass
class PendingState:
    raw: bytes
    deps: list[Future[Any]]
    record_count: int | None


@dataclass
class RecordCounter:
    """Records received since the previous state, per stream and in total, for destinationStats."""

    per_stream: dict[StreamKey, int] = field(default_factory=dict)
    total: int = 0
    unknown_since_global: int = 0

    def record(self, stream: StreamKey | None) -> None:
        if stream is None:
            self.unknown_since_global += 1
            return
        self.per_stream[stream] = self.per_stream.get(stream, 0) + 1
        self.total += 1

    def take_stream(self, stream: StreamKey) -> int:
        count = self.per_stream.pop(stream, 0)
        self.total -= count
        return count

    def take_all(self) -> int | None:
        """The count for a GLOBAL/LEGACY state; None when records of unknown streams make it inexact."""
        count = None if self.unknown_since_global else self.total
        self.per_stream.clear()
        self.total = 0
        self.unknown_since_global = 0
        return count


class StateGate:
    def __init__(self, output: Output) -> None:
        self._output = output
        self._queue: deque[PendingState] = deque()
        self._lock = threading.Lock()
        self.emitted = 0
        self.blocked = False

    def add(self, raw: bytes, deps: Iterable[Future[Any]], record_count: int | None) -> None:
        pending = [f for f in deps if not f.done() or f.exception() is not None]
        with self._lock:
            self._queue.append(PendingState(raw, pending, record_count))
        self.release_ready()

    def release_ready(self) -> None:
        """Echo every queued state whose dependencies all succeeded, in order. Called by the reader after each
        message and by the pipeline each time a job finishes (so states leave even while stdin is idle)."""
        with self._lock:
            while self._queue and not self.blocked:
                head = self._queue[0]
                if not all(f.done() for f in head.deps):
                    return
                if any(f.exception() is not None for f in head.deps):
                    self.blocked = True  # never checkpoint past data that was not written
                    return
                self._queue.popleft()
                self._output.write_line(with_destination_stats(head.raw, head.record_count), flush=True)
                self.emitted += 1

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)
