"""Numbered changes and the futures STATEs wait for (compose_sink.py): one future per STATE, done once every
change made before it was written, however many documents that is."""

from __future__ import annotations

import heapq
import threading
from collections import deque
from concurrent.futures import Future


class Barriers:
    """Numbered changes, and the futures STATEs wait for: a barrier is done once every change numbered up to
    its mark is closed (written). One future per STATE, however many documents it waits for; numbers are
    closed in about the order they were opened, so the lowest open one is kept in a heap."""

    def __init__(self) -> None:
        self._next = 0
        self._open: set[int] = set()
        self._lowest: list[int] = []  # a heap of numbers, some already closed (dropped lazily)
        self._waiting: deque[tuple[int, Future[None]]] = deque()  # by mark, ascending
        self._failure: BaseException | None = None
        self._lock = threading.Lock()

    def open(self) -> int:
        with self._lock:
            number = self._next
            self._next += 1
            self._open.add(number)
            heapq.heappush(self._lowest, number)
            return number

    def barrier(self) -> Future[None] | None:
        """A future done once every change opened so far is closed; None when none is open."""
        with self._lock:
            future: Future[None] = Future()
            if self._failure is not None:
                future.set_exception(self._failure)  # never checkpoint past a failed write
                return future
            if not self._open:
                return None
            mark = self._next - 1
            if self._waiting and self._waiting[-1][0] == mark:
                return self._waiting[-1][1]
            self._waiting.append((mark, future))
            return future

    def close(self, number: int) -> None:
        done: list[Future[None]] = []
        with self._lock:
            self._open.discard(number)
            while self._lowest and self._lowest[0] not in self._open:
                heapq.heappop(self._lowest)
            lowest = self._lowest[0] if self._lowest else self._next
            while self._waiting and self._waiting[0][0] < lowest:
                done.append(self._waiting.popleft()[1])
        for future in done:
            future.set_result(None)

    def fail(self, error: BaseException) -> None:
        with self._lock:
            self._failure = error
            waiting, self._waiting = self._waiting, deque()
        for _, future in waiting:
            future.set_exception(error)
