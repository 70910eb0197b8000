"""Bounded concurrent execution of Dust requests.

Sinks turn records into jobs (one document upsert, one batch of rows, one delete...) and submit them here.
At most `max_workers` run at once, and at most `max_bytes` of job payload is held (submit blocks the reader
beyond that: that is our memory bound and our backpressure). A job may name earlier futures it must wait
for (`after`): that keeps per-id order and makes row batches wait for their table. The first failure is kept
and re-raised in the reading thread by `raise_if_failed`, so nothing fails silently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")


class Pipeline:
    def __init__(self, max_workers: int, max_bytes: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dust")
        self._max_bytes = max_bytes
        self._held = 0
        self._room = threading.Condition()
        self._failure: BaseException | None = None
        self._outstanding: set[Future[Any]] = set()
        self.on_done: Callable[[], None] | None = None  # the state gate listens here

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    @property
    def in_flight(self) -> int:
        with self._room:
            return len(self._outstanding)

    def submit(self, fn: Callable[[], T], *, size: int = 0, after: Iterable[Future[Any]] = ()) -> Future[T]:
        """Run `fn` once every future in `after` is done (if one failed, this job fails with it)."""
        size = max(0, min(size, self._max_bytes))  # one huge job may always run alone
        deps = [f for f in after if not f.done() or f.exception() is not None]
        with self._room:
            while self._held + size > self._max_bytes and self._held > 0 and self._failure is None:
                self._room.wait(timeout=1.0)
            self._held += size

        def run() -> T:
            for dep in deps:
                dep.result()  # re-raises the dependency's failure
            return fn()

        future: Future[T] = self._pool.submit(run)
        with self._room:
            self._outstanding.add(future)
        future.add_done_callback(lambda f: self._finished(f, size))
        return future

    def _finished(self, future: Future[Any], size: int) -> None:
        with self._room:
            self._held -= size
            self._outstanding.discard(future)
            if future.exception() is not None and self._failure is None:
                self._failure = future.exception()
            self._room.notify_all()
        if self.on_done is not None:
            self.on_done()

    def raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    def wait_all(self, timeout: float | None = None) -> None:
        """Wait until every job submitted so far is done (failed or not)."""
        while True:
            with self._room:
                pending = list(self._outstanding)
            if not pending:
                return
            wait(pending, timeout=timeout)
            if timeout is not None:
                return

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
