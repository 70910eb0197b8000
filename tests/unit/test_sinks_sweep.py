"""Which clean-up runs after COMPLETE (sync mode x generation ids), and which documents it may ever touch."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_dust.catalog import StreamConfig, StreamKey
from destination_dust.ids import document_id
from destination_dust.sweep import SweepRule, document_doomed, owns_document, sweep_rule
from destination_dust.tags import generation_of

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


# -- the listing under concurrency: a simulated data source, other writers and deleters between requests -----


class DataSource:
    """Dust's document listing in miniature: the latest version of each document, ordered by a key fixed per
    version (timestamp DESC, then newest version first), read by (limit, offset) at the moment of each
    request. `between` runs before every request the sweep makes: other writers and deleters."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.between: Any = None
        self.sweep_deleted: list[str] = []

    def upsert(self, document_id: str, timestamp: int, *tags: str) -> None:
        self.version += 1
        self.docs[document_id] = {
            "document_id": document_id,
            "timestamp": timestamp,
            "created": self.version,
            "hash": f"h{self.version}",
            "tags": list(tags),
        }

    def ordered(self) -> list[dict[str, Any]]:
        return sorted(self.docs.values(), key=lambda d: (-d["timestamp"], -d["created"]))

    # the client's surface that sweep_documents uses

    def list_documents(self, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        if self.between is not None:
            self.between(self)
        return [dict(d) for d in self.ordered()[offset : offset + limit]], len(self.docs)

    def delete_document(self, document_id: str) -> None:
        if self.between is not None:
            self.between(self)
        self.sweep_deleted.append(document_id)
        self.docs.pop(document_id, None)

    class config:  # the attribute the sweep reads from a DustClient
        max_concurrent_requests = 1  # deletes one at a time: a deterministic interleaving


def ours(stream: str, key: int) -> tuple[str, str]:
    return f"{stream}-{key}", f"airbyte:stream:{stream}"


def run_cleanups(
    source: DataSource, kept: dict[str, set[str]], page_size: int = 10
) -> tuple[Any, dict[str, int]]:
    """Sweep `users`, `orders` and `notes` (overwrite) in one listing; `kept` = what this sync sent."""
    from destination_dust.seen import SeenStore
    from destination_dust.sweep import DocumentCleanup, sweep_documents

    store = SeenStore()
    try:
        cleanups = []
        for name in ("users", "orders", "notes"):
            seen = store.stream(name)
            for item in kept.get(name, set()):
                seen.add(item)
            cleanups.append(DocumentCleanup(StreamKey(None, name), SweepRule("overwrite"), seen))
        result = sweep_documents(source, cleanups, page_size=page_size)  # type: ignore[arg-type]
        per_stream = {c.stream.name: result.deleted_by.get(i, 0) for i, c in enumerate(cleanups)}
        return result, per_stream
    finally:
        store.close()


def stale_left(source: DataSource, kept: dict[str, set[str]]) -> list[str]:
    return [
        d
        for d, doc in source.docs.items()
        for name in ("users", "orders", "notes")
        if d.startswith(f"{name}-")
        and f"airbyte:stream:{name}" in doc["tags"]
        and d not in kept.get(name, set())
    ]


def test_one_listing_serves_three_streams_and_counts_each() -> None:
    """Item 1 of "Overwrite at scale": 3 x 70 documents, none resent; one shared listing deletes all 210."""
    source = DataSource()
    for key in range(70):
        for name in ("users", "orders", "notes"):
            source.upsert(*ours(name, key)[:1], 1_700_000_000_000, ours(name, key)[1])
    source.upsert("handbook", 1_600_000_000_000, "team:hr")  # older: listed last
    result, per_stream = run_cleanups(source, {})
    assert set(source.docs) == {"handbook"}
    assert per_stream == {"users": 70, "orders": 70, "notes": 70} and result.deleted == 210
    assert result.confirmed and result.passes == 1
    # every page deleted whole (offset 0 each time), then the last page: the foreign document alone
    assert result.requests == 210 // 10 + 1 and result.listed == 211


def _behind_a_deleting_client(stream: str) -> DataSource:
    """60 documents of `stream` listed after 100 of another client, who deletes two of those per request."""
    source = DataSource()
    for key in range(100):
        source.upsert(f"other-{key}", 2_000 - key, "airbyte:stream:other")  # newer: listed first
    for key in range(60):
        source.upsert(*ours(stream, key)[:1], 1_000 - key, ours(stream, key)[1])
    victims = iter(range(0, 100, 2))

    def delete_two_others(src: DataSource) -> None:
        for _ in range(2):
            number = next(victims, None)
            if number is not None:
                src.docs.pop(f"other-{number}", None)

    source.between = delete_two_others
    return source


def test_pages_are_joined_across_deletions_by_another_client() -> None:
    """Another client deletes documents ahead of the sweep's position between two pages: offsets shift back
    and a plain `offset += kept` would skip the documents that moved into the part already read."""
    source = _behind_a_deleting_client("users")
    kept = {"users": {f"users-{k}" for k in range(0, 60, 3)}}
    result, per_stream = run_cleanups(source, kept)
    assert stale_left(source, kept) == []
    assert per_stream["users"] == 40 and result.confirmed
    assert not set(source.sweep_deleted) & kept["users"]


def test_a_page_that_cannot_be_joined_makes_another_pass_and_is_reported_when_it_never_settles() -> None:
    source = DataSource()
    for key in range(50):
        source.upsert(f"other-{key}", 2_000 - key, "airbyte:stream:other")
    for key in range(30):
        source.upsert(*ours("users", key)[:1], 1_000 - key, ours("users", key)[1])
    counter = iter(range(10**6))

    def churn(src: DataSource) -> None:
        # every request: 20 documents of another client re-written (new versions, newest first)
        for _ in range(20):
            src.upsert(f"other-{next(counter) % 50}", 3_000 + next(counter), "airbyte:stream:other")

    source.between = churn
    result, _ = run_cleanups(source, {"users": {"users-1"}})
    assert not set(source.sweep_deleted) & {"users-1"}
    if result.confirmed:
        assert stale_left(source, {"users": {"users-1"}}) == []
    else:
        assert result.passes == 4 and result.unjoined > 0


# what another client does between two requests of the sweep: (what, which key, new timestamp, how many)
ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["insert", "rewrite", "delete", "delete_ours", "nothing"]),
        st.integers(0, 200),
        st.integers(0, 3_000),
        st.integers(1, 12),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)),
    others=st.integers(0, 60),
    stamps=st.integers(1, 5),  # few distinct timestamps: many ties, as when emitted_at dates documents
    kept_every=st.integers(1, 5),
    page_size=st.integers(2, 15),
    actions=ACTIONS,
    seed=st.integers(0, 2**16),
)
def test_property_never_a_stale_document_left_when_done_never_a_kept_one_deleted(
    sizes: tuple[int, int, int],
    others: int,
    stamps: int,
    kept_every: int,
    page_size: int,
    actions: list[tuple[str, int, int, int]],
    seed: int,
) -> None:
    """Other writers (new documents, new versions of documents that are not stale) and deleters (anything,
    ours included) act between every two requests of the sweep. When the sweep says it is confirmed, no
    stale document is left; it never deletes a kept document, nor one that is not ours."""
    import random

    rng = random.Random(seed)
    source = DataSource()
    kept: dict[str, set[str]] = {}
    for name, size in zip(("users", "orders", "notes"), sizes, strict=True):
        for key in range(size):
            doc_id, tag = ours(name, key)
            source.upsert(doc_id, rng.randrange(stamps), tag)
            if key % kept_every == 0:
                kept.setdefault(name, set()).add(doc_id)
    for key in range(others):
        source.upsert(f"handbook-{key}", rng.randrange(stamps), "team:hr")
    not_ours = set(source.docs) - {d for d in source.docs if d.split("-")[0] in {"users", "orders", "notes"}}
    all_kept = set().union(*kept.values()) if kept else set()
    pending = list(actions)

    def act(src: DataSource) -> None:
        if not pending:
            return
        what, key, stamp, count = pending.pop(0)
        for step in range(count):
            one(src, what, key + step * 7, stamp + step)

    def one(src: DataSource, what: str, key: int, stamp: int) -> None:
        if what == "insert":
            src.upsert(f"new-{key}", stamp % (stamps + 2), "airbyte:stream:other")
            not_ours.add(f"new-{key}")
        elif what == "rewrite":  # a new version of a document that is not stale: it may move anywhere
            movable = sorted(not_ours | all_kept & set(src.docs))
            if movable:
                doc = src.docs.get(movable[key % len(movable)])
                if doc is not None:
                    src.upsert(doc["document_id"], stamp % (stamps + 2), *doc["tags"])
        elif what in ("delete", "delete_ours") and src.docs:
            pool = sorted(d for d in src.docs if (what == "delete_ours") == (d not in not_ours))
            if pool:
                src.docs.pop(pool[key % len(pool)])

    source.between = act
    result, per_stream = run_cleanups(source, kept, page_size=page_size)
    assert not set(source.sweep_deleted) & all_kept, "a document this sync kept was deleted"
    assert not set(source.sweep_deleted) & not_ours, "a document that is not ours was deleted"
    assert sum(per_stream.values()) == result.deleted == len(source.sweep_deleted)
    if result.confirmed:
        assert stale_left(source, kept) == []
    if not actions:
        assert result.confirmed and result.passes == 1


def test_a_read_only_listing_sees_every_document_that_lasts_while_another_client_deletes() -> None:
    """`read_documents` (the composed children's clean-up reads stored documents and deletes nothing) sees
    every ticket; plain offset paging under the same deletions skips some, so the check can fail."""
    from destination_dust.sweep import read_documents

    tickets = {f"tickets-{k}" for k in range(60)}
    source = _behind_a_deleting_client("tickets")
    seen: set[str] = set()
    result = read_documents(source, lambda page: seen.update(d["document_id"] for d in page), page_size=10)  # type: ignore[arg-type]
    assert tickets <= seen
    assert result.confirmed and source.sweep_deleted == []

    source, offset = _behind_a_deleting_client("tickets"), 0
    plain: set[str] = set()
    while page := source.list_documents(limit=10, offset=offset)[0]:
        plain.update(d["document_id"] for d in page)
        offset += len(page)
    assert not tickets <= plain
