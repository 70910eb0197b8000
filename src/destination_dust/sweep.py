"""The clean-up after a stream's `COMPLETE`: remove what the stream held before and this sync replaced.

When (see docs/sync-modes.md for the whole table):
- `overwrite`: every document/row of the stream that this sync did not send;
- refresh (`minimum_generation_id` > 0, any mode): documents of the stream whose `airbyte:generation:` tag is
  lower than the minimum and that this sync did not send. Rows carry no tags: for tables the whole table's
  generation decides (TableSink);
- nothing otherwise (`append`, `append_dedup`, generation ids null or 0).

What is ours: a document is the stream's when its id starts with `ids.stream_prefix(stream) + "-"` AND it
carries the `airbyte:stream:{name}` tag AND its `airbyte:namespace:` tags are exactly the stream's (none for
a stream without a namespace). Rows are ours when they are in the stream's table (deterministic table_id).
Everything else in the data source is never deleted.

The listing (`sweep_listing`) pages by offset, which others' writes and deletes shift while we read. Dust
orders by a key fixed per document version (timestamp, then version), so a version keeps its place
relative to every other. Each request therefore starts a few items before where the previous page's
survivors ended (`ANCHORS` overlap), and a page is *joined* to what came before when it holds one of those
survivors, unchanged: every stale item not yet seen lies after that anchor, so in this page or a later one.
A pass whose every page was joined has seen every item that existed throughout it (re-reading some is
harmless: judging is idempotent); otherwise another pass runs, up to MAX_PASSES, and the result says the
clean-up is unconfirmed. Memory: one page and the anchors; "sent by this sync" is asked of the on-disk
SeenIds one page at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from destination_dust.catalog import StreamConfig, StreamKey
from destination_dust.client import DustClient
from destination_dust.ids import stream_prefix
from destination_dust.seen import SeenIds
from destination_dust.tags import generation_of, names_stream

DOCUMENT_PAGE = 100  # the emulator lists documents with their text: keep a page small
ROW_PAGE = 1000
ANCHORS = 10  # survivors of a page re-read at the head of the next, to join the two (module doc)
MAX_PASSES = 4
DELETE_WORKERS = 4


@dataclass(frozen=True)
class SweepRule:
    """`overwrite`: remove everything of the stream not sent by this sync. `refresh`: remove what is older
    than `min_generation` and not sent by this sync."""

    kind: str  # "overwrite" | "refresh"
    min_generation: int | None = None

    def describe(self) -> str:
        if self.kind == "overwrite":
            return "overwrite"
        return f"refresh (minimum generation {self.min_generation})"


def sweep_rule(stream: StreamConfig) -> SweepRule | None:
    """What the clean-up after COMPLETE removes for this stream, or None when it removes nothing.

    - `overwrite` always replaces the stream (whatever the generation ids say): PyAirbyte sends its REPLACE
      as `overwrite` with the constant generation 1/1, and a platform that sends `overwrite` (we do not
      advertise supportsRefreshes) re-reads the whole stream in each attempt.
    - otherwise a `minimum_generation_id` > 0 removes older generations. With PyAirbyte (always 1/1) every
      document carries generation 1, so "older than 1" removes nothing from earlier runs.
    - null or 0: nothing is removed.
    """
    if stream.destination_sync_mode == "overwrite":
        return SweepRule("overwrite")
    minimum = stream.minimum_generation_id
    if stream.generation_id is not None and minimum is not None and minimum > 0:
        return SweepRule("refresh", minimum)
    return None


def owns_document(stream: StreamKey, document_id: Any, tags: Any) -> bool:
    """Is this document one that this connector wrote for `stream`? Id prefix AND tags (see module doc)."""
    if not isinstance(document_id, str) or not document_id.startswith(stream_prefix(stream) + "-"):
        return False
    return names_stream(tags, stream, one_line=True)


def owns_table(stream: StreamKey, table: Mapping[str, Any]) -> bool:
    """Is this table (found under the stream's deterministic table_id) one we wrote for `stream`? Its tags
    must name the stream and exactly its namespace, as TableMapper.table_body writes them."""
    return names_stream(table.get("tags"), stream, one_line=False)


def document_doomed(stream: StreamKey, rule: SweepRule, document: Mapping[str, Any]) -> bool:
    """Is this listed document to be removed by `rule`, if this sync did not send it?"""
    tags = document.get("tags")
    if not owns_document(stream, document.get("document_id"), tags):
        return False
    if rule.kind == "overwrite":
        return True
    generation = generation_of(tags if isinstance(tags, list) else [])
    # untagged documents (written without generation ids) are never removed by a refresh: we cannot date them
    return generation is not None and rule.min_generation is not None and generation < rule.min_generation


@dataclass
class SweepResult:
    listed: int = 0  # items read, re-reads included
    requests: int = 0  # listing requests
    deleted: int = 0
    passes: int = 0
    unjoined: int = 0  # pages of the last pass that could not be joined to the ones before
    deleted_by: dict[Hashable, int] = field(default_factory=dict)  # per owner (see `sweep_listing`)

    @property
    def confirmed(self) -> bool:
        """Did the last pass see every item that existed throughout it (so nothing stale is left)?"""
        return self.passes > 0 and self.unjoined == 0


def sweep_listing(
    list_page: Callable[[int, int], Sequence[Mapping[str, Any]]],
    id_of: Callable[[Mapping[str, Any]], str | None],
    version_of: Callable[[Mapping[str, Any]], Hashable],
    judge: Callable[[Sequence[Mapping[str, Any]]], dict[str, Hashable]],
    delete: Callable[[str], None],
    *,
    page_size: int,
    workers: int = DELETE_WORKERS,
    anchors: int = ANCHORS,
    max_passes: int = MAX_PASSES,
) -> SweepResult:
    """Page through a listing, delete what `judge` returns for each page ({id: owner}, counted per owner in
    `deleted_by`), and repeat the pass until one is joined throughout (see the module doc)."""
    if page_size < 2:
        raise ValueError("a listing page must hold at least 2 items: one to join on, one to move on")
    anchors = max(1, min(anchors, page_size // 2))  # a full page always reaches past its anchors
    result = SweepResult()

    def one_pass(pool: ThreadPoolExecutor) -> int:
        """One pass from offset 0; returns how many pages could not be joined to the ones before."""
        frontier: list[Hashable] = []  # versions of the last survivors, oldest first (the anchors)
        position = 0  # where the next unseen item should be, had nobody else changed anything
        unjoined = 0
        while True:
            start = position - len(frontier)
            page = list_page(page_size, start)
            result.requests += 1
            result.listed += len(page)
            versions = [version_of(item) for item in page]
            if start > 0 and not set(frontier).intersection(versions):
                unjoined += 1  # no anchor in this page: what lay between may have slipped past (module doc)
            victims = judge(page)
            for future in [pool.submit(delete, victim) for victim in victims]:
                future.result()  # the first failure fails the sweep (and the sync): nothing half-known
            for owner in victims.values():
                result.deleted_by[owner] = result.deleted_by.get(owner, 0) + 1
            result.deleted += len(victims)
            survivors = [v for item, v in zip(page, versions, strict=True) if id_of(item) not in victims]
            frontier = survivors[-anchors:]  # anchors still listed were re-read: they are survivors too
            position = start + len(survivors)
            if len(page) < page_size:
                return unjoined

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dust-sweep") as pool:
        while result.passes < max_passes:
            result.passes += 1
            result.unjoined = one_pass(pool)
            if result.unjoined == 0:
                break
    return result


def _workers(client: DustClient) -> int:
    """Deletes in parallel, never more than the configured request concurrency."""
    return min(DELETE_WORKERS, client.config.max_concurrent_requests)


@dataclass
class DocumentCleanup:
    """One stream's share of a documents listing: what its rule dooms and this sync did not keep goes.
    `kept` None: this sync wrote no document of the stream (it writes a table now), so nothing is kept."""

    stream: StreamKey
    rule: SweepRule
    kept: SeenIds | None


def _document_version(document: Mapping[str, Any]) -> Hashable:
    """A document version as the listing shows it; a re-upsert changes `created` (and usually more)."""
    return (
        document.get("document_id"),
        document.get("timestamp"),
        document.get("created"),
        document.get("hash"),
    )


def _document_id(document: Mapping[str, Any]) -> str | None:
    value = document.get("document_id")
    return value if isinstance(value, str) else None


def sweep_documents(
    client: DustClient, cleanups: Sequence[DocumentCleanup], *, page_size: int = DOCUMENT_PAGE
) -> SweepResult:
    """One listing of the data source for every clean-up in `cleanups`; `deleted_by` counts per index."""

    def list_page(limit: int, offset: int) -> Sequence[Mapping[str, Any]]:
        documents, _total = client.list_documents(limit=limit, offset=offset)
        return documents

    def judge(page: Sequence[Mapping[str, Any]]) -> dict[str, Hashable]:
        victims: dict[str, Hashable] = {}
        for index, cleanup in enumerate(cleanups):
            doomed = [
                i
                for i in (_document_id(d) for d in page if document_doomed(cleanup.stream, cleanup.rule, d))
                if i is not None and i not in victims
            ]
            if not doomed:
                continue
            kept = cleanup.kept.contains_many(doomed) if cleanup.kept is not None else set()
            victims.update((i, index) for i in doomed if i not in kept)
        return victims

    return sweep_listing(
        list_page,
        _document_id,
        _document_version,
        judge,
        client.delete_document,
        page_size=page_size,
        workers=_workers(client),
    )


def read_documents(
    client: DustClient, read: Callable[[Sequence[Mapping[str, Any]]], None], *, page_size: int = DOCUMENT_PAGE
) -> SweepResult:
    """Every document of the data source handed to `read` a page at a time, paged like a clean-up (joined
    pages, repeated passes) but deleting nothing; `read` may see a document twice and must not mind."""

    def judge(page: Sequence[Mapping[str, Any]]) -> dict[str, Hashable]:
        read(page)
        return {}

    def list_page(limit: int, offset: int) -> Sequence[Mapping[str, Any]]:
        return client.list_documents(limit=limit, offset=offset)[0]

    return sweep_listing(list_page, _document_id, _document_version, judge, _never, page_size=page_size)


def _never(document_id: str) -> None:
    raise AssertionError(f"a read-only listing tried to delete {document_id}")


def sweep_rows(client: DustClient, table_id: str, seen: SeenIds, *, page_size: int = ROW_PAGE) -> SweepResult:
    """Delete every row of our table that this sync did not send."""

    def list_page(limit: int, offset: int) -> Sequence[Mapping[str, Any]]:
        rows, _total = client.list_rows(table_id, limit=limit, offset=offset)
        return rows

    def row_id(row: Mapping[str, Any]) -> str | None:
        value = row.get("row_id")
        return value if isinstance(value, str) else None

    def version(row: Mapping[str, Any]) -> Hashable:
        return (row.get("row_id"), orjson.dumps(row.get("value"), option=orjson.OPT_SORT_KEYS))

    def judge(page: Sequence[Mapping[str, Any]]) -> dict[str, Hashable]:
        ids = [i for i in map(row_id, page) if i is not None]
        sent = seen.contains_many(ids) if ids else set()
        return {i: None for i in ids if i not in sent}

    delete = partial(client.delete_row, table_id)
    return sweep_listing(
        list_page, row_id, version, judge, delete, page_size=page_size, workers=_workers(client)
    )
