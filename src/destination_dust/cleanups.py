"""Documents clean-ups share listings: one read of the data source serves every stream waiting for one.

A stream's documents clean-up (sweep.py) is queued at its `COMPLETE` and runs in a *round*: one listing of
the data source judged for every queued stream. A round starts when something must wait for a queued
clean-up: a STATE that depends on it (its stream's, or a GLOBAL/LEGACY one), or the end of the input
(`start`). When it runs, the round takes every queued clean-up whose stream's writes are all acknowledged;
a round that a STATE started first waits while more clean-ups keep arriving (`SETTLE_SECONDS` of quiet, at
most `GATHER_SECONDS`), so streams that complete close together share one listing. Rounds run one after
the other, never two listings at once. A later STATE of a stream waits for its clean-up's future, as for any job of the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any

from destination_dust.catalog import StreamKey
from destination_dust.client import DustClient
from destination_dust.pipeline import Pipeline
from destination_dust.sweep import DocumentCleanup, SweepResult, sweep_documents

logger = logging.getLogger(__name__)

SETTLE_SECONDS = 0.3  # a round started by a STATE waits until no clean-up was queued for this long...
GATHER_SECONDS = 2.0  # ...but never longer than this


@dataclass
class _Queued:
    cleanup: DocumentCleanup
    after: list[Future[Any]]
    done: Future[None]

    def ready(self) -> bool:
        return all(f.done() and f.exception() is None for f in self.after)


class DocumentCleanups:
    def __init__(
        self,
        client: DustClient,
        pipeline: Pipeline,
        on_done: Callable[[DocumentCleanup, int, SweepResult], None],
        before: Callable[[StreamKey], object] = lambda _stream: None,
    ) -> None:
        self._client = client
        self._pipeline = pipeline
        self._on_done = on_done  # (cleanup, documents it deleted, the shared listing's result)
        self._before = before  # per stream, before its listing is judged (the ledger adds what it kept)
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._last_round: Future[Any] | None = None

    def request(self, cleanup: DocumentCleanup, after: list[Future[Any]]) -> Future[None]:
        """Queue a clean-up that may run once every future in `after` succeeded; its future ends with it."""
        queued = _Queued(cleanup, list(after), Future())
        with self._lock:
            self._queue.append(queued)
        return queued.done

    def waits_for(self, futures: Iterable[Future[Any]]) -> bool:
        """Is one of `futures` a queued clean-up's (one that no round has started yet)?"""
        wanted = set(futures)
        with self._lock:
            return any(q.done in wanted for q in self._queue)

    def start(self, *, gather: bool = False) -> bool:
        """Submit a round for what is queued (after the previous round and the queued streams' writes).
        `gather`: more may come (a STATE asked, the input goes on): the round first waits for them a little.
        False when nothing is queued."""
        with self._lock:
            if not self._queue:
                return False
            candidates = list(self._queue)
            after = [f for q in candidates for f in q.after]
            if self._last_round is not None:
                after.append(self._last_round)
            round_job = self._pipeline.submit(partial(self._round, gather), after=after)
            self._last_round = round_job
        round_job.add_done_callback(lambda job: self._abandon(job, candidates))
        return True

    def _take_ready(self) -> list[_Queued]:
        with self._lock:
            ready = [q for q in self._queue if q.ready()]
            self._queue = [q for q in self._queue if q not in ready]
        return ready

    def _gather(self) -> None:
        """Wait while clean-ups keep being queued (other streams completing right after this one)."""
        started = time.monotonic()
        with self._lock:
            seen = len(self._queue)
        while time.monotonic() - started < GATHER_SECONDS:
            time.sleep(SETTLE_SECONDS)
            with self._lock:
                now = len(self._queue)
            if now == seen:
                return
            seen = now

    def _round(self, gather: bool) -> None:
        if gather:
            self._gather()
        batch = self._take_ready()
        if not batch:
            return
        try:
            for queued in batch:
                self._before(queued.cleanup.stream)
            result = sweep_documents(self._client, [q.cleanup for q in batch])
        except BaseException as exc:
            for queued in batch:
                queued.done.set_exception(exc)
            raise
        logger.info(
            "documents clean-up: one listing for %d stream(s) (%s): %d documents read in %d requests, "
            "%d pass(es), %d deleted%s",
            len(batch),
            ", ".join(str(q.cleanup.stream) for q in batch),
            result.listed,
            result.requests,
            result.passes,
            result.deleted,
            "" if result.confirmed else ", NOT confirmed",
        )
        for index, queued in enumerate(batch):
            self._on_done(queued.cleanup, result.deleted_by.get(index, 0), result)
            queued.done.set_result(None)

    def _abandon(self, job: Future[Any], candidates: list[_Queued]) -> None:
        """A round that failed or never ran (a dependency failed, the sync is stopping): the clean-ups it was
        started for end with its error, so nothing waits for them in vain."""
        error = job.exception()
        if error is None:
            return
        with self._lock:
            self._queue = [q for q in self._queue if q not in candidates]
        for queued in candidates:
            if not queued.done.done():
                queued.done.set_exception(error)
