"""The generation ledger: durable proof that a sync of generation N kept a document without re-upserting it.

Why: a document's `airbyte:generation:` tag dates it for the refresh clean-up, but Dust has no tag-only
update, and document upserts are rate limited (120 per minute per workspace). So an unchanged document of an
older generation is not re-upserted: the lookup that finds it unchanged writes a row here instead (rows are
not rate limited), before the document counts as written, hence before any STATE covering it is echoed. A
document's generation is then the highest of its tag and of the ledger rows that name it.

Who reads it: the clean-up of a refresh (`minimum_generation_id` M). A resumed attempt (a new process that
resumes after the last STATE and does not resend earlier records) knows nothing of what an earlier attempt
kept; the ledger does. The first clean-up of a run reads the whole ledger once (page by page) and adds the ids
that rows of generation >= M vouch for to the "sent" ids (SeenIds) of their stream, so the sweep keeps them.
Rows of generations below what a stream's clean-up keeps can never vouch again: deleted after that clean-up.

The table (`_airbyte_sync_ledger`, in the same data source): one row per lookup batch (up to 100 ids), with
columns `namespace` ("" for none), `stream`, `generation`, `documents` (count) and `document_ids` (a JSON
array). Its row id is a hash of those values, so a retried request rewrites the same row. Agents that query
the data source's tables can see it: its title and description say it is bookkeeping, not data.

When it cannot be written (the option is off, a table named like it exists, a failure past the retries),
the documents are re-upserted instead: correct, only costlier, and said once in the log.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from destination_dust.catalog import StreamKey
from destination_dust.client import DustClient
from destination_dust.errors import Cancelled, DestinationError
from destination_dust.seen import SeenIds

logger = logging.getLogger(__name__)

# a `-` inside the head: never a stream's table id (tables.table_id_for gives a slug, or a slug + "-" + hash)
TABLE_ID = "airbyte-destination-dust-ledger"
TABLE_NAME = "_airbyte_sync_ledger"
TITLE = "Airbyte sync ledger (connector bookkeeping, not data)"
DESCRIPTION = (
    "Bookkeeping of the Airbyte destination-dust connector, not business data: do not use it to answer "
    "questions. Each row lists documents of this data source (document_ids, a JSON array) that a sync of "
    "stream `stream` (namespace `namespace`) found unchanged and kept for refresh generation `generation` "
    "without uploading them again. The connector reads it at the end of a refresh so that it never deletes "
    "them, and deletes rows of older generations itself. Do not edit it; delete it only while no sync runs."
)
PAGE = 100  # rows listed per request: a row holds up to 100 ids


@dataclass(frozen=True)
class LedgerRow:
    row_id: str
    stream: StreamKey
    generation: int
    document_ids: tuple[str, ...]


def row_for(stream: StreamKey, generation: int, document_ids: Sequence[str]) -> dict[str, Any]:
    """The ledger row (Dust rows API shape) saying that `generation` of `stream` kept these documents."""
    ids = sorted(set(document_ids))
    identity = orjson.dumps([stream.namespace or "", stream.name, generation, ids])
    return {
        "row_id": hashlib.sha256(identity).hexdigest()[:32],
        "value": {
            "namespace": stream.namespace or "",
            "stream": stream.name,
            "generation": generation,
            "documents": len(ids),
            "document_ids": orjson.dumps(ids).decode(),
        },
    }


def parse_row(row: Mapping[str, Any]) -> LedgerRow | None:
    """A listed row read back; None for anything that is not a well-formed ledger row (never trusted)."""
    value = row.get("value")
    row_id = row.get("row_id")
    if not isinstance(value, Mapping) or not isinstance(row_id, str):
        return None
    namespace, name, generation = value.get("namespace"), value.get("stream"), value.get("generation")
    if not isinstance(name, str) or not isinstance(namespace, (str, type(None))):
        return None
    if isinstance(generation, float) and generation.is_integer():
        generation = int(generation)
    if not isinstance(generation, int) or isinstance(generation, bool):
        return None
    try:
        ids = orjson.loads(value.get("document_ids") or "[]")
    except (orjson.JSONDecodeError, TypeError):
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return None
    return LedgerRow(row_id, StreamKey(namespace or None, name), generation, tuple(ids))


@dataclass
class _Reader:
    """A stream whose clean-up reads the ledger: ids of generation >= `keep_from` go to `seen`; rows below
    `prune_below` are deleted after its clean-up."""

    keep_from: int | None
    prune_below: int | None
    seen: SeenIds


class GenerationLedger:
    """The ledger of one `write` run (shared by every documents sink; thread-safe)."""

    def __init__(self, client: DustClient, *, writable: bool = True) -> None:
        self._client = client
        self._writable = writable
        self._lock = threading.Lock()  # the table, the writable flag, the readers and what they found
        self._load_lock = threading.Lock()  # the one read of the ledger (lookups never wait for it)
        self._table_ready = False
        self._readers: dict[StreamKey, _Reader] = {}
        self._loaded = False
        self._vouched: dict[StreamKey, int] = {}  # ids the ledger added to each reader's seen
        self._stale: dict[StreamKey, list[str]] = {}  # row ids each reader may delete after its clean-up

    # -- writing (the skip-unchanged lookup) --------------------------------------------------------------

    def record(self, stream: StreamKey, generation: int, document_ids: Sequence[str]) -> bool:
        """Write that `generation` of `stream` kept these documents. True once the row is stored (then the
        caller may skip their upserts); False when the ledger cannot be written (then it must upsert them)."""
        if not document_ids or not self._writable:
            return False
        try:
            self._ensure_table()
            self._client.upsert_rows(TABLE_ID, [row_for(stream, generation, document_ids)])
        except Cancelled:
            raise  # the sync already failed elsewhere: nothing to say about the ledger
        except DestinationError as exc:
            with self._lock:
                if self._writable:
                    self._writable = False
                    logger.warning(
                        "the sync ledger table %r cannot be written (%s): unchanged documents of a new "
                        "generation are uploaded again for the rest of this sync (one rate-limited upsert "
                        "each) instead of being recorded there",
                        TABLE_NAME,
                        exc.message,
                    )
            return False
        return True

    def _ensure_table(self) -> None:
        with self._lock:
            if self._table_ready:
                return
            self._client.upsert_table(
                {"name": TABLE_NAME, "table_id": TABLE_ID, "title": TITLE, "description": DESCRIPTION}
            )
            self._table_ready = True

    # -- reading (the clean-up) ---------------------------------------------------------------------------

    def register(
        self, stream: StreamKey, seen: SeenIds, *, keep_from: int | None, prune_below: int | None
    ) -> None:
        """Before any clean-up runs: `stream`'s clean-up will ask for the ids kept by generations >=
        `keep_from` (None: it keeps only what this sync sent) and may drop rows below `prune_below` (None:
        none). A stream with neither never reads the ledger."""
        if keep_from is None and prune_below is None:
            return
        with self._lock:
            self._readers[stream] = _Reader(keep_from, prune_below, seen)

    def vouch(self, stream: StreamKey) -> int:
        """Add to `stream`'s sent ids every document the ledger says its current generations kept; returns
        how many ids that was. The first call of the run reads the whole ledger for every registered stream;
        rows this run writes meanwhile are its own (already sent ids): reading them again is harmless."""
        with self._lock:
            if stream not in self._readers:
                return 0
        with self._load_lock:
            if not self._loaded:
                self._load()
                self._loaded = True
        with self._lock:
            return self._vouched.get(stream, 0)

    def _load(self) -> None:
        with self._lock:
            readers = dict(self._readers)
        for row in self._rows():
            reader = readers.get(row.stream)
            if reader is None:
                continue
            if reader.keep_from is not None and row.generation >= reader.keep_from:
                for document_id in row.document_ids:
                    reader.seen.add(document_id)
                with self._lock:
                    self._vouched[row.stream] = self._vouched.get(row.stream, 0) + len(row.document_ids)
            if reader.prune_below is not None and row.generation < reader.prune_below:
                with self._lock:
                    self._stale.setdefault(row.stream, []).append(row.row_id)

    def _rows(self) -> Iterator[LedgerRow]:
        """Every well-formed ledger row, page by page (rows are only added while this runs: a row added
        before the offset makes the next page repeat one, never skip one)."""
        if self._client.get_table(TABLE_ID) is None:
            return
        offset = 0
        while True:
            rows, _total = self._client.list_rows(TABLE_ID, limit=PAGE, offset=offset)
            if not rows:
                return
            offset += len(rows)
            for row in rows:
                parsed = parse_row(row)
                if parsed is not None:
                    yield parsed

    def prune(self, stream: StreamKey) -> int:
        """After `stream`'s clean-up succeeded: delete its rows of generations that can no longer vouch."""
        self.vouch(stream)  # the rows are known once the ledger was read
        with self._lock:
            stale = self._stale.pop(stream, [])
        for row_id in stale:
            self._client.delete_row(TABLE_ID, row_id)
        return len(stale)
