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
