"""A property of composed documents, against the emulator over real HTTP: child records split over any number of
syncs, in any order, with edits and CDC deletes (and the parent sent in any sync, or never), end in the same
documents as composing the final set of records in one sync. And the bound on pending changes holds."""

from __future__ import annotations

import io
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import httpx
import orjson
import pytest
from bench import helpdesk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_dust import compose_sink
from destination_dust.catalog import parse_catalog
from destination_dust.client import DustClient
from destination_dust.config import parse_config
from destination_dust.protocol import Output
from destination_dust.writer import Writer
from dust_emulator.testing import EmulatorThread, thread_settings

COMPARED = ("title", "text", "tags", "timestamp", "source_url")


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(settings=thread_settings(rate_limit=0)) as emulator:
        yield emulator


def _sync(
    emu: EmulatorThread, records: list[dict[str, Any]], transport: httpx.BaseTransport | None = None
) -> None:
    config = parse_config(
        {**emu.config, "document_upserts_per_minute": 0, "streams": helpdesk.STREAM_SETTINGS}
    )
    client = DustClient(config, httpx.Client(transport=transport)) if transport is not None else None
    streams = parse_catalog(helpdesk.configured_catalog(), config.format_for)
    lines = [orjson.dumps(helpdesk.record(r["stream"], r["data"])) for r in records]
    lines.append(orjson.dumps(helpdesk.state("ticket_comments", {"end": True})))
    stdout = io.BytesIO()
    Writer(config, streams, Output(stdout), client).run(io.BytesIO(b"\n".join(lines) + b"\n"))
    assert b'"end":true' in stdout.getvalue()  # the sync completed and checkpointed


def _posts(emu: EmulatorThread) -> int:
    return int(emu.counters()["routes"].get("POST documents", {}).get("200", 0))


def _documents(emu: EmulatorThread) -> dict[str, dict[str, Any]]:
    return {d["document_id"]: {k: d.get(k) for k in COMPARED} for d in emu.documents()}


# one operation: (comment id, ticket id, body) writes a version; body None deletes the comment (CDC)
operations = st.lists(
    st.tuples(st.integers(1, 6), st.sampled_from(["first", "second", "third", None])), min_size=1, max_size=14
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=operations,
    cuts=st.lists(st.integers(0, 14), max_size=3),
    ticket_sync=st.sampled_from([None, 0, 1, 2, 3]),
    ticket_version=st.sampled_from(["open", "solved"]),
)
def test_any_split_over_syncs_ends_like_one_sync_of_the_final_records(
    emu: EmulatorThread, ops: list[tuple[int, str | None]], cuts: list[int], ticket_sync: int | None,
    ticket_version: str,
) -> None:  # fmt: skip
    records: list[dict[str, Any]] = []
    final: dict[int, dict[str, Any]] = {}
    for step, (comment_id, body) in enumerate(ops):
        ticket_id = 1 + comment_id % 2  # comments 1-6 on tickets 1 and 2
        data = helpdesk.comment(comment_id, ticket_id, minute=comment_id * 7, body=f"{body} {comment_id}")
        data["updated_at"] = f"2024-12-01T00:{step:02d}:00Z"  # each operation is newer than the one before
        if body is None:
            data["_ab_cdc_deleted_at"] = data["updated_at"]
            final.pop(comment_id, None)
        else:
            final[comment_id] = data
        records.append({"stream": "ticket_comments", "data": data})
    ticket = {**helpdesk.ticket(1), "status": ticket_version}
    bounds = sorted({min(c, len(records)) for c in cuts} | {0, len(records)})
    syncs = [records[a:b] for a, b in pairwise(bounds)] or [[]]
    if ticket_sync is not None:
        syncs[min(ticket_sync, len(syncs) - 1)].append({"stream": "tickets", "data": ticket})

    emu.reset()
    for batch in syncs:
        _sync(emu, batch)
    split = _documents(emu)

    emu.reset()
    one = [{"stream": "ticket_comments", "data": d} for d in final.values()]
    if ticket_sync is not None:
        one.append({"stream": "tickets", "data": ticket})
    _sync(emu, one)
    assert split == _documents(emu)


def test_a_reader_over_the_pending_memory_bound_waits_for_the_writers_and_loses_nothing(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for a few comments only, the reader waits for the lanes (which then write at once, without
    waiting for documents to settle); every comment lands in its ticket, every state is echoed."""
    monkeypatch.setattr(compose_sink, "MAX_HELD_BYTES", 2_000)
    emu.reset()
    tickets, per_ticket = 12, 8
    records = [{"stream": "tickets", "data": helpdesk.ticket(n)} for n in range(1, tickets + 1)]
    records += [{"stream": "ticket_comments", "data": c} for c in helpdesk.comments(tickets, per_ticket)]
    posts = _posts(emu)
    _sync(emu, records)
    assert _posts(emu) - posts > tickets  # the bound made lanes write tickets before all their comments came
    documents = emu.documents()
    assert len(documents) == tickets
    assert sum(d["text"].count("<!--airbyte:child ") for d in documents) == tickets * per_ticket


class _ListingWithoutText(httpx.BaseTransport):
    """Real HTTP to the emulator, but document listings come back without `text` (Dust pins the text for the
    one-document GET only): the rebuild must read each document alone."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.single_gets = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        path = request.url.path
        if request.method == "GET" and "/documents/" in path:
            self.single_gets += 1
        if request.method != "GET" or not path.endswith("/documents"):
            return response
        body = orjson.loads(response.read())
        for document in body.get("documents", []):
            document.pop("text", None)
        return httpx.Response(response.status_code, json=body)


def test_a_listing_without_text_makes_the_rebuild_read_each_document_alone(emu: EmulatorThread) -> None:
    emu.reset()
    transport = _ListingWithoutText()
    first = [{"stream": "tickets", "data": helpdesk.ticket(1)}]
    first += [{"stream": "ticket_comments", "data": c} for c in helpdesk.comments(1, 3)]
    _sync(emu, first, transport)
    _sync(emu, [{"stream": "ticket_comments", "data": helpdesk.comment(99, 1, 99_999)}], transport)
    (document,) = emu.documents()
    assert document["text"].count("<!--airbyte:child ") == 4  # the 3 stored comments kept, the new one added
    assert "description: " in document["text"]
    assert transport.single_gets >= 1
