"""Bounded concurrent execution of Dust requests.

Sinks turn records into jobs (one document upsert, one batch of rows, one delete...) and submit them here.
At most `max_workers` run at once. Submitting blocks the reader (backpressure, and our memory bound) while
more than `max_bytes` of job payload or more than `max_jobs` jobs are held, queued or running.

A job may name earlier futures it must wait for (`after`): that keeps per-id order and makes row batches wait
for their table. A job whose dependencies are not done is not queued yet: it enters the pool's queue when its
last dependency finishes, so no worker thread ever sits blocked on another job, and independent jobs behind
it keep the workers busy. If a dependency failed, the job fails with that error without running.

The first failure is kept and re-raised in the reading thread by `raise_if_failed`; from then on every job
that has not started fails with `Cancelled` instead of running, and `on_failure` (the client's cancel) stops
the retries in flight, so a failed sync ends in seconds instead of draining its queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from destination_dust.errors import Cancelled

T = TypeVar("T")

DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class Pipeline:
    def __init__(
        self, max_workers: int, max_bytes: int = DEFAULT_MAX_BYTES, max_jobs: int | None = None
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dust")
        self._max_bytes = max_bytes
        self._max_jobs = max_jobs if max_jobs is not None else max(64, 32 * max_workers)
        self._held = 0
        self._room = threading.Condition()
        # the first job error, set once under the lock; a plain attribute so the reader's per-record check
        # is one read, not a call
        self.failure: BaseException | None = None
        self._outstanding: set[Future[Any]] = set()
        self._running = 0
        self.submitted = 0
        self.completed = 0
        self.on_done: Callable[[], None] | None = None  # the state gate listens here
        self.on_failure: Callable[[], None] | None = None  # the client's cancel()

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not finished (waiting for a dependency, queued or running)."""
        with self._room:
            return len(self._outstanding)

    @property
    def running(self) -> int:
        with self._room:
            return self._running

    @property
    def held_bytes(self) -> int:
        with self._room:
            return self._held

    def submit(self, fn: Callable[[], T], *, size: int = 0, after: Iterable[Future[Any]] = ()) -> Future[T]:
        """Run `fn` once every future in `after` is done (if one failed, this job fails with it)."""
        size = max(0, min(size, self._max_bytes))  # one huge job may always run alone
        with self._room:
            while (
                self._outstanding
                and (self._held + size > self._max_bytes or len(self._outstanding) >= self._max_jobs)
                and self.failure is None
            ):
                self._room.wait(timeout=1.0)
            self._held += size
            future: Future[T] = Future()
            self._outstanding.add(future)
            self.submitted += 1
        future.add_done_callback(lambda f: self._finished(f, size))
        deps = [f for f in after if f is not future]
        self._when_done(deps, lambda: self._start(fn, future, deps))
        return future

    def _when_done(self, deps: list[Future[Any]], then: Callable[[], None]) -> None:
        """Call `then` once, when every dep is done (at once if they all are)."""
        pending = [f for f in deps if not f.done()]
        if not pending:
            then()
            return
        left = [len(pending)]
        lock = threading.Lock()

        def one_done(_: Future[Any]) -> None:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                then()

        for dep in pending:
            dep.add_done_callback(one_done)

    def _start(self, fn: Callable[[], T], future: Future[T], deps: list[Future[Any]]) -> None:
        for dep in deps:
            error = dep.exception()
            if error is not None:
                future.set_exception(error)
                return
        try:
            self._pool.submit(self._run, fn, future)
        except RuntimeError as exc:  # the pool was shut down: only after a failure
            future.set_exception(Cancelled(f"the sync is stopping ({exc})"))

    def _run(self, fn: Callable[[], T], future: Future[T]) -> None:
        if self.failure is not None:
            future.set_exception(Cancelled())
            return
        with self._room:
            self._running += 1
        try:
            result = fn()
        except BaseException as exc:
            with self._room:
                self._running -= 1
            future.set_exception(exc)
        else:
            with self._room:
                self._running -= 1
            future.set_result(result)

    def _finished(self, future: Future[Any], size: int) -> None:
        error = future.exception()
        first_failure = False
        with self._room:
            self._held -= size
            self._outstanding.discard(future)
            self.completed += 1
            if error is not None and self.failure is None and not isinstance(error, Cancelled):
                self.failure = error
                first_failure = True
            self._room.notify_all()
        if first_failure and self.on_failure is not None:
            self.on_failure()
        if self.on_done is not None:
            self.on_done()

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            raise self.failure

    def wait_all(self, timeout: float | None = None) -> bool:
        """Wait until every job submitted so far is done (failed or not); False if the timeout passed."""
        with self._room:
            return self._room.wait_for(lambda: not self._outstanding, timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
