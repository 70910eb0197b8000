"""One sink per configured stream: records in, Dust requests out (through the pipeline).

Both sinks share one interface: `add(data, emitted_at)` (or `add_raw`, the record's data as it came on its
line), `flush()`, `on_stream_complete()`, `finish()`, and `outstanding()` (the futures a STATE of this stream
must wait for). They hold at most one batch in memory; everything else is in the pipeline (which bounds bytes)
or on disk (SeenIds). A table sink's rows come from its stream's `RowEncoder` (row_encoder.py).

Sync modes (docs/sync-modes.md):
- every mode: ids are deterministic, so a record upserts "its" document/row; a CDC tombstone
  (`_ab_cdc_deleted_at` set) of a stream with a primary key deletes it;
- `append_dedup` with a cursor: a record whose cursor is older than one already seen in this sync for the
  same key is dropped (SeenIds.accept);
- `overwrite` and refreshes: after the stream's COMPLETE, a clean-up (sweep.py) removes what this sync did
  not send (for a refresh, nor what the generation ledger says this generation kept unchanged: ledger.py):
  documents in a listing shared with the other streams waiting for one (cleanups.py), rows in a
  job of the stream. It waits for every earlier job of the stream and is itself an outstanding future, so
  later STATEs and the end of `write` wait for it. Without COMPLETE nothing is ever removed.
- a stream that moved between documents and tables: the same clean-up also removes its data in the other
  format (its documents, or its old table) under the same rule; append/dedup streams log what stays.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from typing import Any

import msgspec
import orjson

from destination_dust.catalog import StreamConfig, StreamKey, get_path
from destination_dust.cleanups import DocumentCleanups
from destination_dust.client import DustClient
from destination_dust.config import DustConfig
from destination_dust.documents import DocumentRenderer, DocumentUpsert
from destination_dust.errors import DestinationError, DustRequestError, PayloadTooLarge
from destination_dust.ledger import GenerationLedger
from destination_dust.notices import StreamNotices
from destination_dust.pipeline import Pipeline
from destination_dust.protocol import DECODE_ERRORS, decode_json
from destination_dust.row_encoder import RowEncoder
from destination_dust.seen import SeenStore
from destination_dust.sweep import (
    DocumentCleanup,
    SweepResult,
    SweepRule,
    owns_document,
    owns_table,
    sweep_rows,
    sweep_rule,
)
from destination_dust.tables import Row, TableMapper, fit_row, table_id_for
from destination_dust.tags import clean_tag, fingerprint_tags, generation_of, generation_tag, stream_tag

logger = logging.getLogger(__name__)

DOCUMENT_BATCH = 100  # documents per skip-unchanged lookup
DOCUMENT_BATCH_BYTES = 8 * 1024 * 1024  # ...or fewer, when they are large: the batch is held in memory
CDC_DELETED = "_ab_cdc_deleted_at"
# bytes a rows request adds around its rows: `{"rows":[` and `],"truncate":false}` (28), with room to spare
ROWS_BODY_OVERHEAD = 64


@dataclass
class SyncStats:
    """Counters shared by every sink (updated from worker threads)."""

    read: int = 0
    committed: int = 0
    skipped_unchanged: int = 0
    superseded: int = 0  # append_dedup: records older (by cursor) than one already seen for their key
    deleted: int = 0  # documents and rows removed by CDC deletions
    swept: int = 0  # documents and rows removed by overwrite/refresh clean-ups
    truncated: int = 0
    coerced: int = 0
    unconfirmed: int = 0  # clean-ups that could not confirm nothing stale is left (sweep.py)
    # per stream: {"documents"|"rows": {"CDC"|"clean-up": count}}, only where something was deleted
    deleted_per_stream: dict[StreamKey, dict[str, dict[str, int]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def count_deleted(self, stream: StreamKey, kind: str, how: str, count: int) -> None:
        """`count` documents or rows (`kind`) of `stream` deleted by CDC or a clean-up (`how`)."""
        if count <= 0:
            return
        with self._lock:
            if how == "CDC":
                self.deleted += count
            else:
                self.swept += count
            per_kind = self.deleted_per_stream.setdefault(stream, {}).setdefault(kind, {})
            per_kind[how] = per_kind.get(how, 0) + count

    def deletion_lines(self) -> list[str]:
        """One line per stream that lost documents or rows in this sync, with exact counts."""
        with self._lock:
            items = sorted(self.deleted_per_stream.items(), key=lambda item: str(item[0]))
            return [
                f"stream {stream}: "
                + "; ".join(
                    f"{sum(how.values())} {kind} deleted ("
                    + ", ".join(f"{n} by {name}" for name, n in sorted(how.items()))
                    + ")"
                    for kind, how in sorted(kinds.items())
                )
                for stream, kinds in items
            ]


@dataclass
class SinkContext:
    config: DustConfig
    client: DustClient
    pipeline: Pipeline
    stats: SyncStats
    seen: SeenStore = field(default_factory=SeenStore)
    cleanups: DocumentCleanups | None = None  # the shared documents listing (None: built here)
    ledger: GenerationLedger = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = GenerationLedger(self.client, writable=self.config.generation_ledger)
        if self.cleanups is None:
            self.cleanups = DocumentCleanups(
                self.client,
                self.pipeline,
                partial(report_document_cleanup, self.stats, self.ledger),
                before=self.ledger.vouch,
            )

    @property
    def document_cleanups(self) -> DocumentCleanups:
        assert self.cleanups is not None
        return self.cleanups


def report_document_cleanup(
    stats: SyncStats, ledger: GenerationLedger, cleanup: DocumentCleanup, deleted: int, result: SweepResult
) -> None:
    """Count and log one stream's part of a shared documents listing; drop its ledger rows that can no longer
    vouch (ledger.py)."""
    stats.count_deleted(cleanup.stream, "documents", "clean-up", deleted)
    why = "this sync did not send" if cleanup.kept is not None else "(the stream is written as a table now)"
    vouched = ledger.vouch(cleanup.stream)
    pruned = ledger.prune(cleanup.stream)
    logger.info(
        "stream %s: %s clean-up removed %d documents %s%s",
        cleanup.stream,
        cleanup.rule.describe(),
        deleted,
        why,
        f"; it kept {vouched} ids the sync ledger vouches for (found unchanged by an attempt of this "
        f"generation) and removed {pruned} ledger rows of older generations"
        if vouched or pruned
        else "",
    )
    if not result.confirmed:
        warn_unconfirmed(stats, cleanup.stream, cleanup.rule, "documents", result)


def warn_unconfirmed(
    stats: SyncStats, stream: StreamKey, rule: SweepRule, kind: str, result: SweepResult
) -> None:
    stats.add(unconfirmed=1)
    logger.warning(
        "stream %s: the %s clean-up could not confirm that no stale %s is left: in each of its %d passes "
        "some listing pages could not be joined to the ones before (%d in the last), because another client "
        "(or another stream) added or deleted many items meanwhile. Stale %s may remain; the next %s sync "
        "removes them",
        stream,
        rule.describe(),
        kind,
        result.passes,
        result.unjoined,
        kind,
        rule.kind,
    )


class StreamSink(ABC):
    def __init__(self, stream: StreamConfig, ctx: SinkContext) -> None:
        self.stream = stream
        self.ctx = ctx
        self._outstanding: set[Future[Any]] = set()
        self._lock = threading.Lock()
        self.rule = sweep_rule(stream)
        self.seen = ctx.seen.stream(repr(stream.key))
        self._dedup_by_cursor = (
            stream.destination_sync_mode == "append_dedup"
            and bool(stream.primary_key)
            and bool(stream.cursor_field)
        )
        self._completed = False
        self._warned_keyless_delete = False
        self._keyed = bool(stream.primary_key)  # only keyed streams honour CDC deletes
        # the common admission (an overwrite/refresh stream records what it sent) without a method call
        self._record_sent = self.seen.add if self.rule is not None and not self._dedup_by_cursor else None

    def _submit(
        self, fn: Callable[[], Any], *, size: int = 0, after: list[Future[Any]] | None = None
    ) -> Future[Any]:
        return self._track(self.ctx.pipeline.submit(fn, size=size, after=after or []))

    def _track(self, future: Future[Any]) -> Future[Any]:
        """Make `future` one of the stream's outstanding ones (later STATEs of the stream wait for it)."""
        with self._lock:
            self._outstanding.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        if future.exception() is None:
            with self._lock:
                self._outstanding.discard(future)
        # failed futures stay: every later STATE of this stream must stay blocked

    def outstanding(self) -> list[Future[Any]]:
        with self._lock:
            return list(self._outstanding)

    def is_deletion(self, data: Mapping[str, Any]) -> bool:
        return self._keyed and bool(data.get(CDC_DELETED))

    def _admit(self, item_id: str, data: Mapping[str, Any]) -> bool:
        """Record that this sync sent `item_id` (for the sweep) and apply dedup by cursor. False: drop it."""
        if self._dedup_by_cursor:
            if self.seen.accept(item_id, get_path(data, self.stream.cursor_field)):
                return True
            self.ctx.stats.add(superseded=1, committed=1)
            return False
        if self.rule is not None:
            self.seen.add(item_id)
        return True

    def _deleted_id(self, data: Mapping[str, Any]) -> str | None:
        """The id a CDC tombstone deletes; None when it names nothing or loses to a newer record."""
        if self._keyless_deletion(data):
            return None
        item_id = self._id_of(data)
        return item_id if self._admit(item_id, data) else None

    @abstractmethod
    def _id_of(self, data: Mapping[str, Any]) -> str:
        """The document/row id of a record."""

    def _keyless_deletion(self, data: Mapping[str, Any]) -> bool:
        """A tombstone whose primary key values are all missing names nothing: skip it (and say so once)."""
        if any(get_path(data, path) is not None for path in self.stream.primary_key):
            return False
        if not self._warned_keyless_delete:
            self._warned_keyless_delete = True
            logger.warning(
                "stream %s: a CDC deletion (%s set) without primary key values was skipped (further ones not "
                "reported)",
                self.stream.key,
                CDC_DELETED,
            )
        self.ctx.stats.add(committed=1)
        return True

    @abstractmethod
    def add(self, data: dict[str, Any], emitted_at: int | None) -> None: ...

    def add_raw(self, raw: msgspec.Raw, emitted_at: int | None) -> bool:
        """`add` for a record's data as it came on its line (the writer's hot path). False, with nothing done,
        when it is not a JSON object msgspec reads: the writer then parses the whole line its slower way."""
        try:
            data = decode_json(raw)
        except DECODE_ERRORS:
            return False
        if type(data) is not dict:
            return False
        self.add(data, emitted_at)
        return True

    @abstractmethod
    def flush(self) -> None: ...

    @abstractmethod
    def _queue_cleanup(self, rule: SweepRule) -> None:
        """Queue the clean-up of this stream (and of its data in the other format) after its every job."""

    @abstractmethod
    def _check_other_format(self) -> None:
        """append/append_dedup: data of this stream in the other format stays; say so when there is some."""

    def on_stream_complete(self) -> None:
        """The source finished this stream successfully: flush, then (overwrite/refresh) queue the clean-up
        after every job of this stream. Idempotent: a repeated COMPLETE does nothing more."""
        self.flush()
        if self._completed:
            return
        self._completed = True
        if self.rule is None:
            self._check_other_format()
            return
        self.seen.flush()
        self._queue_cleanup(self.rule)

    def finish(self) -> None:
        """End of input: flush. Without COMPLETE an overwrite/refresh removed nothing: say so."""
        self.flush()
        if self.rule is not None and not self._completed:
            logger.warning(
                "stream %s: the input ended without a COMPLETE status for this stream, so the %s clean-up "
                "did not run: data this sync did not resend is still there (a failed or cancelled source "
                "never wipes data; a source that sends no stream statuses never cleans up)",
                self.stream.key,
                self.rule.describe(),
            )


class DocumentSink(StreamSink):
    """Each record is one document upsert (or a delete for a CDC tombstone). Within a batch the last record of
    an id wins; across batches, requests for one id run in order (each waits for the previous one)."""

    def __init__(self, stream: StreamConfig, ctx: SinkContext) -> None:
        super().__init__(stream, ctx)
        self.renderer = DocumentRenderer(stream, ctx.config)
        self.notices = StreamNotices(stream.key)  # what documents lost (cut to fit, text not encodable)
        self._batch: dict[str, DocumentUpsert | None] = {}  # None = delete
        self._batch_records = 0
        self._batch_bytes = 0  # upper bound (a replaced document still counts until the flush)
        self._last_for_id: dict[str, Future[Any]] = {}
        if self.rule is not None:  # a refresh keeps what the ledger vouches for; both drop older ledger rows
            refresh = self.rule.kind == "refresh"
            self.ctx.ledger.register(
                stream.key,
                self.seen,
                keep_from=self.rule.min_generation if refresh else None,
                prune_below=self.rule.min_generation if refresh else stream.generation_id,
            )

    def _id_of(self, data: Mapping[str, Any]) -> str:
        return self.renderer.document_id(data)

    def add(self, data: dict[str, Any], emitted_at: int | None) -> None:
        if self.is_deletion(data):
            document_id = self._deleted_id(data)
            if document_id is None:
                return
            self._batch.pop(document_id, None)
            self._batch[document_id] = None
        else:
            document = self.renderer.render(data, emitted_at)
            if not self._admit(document.document_id, data):
                return
            for warning in document.warnings:
                logger.warning(warning)
            for kind, detail in document.losses:
                self.notices.report(kind, detail)
            if document.truncated:
                self.ctx.stats.add(truncated=1)
            self._batch.pop(document.document_id, None)  # re-insert: order of the latest occurrence
            self._batch[document.document_id] = document
            self._batch_bytes += document.size
        self._batch_records += 1
        if len(self._batch) >= DOCUMENT_BATCH or self._batch_bytes >= DOCUMENT_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            self._batch_records = 0
            return
        batch, self._batch, self._batch_bytes = self._batch, {}, 0
        superseded = self._batch_records - len(batch)  # records replaced by a later one of the same id
        self._batch_records = 0
        if superseded:
            self.ctx.stats.add(committed=superseded)
        upserts = [d for d in batch.values() if d is not None]
        # the lookup must see the store after this stream's earlier writes of these ids, or an older version
        # still in flight lands after a newer one the lookup found stored and skipped
        earlier = [self._last_for_id[d.document_id] for d in upserts if d.document_id in self._last_for_id]
        lookup = self._submit(lambda: self._unchanged_ids(upserts), after=earlier) if upserts else None
        self._prune_done()
        for document_id, document in batch.items():
            after = [f for f in (lookup, self._last_for_id.get(document_id)) if f is not None]
            if document is None:
                job = self._submit(partial(self._delete, document_id), after=after)
            else:
                job = self._submit(partial(self._upsert, document, lookup), size=document.size, after=after)
            self._last_for_id[document_id] = job

    def finish(self) -> None:
        super().finish()
        self.notices.close()

    def _prune_done(self) -> None:
        if len(self._last_for_id) > 4 * DOCUMENT_BATCH:
            self._last_for_id = {k: f for k, f in self._last_for_id.items() if not f.done()}

    def _unchanged_ids(self, documents: list[DocumentUpsert]) -> set[str]:
        """Ids whose stored document already carries this content's fingerprint: reading is not rate limited,
        upserting is, so a re-sync of unchanged records costs one GET per batch.

        The generation must be right too, because the refresh clean-up dates documents by it (docs/sync-modes.md,
        "Generations"): a stored document of this generation is skipped as it is; one of an older (or no)
        generation is skipped only once the ledger holds a row saying this generation kept it (written here,
        so before the upserts of the batch complete and any STATE covering them is echoed); when the ledger
        cannot be written it is re-upserted with the new tag. Skipped ids are in SeenIds like the others, so
        no clean-up of this sync removes them."""
        wanted = {d.document_id: set(d.body.get("tags") or ()) for d in documents}
        found = self.ctx.client.get_documents(list(wanted))
        generation = self.stream.generation_id
        unchanged: set[str] = set()
        older: list[str] = []
        for stored in found:
            document_id = stored.get("document_id")
            tags = wanted.get(document_id) if isinstance(document_id, str) else None
            if tags is None:
                continue
            stored_tags = set(stored.get("tags") or ())
            fingerprint = fingerprint_tags(tags)
            if not fingerprint or not fingerprint <= stored_tags:
                continue
            stored_generation = generation_of(stored_tags)
            if stored_generation == generation:
                unchanged.add(str(document_id))
            elif generation is not None and (stored_generation is None or stored_generation < generation):
                older.append(str(document_id))
            # else: a newer generation than this sync's (ids went back): re-upsert, the tag then says ours
        if older and generation is not None and self.ctx.ledger.record(self.stream.key, generation, older):
            unchanged.update(older)
        return unchanged

    def _upsert(self, document: DocumentUpsert, lookup: Future[set[str]] | None) -> None:
        if lookup is not None and document.document_id in lookup.result():
            self.ctx.stats.add(skipped_unchanged=1, committed=1)
            return
        try:
            self.ctx.client.upsert_document(document.document_id, document.body)
        except PayloadTooLarge as exc:
            raise DustRequestError(
                f"stream {self.stream.key}: document {document.document_id!r} is larger than Dust accepts "
                f"({document.size} bytes): lower max_document_size_mb. {exc.message}"
            ) from None
        self.ctx.stats.add(committed=1)

    def _delete(self, document_id: str) -> None:
        self.ctx.client.delete_document(document_id)
        self.ctx.stats.add(committed=1)
        self.ctx.stats.count_deleted(self.stream.key, "documents", "CDC", 1)

    def _queue_cleanup(self, rule: SweepRule) -> None:
        after = self.outstanding()
        cleanup = DocumentCleanup(self.stream.key, rule, self.seen)
        self._track(self.ctx.document_cleanups.request(cleanup, after))
        self._submit(partial(self._remove_old_table, rule), after=after)

    def _old_table_id(self) -> str:
        return table_id_for(self.stream.key, self.ctx.config.table_id_prefix)

    def _remove_old_table(self, rule: SweepRule) -> None:
        """The stream was written as a table before: remove that table (ours: deterministic id and our
        stream tags), unless a refresh rule spares it (its generation is not older than the minimum)."""
        table_id = self._old_table_id()
        table = self.ctx.client.get_table(table_id)
        if table is None or not owns_table(self.stream.key, table):
            return
        if rule.kind == "refresh":
            assert rule.min_generation is not None
            generation = generation_of(table.get("tags") or [])
            if generation is None or generation >= rule.min_generation:
                logger.info(
                    "stream %s is written as documents now; its table %s (generation %s) is kept by the %s "
                    "rule: delete it in Dust if it is no longer wanted",
                    self.stream.key,
                    table_id,
                    "unknown" if generation is None else generation,
                    rule.describe(),
                )
                return
        self.ctx.client.delete_table(table_id)
        logger.info(
            "stream %s is written as documents now: its table %s from earlier syncs was deleted (%s clean-up)",
            self.stream.key,
            table_id,
            rule.describe(),
        )

    def _check_other_format(self) -> None:
        self._submit(self._report_old_table)

    def _report_old_table(self) -> None:
        table_id = self._old_table_id()
        try:
            table = self.ctx.client.get_table(table_id, retry=False)
        except DestinationError as exc:  # only a hint: never fail (nor hold up) a sync for it
            logger.info("stream %s: could not check for an old table %s: %s", self.stream.key, table_id, exc)
            return
        if table is not None and owns_table(self.stream.key, table):
            logger.warning(
                "stream %s is written as documents, but its table %s from earlier syncs (as a table) stays: "
                "%s never removes data. Delete the table in Dust, or run one overwrite sync of the stream",
                self.stream.key,
                table_id,
                self.stream.destination_sync_mode,
            )


class TableSink(StreamSink):
    """One table per stream; rows go in byte- and row-bounded batches. A batch waits for the table upsert and
    for any in-flight batch that holds one of its row ids (so the latest value of a row always wins).

    Rows carry no tags, so generations are tracked per table: the table is tagged `airbyte:generation:{gen}`
    and the first table job of a stream with a sweep reads the tag it had before (`_previous_table`; an append
    stream skips that round trip). After COMPLETE:
    - overwrite: rows this sync did not send are deleted (if the table existed before this run);
    - refresh with minimum M: the same, but only when the table's previous generation is < M. When it is
      >= M (a resumed attempt of this generation, or PyAirbyte's constant 1/1) rows of the current
      generation may be among the unsent ones and rows cannot be dated: nothing is deleted (older rows may
      then stay until the next overwrite/refresh; documented limitation)."""

    def __init__(self, stream: StreamConfig, ctx: SinkContext, mapper: TableMapper) -> None:
        super().__init__(stream, ctx)
        self.mapper = mapper
        self._table_future: Future[Any] | None = None
        self._table_body: dict[str, Any] | None = None
        self._previous_table: dict[str, Any] | None = None  # the table before this run (None: absent)
        self._previous_read = False
        self._rows: dict[str, bytes] = {}  # row_id -> serialized row
        self._deletes: set[str] = set()
        self._rows_bytes = 0
        self._records = 0
        self._in_flight: deque[tuple[Future[Any], set[str]]] = deque()
        self._ids_in_flight: dict[str, Future[Any]] = {}  # row id -> the latest in-flight batch holding it
        self._shared: set[Future[Any]] = set()  # in-flight batches some of whose ids a later batch holds
        self._max_rows = ctx.config.table_batch_max_rows
        # a batch's rows, each counted with the comma after it, fill at most `_max_bytes`; so a row alone is
        # at most `_max_row_bytes` (longer ones are cut to fit: fit_row)
        self._max_bytes = ctx.config.table_batch_max_bytes - ROWS_BODY_OVERHEAD
        self._max_row_bytes = self._max_bytes - 1
        # the fast path never sees the record itself: a stream that dedups by cursor needs it (`_admit`)
        self.encoder = RowEncoder(mapper, self._max_row_bytes, CDC_DELETED, fast=not self._dedup_by_cursor)

    def _body(self) -> dict[str, Any]:
        body = self.mapper.table_body()
        if self.stream.generation_id is not None:
            body["tags"] = [*body.get("tags", []), generation_tag(self.stream.generation_id)]
        return body

    def _ensure_table(self) -> Future[Any]:
        body = self._body()
        if self._table_future is None or body != self._table_body:
            self._table_body = body
            previous = [self._table_future] if self._table_future else []
            self._table_future = self._submit(partial(self._upsert_table, body), after=previous)
        return self._table_future

    def _upsert_table(self, body: dict[str, Any]) -> None:
        if not self._previous_read and self.rule is not None:  # only a sweep asks what was there before
            self._previous_table = self.ctx.client.get_table(self.mapper.table.table_id)
            self._previous_read = True
        self.ctx.client.upsert_table(body)

    def _id_of(self, data: Mapping[str, Any]) -> str:
        return self.mapper.row_id(data)

    def add_raw(self, raw: msgspec.Raw, emitted_at: int | None) -> bool:
        row = self.encoder.encode(raw)  # the hot path of a tables sync: one call per record
        if row is None:
            return super().add_raw(raw, emitted_at)
        self._buffer(*row)
        return True

    def add(self, data: dict[str, Any], emitted_at: int | None) -> None:
        if self._keyed and data.get(CDC_DELETED):
            row_id = self._deleted_id(data)
            if row_id is None:
                return
            self._drop_buffered(row_id)
            self._deletes.add(row_id)
            self._records += 1
            if len(self._rows) + len(self._deletes) >= self._max_rows:
                self.flush()
            return
        row_id, value, encoded = self.encoder.encode_data(data)
        if self._dedup_by_cursor and not self._admit(row_id, data):
            return
        if len(encoded) > self._max_row_bytes:
            size = len(encoded)
            _, encoded, cuts = fit_row(Row(row_id, value), self._max_row_bytes)
            self.mapper.report_fit(row_id, size, self._max_row_bytes, cuts)
            self.ctx.stats.add(truncated=1)
        self._buffer(row_id, encoded)

    def _buffer(self, row_id: str, encoded: bytes) -> None:
        """Queue an encoded row: it replaces a buffered row of the same id, and fills the batch up."""
        if self._record_sent is not None:  # an overwrite/refresh stream records what it sent (not dedup)
            self._record_sent(row_id)
        if self._rows_bytes + len(encoded) + 1 > self._max_bytes:
            self.flush()
        old = self._rows.pop(row_id, None)  # a second record of the id in this batch replaces the first
        if old is not None:
            self._rows_bytes -= len(old) + 1
        if self._deletes:
            self._deletes.discard(row_id)
        self._rows[row_id] = encoded
        self._rows_bytes += len(encoded) + 1
        self._records += 1  # after any flush above, so superseded counts stay exact
        if len(self._rows) + len(self._deletes) >= self._max_rows:
            self.flush()

    def _drop_buffered(self, row_id: str) -> None:
        old = self._rows.pop(row_id, None)
        if old is not None:
            self._rows_bytes -= len(old) + 1

    def flush(self) -> None:
        if not self._rows and not self._deletes:
            return
        for note in self.mapper.pop_notes():
            logger.info(note)
        table = self._ensure_table()
        superseded = self._records - len(self._rows) - len(self._deletes)
        if superseded:
            self.ctx.stats.add(committed=superseded)
        self._records = 0
        rows, self._rows, self._rows_bytes = self._rows, {}, 0
        deletes, self._deletes = self._deletes, set()
        ids = rows.keys() | deletes
        self._prune_in_flight()
        # the in-flight batches holding one of these ids (usually none) must finish first; set operations and
        # map() keep this per-id work in C
        in_flight = self._ids_in_flight
        held = {in_flight[row_id] for row_id in in_flight.keys() & ids}
        payload = list(rows.values())
        job = self._submit(
            lambda: self._write(payload, sorted(deletes)), size=sum(map(len, payload)), after=[table, *held]
        )
        self._shared.update(held)  # some of their ids now point to this job
        self._in_flight.append((job, ids))
        in_flight.update(dict.fromkeys(ids, job))

    def _prune_in_flight(self) -> None:
        in_flight = self._ids_in_flight
        while self._in_flight and self._in_flight[0][0].done():
            job, ids = self._in_flight.popleft()
            if job in self._shared:  # a later batch holds some of its ids: forget only those still its own
                self._shared.discard(job)
                ids = {row_id for row_id in ids if in_flight.get(row_id) is job}
            deque(map(in_flight.pop, ids, repeat(None)), maxlen=0)

    def _write(self, rows: list[bytes], deletes: list[str]) -> None:
        table_id = self.mapper.table.table_id
        if rows:
            self._upsert_split(table_id, rows)
        for row_id in deletes:
            self.ctx.client.delete_row(table_id, row_id)
        self.ctx.stats.add(committed=len(rows) + len(deletes))
        self.ctx.stats.count_deleted(self.stream.key, "rows", "CDC", len(deletes))

    def _upsert_split(self, table_id: str, rows: list[bytes]) -> None:
        """A 413 splits the batch in halves (a single row that is still too big is an error naming it)."""
        body = b'{"rows":[' + b",".join(rows) + b'],"truncate":false}'
        try:
            self.ctx.client.upsert_rows_raw(table_id, body, len(rows))
        except PayloadTooLarge:
            if len(rows) == 1:
                row_id = orjson.loads(rows[0]).get("row_id")
                raise DustRequestError(
                    f"stream {self.stream.key}: row {row_id!r} alone is larger than Dust accepts "
                    f"({len(rows[0])} bytes); lower table_batch_max_bytes or drop wide fields."
                ) from None
            middle = len(rows) // 2
            self._upsert_split(table_id, rows[:middle])
            self._upsert_split(table_id, rows[middle:])

    def _queue_cleanup(self, rule: SweepRule) -> None:
        after = self.outstanding()
        self._submit(self._sweep, after=after)
        # documents of this stream from syncs that wrote it as documents: the same rule, nothing kept
        self._track(self.ctx.document_cleanups.request(DocumentCleanup(self.stream.key, rule, None), after))

    def _check_other_format(self) -> None:
        self._submit(self._report_old_documents)

    def _report_old_documents(self) -> None:
        """Documents of this stream from syncs that wrote it as documents stay in append/dedup: one search
        filtered by the stream's tag finds some (a hint, not a listing of the data source)."""
        key = self.stream.key
        try:
            found = self.ctx.client.search_tagged(stream_tag(clean_tag(key.name)))
        except DestinationError as exc:  # only a hint: never fail a sync for it
            logger.info("stream %s: could not check for old documents: %s", key, exc)
            return
        ours = [d["document_id"] for d in found if owns_document(key, d.get("document_id"), d.get("tags"))]
        if ours:
            logger.warning(
                "stream %s is written as a table, but its documents from earlier syncs (as documents) stay, "
                "e.g. %s: %s never removes data. Run one overwrite sync of the stream, or delete them in Dust",
                key,
                ", ".join(repr(i) for i in ours[:3]),
                self.stream.destination_sync_mode,
            )

    def _sweep(self) -> None:
        assert self.rule is not None
        table_id = self.mapper.table.table_id
        previous = self._previous_table if self._previous_read else self.ctx.client.get_table(table_id)
        if previous is None:
            logger.info(
                "stream %s: table %s is new in this sync: no older rows to remove", self.stream.key, table_id
            )
            return
        if self.rule.kind == "refresh":
            assert self.rule.min_generation is not None
            before = generation_of(previous.get("tags") or [])
            if before is None or before >= self.rule.min_generation:
                logger.info(
                    "stream %s: %s: table %s was last written by generation %s, so its older rows cannot be "
                    "told apart from this generation's: none removed",
                    self.stream.key,
                    self.rule.describe(),
                    table_id,
                    "unknown" if before is None else before,
                )
                return
        result = sweep_rows(self.ctx.client, table_id, self.seen)
        self.ctx.stats.count_deleted(self.stream.key, "rows", "clean-up", result.deleted)
        logger.info(
            "stream %s: %s clean-up removed %d rows of table %s this sync did not send "
            "(%d read in %d requests, %d passes)",
            self.stream.key,
            self.rule.describe(),
            result.deleted,
            table_id,
            result.listed,
            result.requests,
            result.passes,
        )
        if not result.confirmed:
            warn_unconfirmed(self.ctx.stats, self.stream.key, self.rule, "rows", result)

    def finish(self) -> None:
        super().finish()
        self.mapper.notices.close()
        if self._table_future is not None:
            self._ensure_table()  # columns found in data after the first upsert update the description
