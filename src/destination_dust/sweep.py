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

Memory: the listing is read page by page; "sent by this sync" is asked of the on-disk SeenIds one page at a
time. Deleting shifts later pages back, so the next offset is `offset + page - deleted`; documents written
concurrently by other streams can shift pages too, so a pass that deleted something is followed by another
pass (at most MAX_PASSES) until a pass finds nothing to delete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from destination_dust.catalog import StreamConfig, StreamKey
from destination_dust.client import DustClient
from destination_dust.documents import GENERATION_TAG, clean_tag
from destination_dust.ids import stream_prefix
from destination_dust.seen import SeenIds

DOCUMENT_PAGE = 100  # listed documents carry their text: keep a page small
ROW_PAGE = 1000
MAX_PASSES = 3
DELETE_WORKERS = 4

STREAM_TAG = "airbyte:stream:"
NAMESPACE_TAG = "airbyte:namespace:"


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


def generation_tag(generation: int) -> str:
    return f"{GENERATION_TAG}{generation}"


def generation_of(tags: Iterable[str]) -> int | None:
    """The generation a document (or table) was written with; None when untagged or unreadable."""
    found = None
    for tag in tags:
        if isinstance(tag, str) and tag.startswith(GENERATION_TAG):
            try:
                value = int(tag[len(GENERATION_TAG) :])
            except ValueError:
                return None
            if found is not None and found != value:
                return None  # two different generations: not ours to judge
            found = value
    return found


def owns_document(stream: StreamKey, document_id: Any, tags: Any) -> bool:
    """Is this document one that this connector wrote for `stream`? Id prefix AND tags (see module doc)."""
    if not isinstance(document_id, str) or not document_id.startswith(stream_prefix(stream) + "-"):
        return False
    tag_set = {t for t in tags if isinstance(t, str)} if isinstance(tags, list) else set()
    if f"{STREAM_TAG}{clean_tag(stream.name)}" not in tag_set:
        return False
    namespaces = {t for t in tag_set if t.startswith(NAMESPACE_TAG)}
    return namespaces == ({f"{NAMESPACE_TAG}{clean_tag(stream.namespace)}"} if stream.namespace else set())


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
    listed: int = 0
    deleted: int = 0
    passes: int = 0


def _sweep_pages(
    list_page: Callable[[int, int], Sequence[Mapping[str, Any]]],
    id_of: Callable[[Mapping[str, Any]], str | None],
    doomed: Callable[[Mapping[str, Any]], bool],
    delete: Callable[[str], None],
    seen: SeenIds,
    page_size: int,
    workers: int = DELETE_WORKERS,
) -> SweepResult:
    result = SweepResult()
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dust-sweep") as pool:
        for _ in range(MAX_PASSES):
            result.passes += 1
            deleted_this_pass = 0
            offset = 0
            while True:
                page = list_page(page_size, offset)
                if not page:
                    break
                result.listed += len(page)
                candidates = [i for i in (id_of(item) for item in page if doomed(item)) if i is not None]
                sent = seen.contains_many(candidates) if candidates else set()
                victims = list(dict.fromkeys(i for i in candidates if i not in sent))
                for future in [pool.submit(delete, victim) for victim in victims]:
                    future.result()  # the first failure fails the sweep (and the sync): nothing half-known
                deleted_this_pass += len(victims)
                offset += len(page) - len(victims)
            result.deleted += deleted_this_pass
            if deleted_this_pass == 0:
                break
    return result


def _workers(client: DustClient) -> int:
    """Deletes in parallel, never more than the configured request concurrency."""
    return min(DELETE_WORKERS, client.config.max_concurrent_requests)


def sweep_documents(
    client: DustClient, stream: StreamKey, rule: SweepRule, seen: SeenIds, *, page_size: int = DOCUMENT_PAGE
) -> SweepResult:
    """Delete the stream's documents that `rule` dooms and this sync did not send."""

    def list_page(limit: int, offset: int) -> Sequence[Mapping[str, Any]]:
        documents, _total = client.list_documents(limit=limit, offset=offset)
        return documents

    def id_of(document: Mapping[str, Any]) -> str | None:
        value = document.get("document_id")
        return value if isinstance(value, str) else None

    doomed = partial(document_doomed, stream, rule)
    return _sweep_pages(list_page, id_of, doomed, client.delete_document, seen, page_size, _workers(client))


def sweep_rows(client: DustClient, table_id: str, seen: SeenIds, *, page_size: int = ROW_PAGE) -> SweepResult:
    """Delete every row of our table that this sync did not send."""

    def list_page(limit: int, offset: int) -> Sequence[Mapping[str, Any]]:
        rows, _total = client.list_rows(table_id, limit=limit, offset=offset)
        return rows

    def id_of(row: Mapping[str, Any]) -> str | None:
        value = row.get("row_id")
        return value if isinstance(value, str) else None

    delete = partial(client.delete_row, table_id)
    return _sweep_pages(list_page, id_of, lambda _row: True, delete, seen, page_size, _workers(client))
