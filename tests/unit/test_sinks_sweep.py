"""Which clean-up runs after COMPLETE (sync mode x generation ids), and which documents it may ever touch."""

from __future__ import annotations

from typing import Any

import pytest

from destination_dust.catalog import StreamConfig, StreamKey
from destination_dust.ids import document_id
from destination_dust.sweep import SweepRule, document_doomed, generation_of, owns_document, sweep_rule

USERS = StreamKey(None, "users")
PUBLIC_USERS = StreamKey("public", "users")


def stream(mode: str, gen: int | None = None, minimum: int | None = None) -> StreamConfig:
    return StreamConfig(USERS, {}, mode, (("id",),), generation_id=gen, minimum_generation_id=minimum)


@pytest.mark.parametrize(
    ("mode", "gen", "minimum", "rule"),
    [
        ("append", None, None, None),
        ("append_dedup", None, None, None),
        ("append", 0, 0, None),  # platform without refresh support
        ("append_dedup", 1, 1, SweepRule("refresh", 1)),  # PyAirbyte: removes generations < 1 only
        ("append", 2, 2, SweepRule("refresh", 2)),  # truncate refresh
        ("append_dedup", 2, 0, None),  # merge refresh: keep everything
        ("append", 3, 2, SweepRule("refresh", 2)),
        ("append", None, 2, None),  # a minimum without a generation: nothing to compare with
        ("overwrite", None, None, SweepRule("overwrite")),
        ("overwrite", 0, 0, SweepRule("overwrite")),
        ("overwrite", 1, 1, SweepRule("overwrite")),  # PyAirbyte REPLACE
        ("overwrite", 5, 5, SweepRule("overwrite")),
    ],
)
def test_sweep_rule(mode: str, gen: int | None, minimum: int | None, rule: SweepRule | None) -> None:
    assert sweep_rule(stream(mode, gen, minimum)) == rule


def doc(doc_id: str, *tags: str) -> dict[str, Any]:
    return {"document_id": doc_id, "tags": list(tags)}


def test_generation_of() -> None:
    assert generation_of(["airbyte:generation:3", "x"]) == 3
    assert generation_of(["airbyte:generation:3", "airbyte:generation:3"]) == 3
    assert generation_of(["airbyte:generation:3", "airbyte:generation:4"]) is None
    assert generation_of(["airbyte:generation:x"]) is None
    assert generation_of([]) is None


def test_ownership_needs_the_id_prefix_and_the_tags() -> None:
    ours = document_id(USERS, [42], {})
    assert ours == "users-42"
    assert owns_document(USERS, ours, ["airbyte:stream:users", "title:x"])
    # same id shape, written by another tool without our tags
    assert not owns_document(USERS, ours, ["title:x"])
    # our tag but another id scheme (e.g. a document someone named by hand)
    assert not owns_document(USERS, "users_42", ["airbyte:stream:users"])
    assert not owns_document(USERS, "user-42", ["airbyte:stream:users"])
    # another stream whose name starts like ours
    other = document_id(StreamKey(None, "users-archive"), [1], {})
    assert not owns_document(USERS, other, ["airbyte:stream:users"])
    underscore = document_id(StreamKey(None, "users_x"), [1], {})
    assert not owns_document(USERS, underscore, ["airbyte:stream:users"])
    # the same stream name in a namespace is another stream, both ways
    namespaced = document_id(PUBLIC_USERS, [42], {})
    tags = ["airbyte:stream:users", "airbyte:namespace:public"]
    assert owns_document(PUBLIC_USERS, namespaced, tags)
    assert not owns_document(USERS, namespaced, tags)
    assert not owns_document(PUBLIC_USERS, ours, ["airbyte:stream:users"])
    assert not owns_document(USERS, ours, ["airbyte:stream:users", "airbyte:namespace:public"])
    assert not owns_document(PUBLIC_USERS, namespaced, [*tags, "airbyte:namespace:other"])
    # malformed listings never match
    assert not owns_document(USERS, None, ["airbyte:stream:users"])
    assert not owns_document(USERS, ours, None)


def test_refresh_dooms_only_older_dated_documents() -> None:
    rule = SweepRule("refresh", 2)
    base = ["airbyte:stream:users"]
    assert document_doomed(USERS, rule, doc("users-1", *base, "airbyte:generation:1"))
    assert document_doomed(USERS, rule, doc("users-1", *base, "airbyte:generation:0"))
    assert not document_doomed(USERS, rule, doc("users-1", *base, "airbyte:generation:2"))
    assert not document_doomed(USERS, rule, doc("users-1", *base, "airbyte:generation:3"))
    assert not document_doomed(USERS, rule, doc("users-1", *base))  # undated: kept
    assert not document_doomed(USERS, rule, doc("other-1", "airbyte:generation:1"))


def test_overwrite_dooms_every_owned_document_whatever_its_generation() -> None:
    rule = SweepRule("overwrite")
    assert document_doomed(USERS, rule, doc("users-1", "airbyte:stream:users", "airbyte:generation:9"))
    assert document_doomed(USERS, rule, doc("users-1", "airbyte:stream:users"))
    assert not document_doomed(USERS, rule, doc("users-1", "airbyte:stream:orders"))


# -- paging: deleting while listing, and documents inserted by others during the listing --------------------


class Listing:
    """An ordered collection listed by (limit, offset), newest first like Dust's document list."""

    def __init__(self, ids: list[str]) -> None:
        self.items = list(ids)
        self.deleted: list[str] = []
        self.on_page: Any = None  # called before each page: simulates concurrent writers

    def page(self, limit: int, offset: int) -> list[dict[str, Any]]:
        if self.on_page is not None:
            self.on_page(self)
        return [{"row_id": i} for i in self.items[offset : offset + limit]]

    def delete(self, item: str) -> None:
        self.items.remove(item)
        self.deleted.append(item)


def run_sweep(listing: Listing, seen_ids: set[str], page_size: int) -> Any:
    from destination_dust.seen import SeenStore
    from destination_dust.sweep import _sweep_pages

    store = SeenStore()
    seen = store.stream("s")
    for item in seen_ids:
        seen.add(item)
    try:
        return _sweep_pages(
            listing.page,
            lambda row: row["row_id"],
            lambda row: not row["row_id"].startswith("other"),
            listing.delete,
            seen,
            page_size,
        )
    finally:
        store.close()


@pytest.mark.parametrize("page_size", [1, 3, 7, 100])
def test_sweep_pages_deletes_every_unseen_item_in_one_pass(page_size: int) -> None:
    items = [f"k{i}" for i in range(50)] + [f"other{i}" for i in range(5)]
    listing = Listing(items)
    kept = {f"k{i}" for i in range(0, 50, 4)}
    result = run_sweep(listing, kept, page_size)
    assert set(listing.items) == kept | {f"other{i}" for i in range(5)}
    assert result.deleted == 50 - len(kept)
    assert result.passes == 2  # the second pass finds nothing left


def test_sweep_pages_catches_items_shifted_by_concurrent_inserts() -> None:
    """Other streams insert newer documents at the head while we page: later pages shift, and a single pass
    would miss some stale items. The re-pass catches them."""
    listing = Listing([f"k{i}" for i in range(40)])
    inserted = iter(range(20))  # 10 pages see 2 new documents each, then the writers stop

    def insert_two(lst: Listing) -> None:
        for number in [next(inserted, None), next(inserted, None)]:
            if number is not None:
                lst.items.insert(0, f"other{number}")

    listing.on_page = insert_two
    result = run_sweep(listing, {"k5", "k39"}, page_size=5)
    assert {i for i in listing.items if i.startswith("k")} == {"k5", "k39"}
    assert result.passes >= 2 and result.deleted == 38
    assert len([i for i in listing.items if i.startswith("other")]) == 20
