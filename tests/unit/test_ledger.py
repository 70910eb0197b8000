"""The generation ledger (ledger.py): its rows, and what a later process reads back from the emulator."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from destination_dust import ledger
from destination_dust.catalog import StreamKey
from destination_dust.client import DustClient
from destination_dust.config import parse_config
from destination_dust.ledger import GenerationLedger, parse_row, row_for
from destination_dust.seen import SeenStore
from dust_emulator.testing import EmulatorProcess

USERS = StreamKey(None, "users")
ORDERS = StreamKey("shop", "orders")


@pytest.fixture
def client(emulator: EmulatorProcess) -> Iterator[DustClient]:
    dust = DustClient(parse_config({**emulator.config, "document_upserts_per_minute": 0}))
    yield dust
    dust.close()


@pytest.fixture
def seen(tmp_path: Path) -> Iterator[SeenStore]:
    store = SeenStore(str(tmp_path))
    yield store
    store.close()


def ledger_rows(emulator: EmulatorProcess) -> list[dict[str, Any]]:
    ds = next(d for d in emulator.dump()["data_sources"] if d["sId"] == emulator.config["data_source_id"])
    return [row for t in ds["tables"] if t["table_id"] == ledger.TABLE_ID for row in t["rows"]]


def test_a_row_reads_back_and_its_id_depends_on_its_content_only() -> None:
    row = row_for(ORDERS, 3, ["orders-2", "orders-1", "orders-2"])
    assert row == row_for(ORDERS, 3, ["orders-1", "orders-2"])  # order and repeats do not matter
    assert row["value"]["documents"] == 2
    parsed = parse_row(row)
    assert parsed is not None
    assert (parsed.stream, parsed.generation, parsed.document_ids) == (ORDERS, 3, ("orders-1", "orders-2"))
    assert parse_row(row_for(USERS, 3, ["users-1"])).stream == USERS  # type: ignore[union-attr]
    others = {
        row_for(ORDERS, 4, ["orders-1", "orders-2"])["row_id"],
        row_for(USERS, 3, ["orders-1"])["row_id"],
    }
    assert row["row_id"] not in others


@pytest.mark.parametrize(
    "value",
    [
        {"stream": "users", "generation": "2", "document_ids": "[]"},
        {"stream": "users", "generation": True, "document_ids": "[]"},
        {"stream": 7, "generation": 2, "document_ids": "[]"},
        {"stream": "users", "generation": 2, "document_ids": "not json"},
        {"stream": "users", "generation": 2, "document_ids": '[1, "a"]'},
        {"stream": "users", "generation": 2, "document_ids": '{"a": 1}'},
    ],
)
def test_a_malformed_row_is_never_trusted(value: dict[str, Any]) -> None:
    assert parse_row({"row_id": "x", "value": value}) is None


def test_a_later_process_keeps_what_an_earlier_one_recorded(
    emulator: EmulatorProcess, client: DustClient, seen: SeenStore
) -> None:
    earlier = GenerationLedger(client)
    assert earlier.record(USERS, 1, ["users-9"])
    assert earlier.record(USERS, 2, ["users-1", "users-2"])
    assert earlier.record(USERS, 2, ["users-2", "users-1"])  # a retried batch rewrites the same row
    assert earlier.record(ORDERS, 2, ["shop~orders-1"])
    assert len(ledger_rows(emulator)) == 3
    # a resumed attempt: a new process, nothing local survived
    later = GenerationLedger(client)
    users, orders = seen.stream("users"), seen.stream("orders")
    later.register(USERS, users, keep_from=2, prune_below=2)
    later.register(ORDERS, orders, keep_from=3, prune_below=None)
    assert later.vouch(USERS) == 2
    assert users.contains_many(["users-1", "users-2", "users-9", "users-3"]) == {"users-1", "users-2"}
    assert later.vouch(ORDERS) == 0  # its rows are of generation 2, below what its clean-up keeps
    assert orders.contains_many(["shop~orders-1"]) == set()
    assert later.prune(USERS) == 1  # the generation-1 row can no longer vouch
    assert later.prune(USERS) == 0
    remaining = {(p.stream, p.generation) for p in map(parse_row, ledger_rows(emulator)) if p}
    assert remaining == {(USERS, 2), (ORDERS, 2)}


def test_reading_a_missing_ledger_costs_one_request(
    emulator: EmulatorProcess, client: DustClient, seen: SeenStore
) -> None:
    reader = GenerationLedger(client)
    reader.register(USERS, seen.stream("users"), keep_from=2, prune_below=2)
    before = emulator.counters()["totals"]["requests"]
    assert reader.vouch(USERS) == 0
    assert reader.vouch(USERS) == 0  # read once per run
    assert reader.prune(USERS) == 0
    assert emulator.counters()["totals"]["requests"] - before == 1


def test_a_stream_that_needs_nothing_from_the_ledger_never_reads_it(
    emulator: EmulatorProcess, client: DustClient, seen: SeenStore
) -> None:
    assert GenerationLedger(client).record(USERS, 2, ["users-1"])
    reader = GenerationLedger(client)  # an overwrite stream without generation ids
    reader.register(USERS, seen.stream("users"), keep_from=None, prune_below=None)
    before = emulator.counters()["totals"]["requests"]
    assert reader.vouch(USERS) == 0
    assert reader.prune(USERS) == 0
    assert emulator.counters()["totals"]["requests"] == before


def test_a_ledger_that_cannot_be_written_says_so_once_and_never_vouches(
    emulator: EmulatorProcess, client: DustClient, caplog: pytest.LogCaptureFixture
) -> None:
    # another table already has the ledger's name: Dust refuses the ledger's table for good
    client.upsert_table(
        {"name": ledger.TABLE_NAME, "table_id": "someone-else", "title": "", "description": ""}
    )
    blocked = GenerationLedger(client)
    with caplog.at_level(logging.WARNING, logger="destination_dust"):
        assert not blocked.record(USERS, 2, ["users-1"])
        assert not blocked.record(USERS, 2, ["users-2"])
    warnings = [r.getMessage() for r in caplog.records if "sync ledger" in r.getMessage()]
    assert len(warnings) == 1 and "uploaded again" in warnings[0]
    assert ledger_rows(emulator) == []


def test_the_option_off_writes_no_table(emulator: EmulatorProcess, client: DustClient) -> None:
    assert not GenerationLedger(client, writable=False).record(USERS, 2, ["users-1"])
    ds = next(d for d in emulator.dump()["data_sources"] if d["sId"] == emulator.config["data_source_id"])
    assert ds["tables"] == []


def test_the_ledger_is_read_page_by_page(
    emulator: EmulatorProcess, client: DustClient, seen: SeenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "PAGE", 3)
    writer = GenerationLedger(client)
    for batch in range(10):
        assert writer.record(USERS, 4, [f"users-{batch}-{i}" for i in range(5)])
    reader = GenerationLedger(client)
    users = seen.stream("users")
    reader.register(USERS, users, keep_from=4, prune_below=4)
    before = emulator.counters()["routes"].get("GET rows", {})
    assert reader.vouch(USERS) == 50
    wanted = [f"users-{b}-{i}" for b in range(10) for i in range(5)]
    assert users.contains_many(wanted) == set(wanted)
    pages = sum(emulator.counters()["routes"].get("GET rows", {}).values()) - sum(before.values())
    assert pages == 5  # 10 rows, 3 per page, and the empty page that ends the listing


@given(
    namespace=st.none() | st.text(min_size=1, max_size=8),
    name=st.text(min_size=1, max_size=8),
    generation=st.integers(min_value=0, max_value=2**53),
    document_ids=st.lists(st.text(max_size=30), min_size=1, max_size=20),
)
def test_every_row_reads_back_as_written(
    namespace: str | None, name: str, generation: int, document_ids: list[str]
) -> None:
    stream = StreamKey(namespace or None, name)
    row = orjson.loads(orjson.dumps(row_for(stream, generation, document_ids)))  # as it travels
    parsed = parse_row(row)
    assert parsed is not None
    assert (parsed.stream, parsed.generation) == (stream, generation)
    assert set(parsed.document_ids) == set(document_ids)
