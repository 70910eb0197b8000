"""Documents mode that agents can use, through the real CLI against the emulator: the help-desk sample lands
exactly as the golden renderings say (ids, titles, tags, timestamps, Markdown text), search finds a ticket
by a phrase of its body, a re-sync of the same input rewrites nothing, keys that look alike stay distinct
documents, and an oversized record is truncated (with a warning) instead of failing the sync."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dust_emulator.testing import EmulatorProcess
from tests.helpers import (
    ROOT,
    CliResult,
    catalog,
    configured_stream,
    jsonl,
    record,
    run_cli,
    stream_state,
    write_json,
)

EXAMPLES = ROOT / "examples" / "data"
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
SAMPLE_RECORDS = (EXAMPLES / "records.jsonl").read_bytes()
SAMPLE_CATALOG = str(EXAMPLES / "catalog.json")
TWO_MB = 2 * 1024 * 1024
TRUNCATION_MARKER = "[truncated by Airbyte: the record was "


@pytest.fixture
def dust(emulator: EmulatorProcess) -> EmulatorProcess:
    """The emulator without its (test-session) rate limit of 20 POSTs per 10 s: these tests are about what
    is stored, and waiting out 429s would only make them slow."""
    emulator.update_settings(rate_limit=0)
    return emulator


def _sample_config(emulator: EmulatorProcess) -> dict[str, Any]:
    settings = json.loads((EXAMPLES / "config.documents.json").read_text())
    return {**settings, **emulator.config, "document_upserts_per_minute": 0}


def _write(
    emulator: EmulatorProcess, tmp_path: Path, streams: dict[str, Any] | str, stdin: bytes, **settings: Any
) -> CliResult:
    config = write_json(
        tmp_path, "config.json", {**emulator.config, "document_upserts_per_minute": 0, **settings}
    )
    catalog_path = streams if isinstance(streams, str) else write_json(tmp_path, "catalog.json", streams)
    result = run_cli(["write", "--config", config, "--catalog", catalog_path], stdin)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert not result.traces
    return result


def _sync_sample(emulator: EmulatorProcess, tmp_path: Path) -> CliResult:
    result = _write(emulator, tmp_path, SAMPLE_CATALOG, SAMPLE_RECORDS, **_sample_config(emulator))
    # every state of the input comes back (records.jsonl has 6)
    assert len(result.states) == SAMPLE_RECORDS.count(b'"type": "STATE"') == 6
    return result


def _flatten(section: dict[str, Any]) -> str:
    """Dust's text of a section tree: prefix, content, then the children, depth first."""
    own = (section.get("prefix") or "") + (section.get("content") or "")
    return own + "".join(_flatten(child) for child in section.get("sections") or [])


def _golden() -> dict[str, dict[str, Any]]:
    golden = {}
    for path in sorted(GOLDEN.glob("*.json")):
        entry = json.loads(path.read_text())
        entry["markdown"] = path.with_suffix(".md").read_text()
        golden[entry["document_id"]] = entry
    return golden


def _post_count(emulator: EmulatorProcess) -> int:
    return sum(emulator.counters()["routes"].get("POST documents", {}).values())


def _last_sample_record(stream: str, record_id: int) -> dict[str, Any]:
    """The data of the last record of `stream` with this `id` in records.jsonl (the version Dust keeps)."""
    records = [json.loads(line) for line in SAMPLE_RECORDS.splitlines()]
    data: dict[str, Any] = [
        m["record"]["data"]
        for m in records
        if m["type"] == "RECORD"
        and m["record"]["stream"] == stream
        and m["record"]["data"]["id"] == record_id
    ][-1]
    return data


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- 1. the realistic sample lands as the golden files say


def test_sample_lands_with_golden_ids_titles_tags_timestamps_and_text(
    dust: EmulatorProcess, tmp_path: Path
) -> None:
    golden = _golden()
    assert len(golden) == 27  # 28 records, ticket 4521 sent twice (its later version wins)
    result = _sync_sample(dust, tmp_path)
    assert not [log for log in result.logs if "truncated from" in log]

    stored = {doc["document_id"]: doc for doc in dust.documents()}
    assert sorted(stored) == sorted(golden)
    for document_id, entry in golden.items():
        body, doc = entry["body"], stored[document_id]
        assert entry["truncated"] is False
        # the .md golden is the flattened section tree: the text Dust indexes and chunks
        assert entry["markdown"] == _flatten(body["section"]), document_id
        assert doc["text"] == entry["markdown"], document_id
        assert doc["section"] == body["section"], document_id
        assert doc["title"] == body["title"], document_id
        # Dust appends a `title:` tag when the upsert sent none; nothing else is added or reordered
        assert doc["tags"] == [*body["tags"], f"title:{body['title']}"], document_id
        assert doc["timestamp"] == body["timestamp"], document_id
        assert doc["source_url"] == body.get("source_url"), document_id
        assert doc["mime_type"] == "text/markdown", document_id

    # what each stream of the sample is there to show, spelled out
    ticket = stored["tickets-4521"]  # long body: its own `## description` section, the later version
    assert ticket["title"] == "Cannot export invoices to PDF"
    assert ticket["timestamp"] == 1732296600000  # updated_at 2024-11-22T17:30:00Z, the cursor
    assert ticket["source_url"] == "https://help.example.com/tickets/4521"
    assert [child["prefix"] for child in ticket["section"]["sections"]] == ["## description\n"]
    assert "A fix was deployed on Nov 22" in ticket["section"]["sections"][0]["content"]
    assert {"status:solved", "priority:high", "airbyte:stream:tickets"} <= set(ticket["tags"])
    user = stored["users-17"]  # nested address flattened into dotted lines
    assert user["title"] == "Priya Raman"
    assert "address.city: Bristol\naddress.postal_code: BS1 5TR\n" in user["text"]
    assert "role:customer" in user["tags"]
    line = stored["order_lines-9001-1"]  # composite key: both parts in the id, the header and the title
    assert line["title"] == "order_lines order_id=9001 line_no=1: 2024-11-18"
    assert "$order_id: 9001\n$line_no: 1\n" in line["section"]["prefix"]
    events = [doc for doc in stored.values() if "airbyte:stream:events" in doc["tags"]]
    assert len(events) == 6  # no key: one content-hash id per record
    assert all(doc["document_id"].startswith("events-~c") for doc in events)


# --- 2. search finds a ticket by a phrase of its body


@pytest.mark.parametrize(
    ("phrase", "ticket"),
    [
        ("switched our identity provider to Okta", "tickets-4526"),
        ("month-end close for the accounting team", "tickets-4521"),
        ("no Retry-After header so retries pile up", "tickets-4524"),
    ],
)
def test_search_finds_a_ticket_by_a_phrase_of_its_body(
    dust: EmulatorProcess, tmp_path: Path, phrase: str, ticket: str
) -> None:
    _sync_sample(dust, tmp_path)
    with dust.api_client() as api:
        answer = api.get(f"{dust.ds_path}/search", params={"query": phrase, "top_k": 5, "full_text": "true"})
    assert answer.status_code == 200, answer.text
    hits = answer.json()["documents"]
    assert hits, phrase
    top = hits[0]
    assert top["document_id"] == ticket
    assert top["chunks"][0]["score"] > hits[1]["chunks"][0]["score"]  # not a tie that happened to sort first
    assert top["tags"][-1].startswith("title:") and "airbyte:stream:tickets" in top["tags"]
    description = _last_sample_record("tickets", int(ticket.split("-")[1]))["description"]
    assert description in top["text"]  # the whole body is in the document agents get back


# --- 3. a re-sync of the same input rewrites nothing


def test_resync_of_the_same_input_creates_and_posts_nothing_new(
    dust: EmulatorProcess, tmp_path: Path
) -> None:
    _sync_sample(dust, tmp_path)
    first = {doc["document_id"]: doc for doc in dust.documents()}
    posts_before = _post_count(dust)
    assert posts_before == 28  # one POST per record on the first sync

    result = _sync_sample(dust, tmp_path)
    second = {doc["document_id"]: doc for doc in dust.documents()}
    new_posts = _post_count(dust) - posts_before
    assert sorted(second) == sorted(first) and len(second) == 27
    assert {key: doc["hash"] for key, doc in second.items()} == {
        key: doc["hash"] for key, doc in first.items()
    }
    rewritten = sorted(key for key, doc in second.items() if doc["created"] != first[key]["created"])
    # ticket 4521 comes twice in the input: its first (older) version differs from what Dust holds, so at
    # most that one and its later version are sent again; every other record is skipped as unchanged
    assert new_posts <= 2, new_posts
    assert rewritten == (["tickets-4521"] if new_posts else []), rewritten
    assert "DELETE documents" not in dust.counters()["routes"]
    done = next(log for log in result.logs if log.startswith("sync done"))
    assert (
        f"({28 - new_posts} unchanged skipped, 0 truncated), 0 deleted (0 by CDC, 0 by clean-ups)" in done
    ), done


# --- 4. keys that look alike stay distinct documents


def test_lookalike_keys_give_distinct_documents(dust: EmulatorProcess, tmp_path: Path) -> None:
    composite = configured_stream("composite", mode="append_dedup", primary_key=[["a"], ["b"]])
    single = configured_stream("single", mode="append_dedup", primary_key=[["k"]])
    composite_records: dict[str, dict[str, Any]] = {  # expected id -> record
        "composite-a_b-c": {"a": "a_b", "b": "c"},
        "composite-a-b_c": {"a": "a", "b": "b_c"},
        "composite-a%2Db-c": {"a": "a-b", "b": "c"},  # a `-` inside a part is escaped
    }
    single_records: dict[str, dict[str, Any]] = {
        "single-a.b": {"k": "a.b"},
        "single-a%2Db": {"k": "a-b"},
        "single-a%252Db": {"k": "a%2Db"},  # the literal escape of "a-b" is not "a-b"
        "single-~e": {"k": ""},
        "single-~n": {"k": None},
        "single-%7Ee": {"k": "~e"},
    }
    expected: dict[str, dict[str, Any]] = {}
    messages = []
    for index, (document_id, data) in enumerate([*composite_records.items(), *single_records.items()]):
        stream = "composite" if document_id.startswith("composite") else "single"
        expected[document_id] = {**data, "note": f"marker{index:02d}marker"}
        messages.append(record(stream, expected[document_id]))
    messages += [stream_state("composite", {"n": 1}), stream_state("single", {"n": 1})]
    distinct_keys = {tuple(data.values())[:-1] for data in expected.values()}
    assert len(distinct_keys) == len(expected) == 9

    result = _write(dust, tmp_path, catalog(composite, single), jsonl(messages))
    assert len(result.states) == 2

    stored = {doc["document_id"]: doc for doc in dust.documents()}
    assert sorted(stored) == sorted(expected)
    for document_id, data in expected.items():
        text = stored[document_id]["text"]
        assert f"note: {data['note']}\n" in text, document_id
        for name, value in data.items():
            if value:  # empty strings and nulls are left out of the text
                assert f"{name}: {value}\n" in text, (document_id, name)
        others = [d["note"] for other, d in expected.items() if other != document_id]
        assert not [note for note in others if note in text], document_id
    # readable fallback titles: the key as the source spelled it
    assert stored["composite-a_b-c"]["title"] == "composite a=a_b b=c"
    assert stored["single-a%2Db"]["title"] == "single a-b"
    assert stored["single-~e"]["title"] == 'single ""'
    assert stored["single-~n"]["title"] == "single null"


# --- 5. an oversized record is truncated, not fatal


def test_a_5_mb_record_lands_truncated_with_a_warning(dust: EmulatorProcess, tmp_path: Path) -> None:
    # non-ASCII on purpose: the limit is in UTF-16 units (an emoji is 2), not characters or bytes
    paragraph = "Ticket transcript line with café notes and a rocket 🚀 emoji.\n"
    body = "FIRSTLINE " + paragraph * (5 * 1024 * 1024 // len(paragraph.encode()) + 1)
    assert len(body.encode()) >= 5 * 1024 * 1024
    notes = configured_stream("notes", mode="append_dedup", primary_key=[["id"]])
    stdin = jsonl(
        [
            record("notes", {"id": 7, "title": "Huge transcript", "transcript": body}),
            record("notes", {"id": 8, "title": "Small one", "transcript": "short"}),
            stream_state("notes", {"n": 1}),
        ]
    )
    result = _write(dust, tmp_path, catalog(notes), stdin)
    assert len(result.states) == 1

    warnings = [
        m["log"]["message"] for m in result.of_type("LOG") if m["log"]["level"] in ("WARN", "WARNING")
    ]
    truncations = [w for w in warnings if "truncated from" in w]
    assert len(truncations) == 1, warnings
    assert "stream notes" in truncations[0] and "'notes-7'" in truncations[0]
    assert "to at most 2,097,152 characters" in truncations[0]
    assert "rocket" not in "\n".join(result.logs)  # warnings never quote record content

    stored = {doc["document_id"]: doc for doc in dust.documents()}
    assert sorted(stored) == ["notes-7", "notes-8"]
    text = stored["notes-7"]["text"]
    assert _utf16_len(text) <= TWO_MB
    assert _utf16_len(text) > TWO_MB - 4096  # cut near the limit, not emptied
    assert stored["notes-7"]["title"] == "Huge transcript"
    assert "## transcript\nFIRSTLINE " in text
    assert text.rstrip("\n").endswith("Dust's limit is 2,097,152]")
    assert text.count(TRUNCATION_MARKER) == 1
    original = int(text.rsplit(TRUNCATION_MARKER, 1)[1].split(" characters", 1)[0].replace(",", ""))
    assert original > _utf16_len(body)  # the whole record's length (header and other fields included)
    assert f"truncated from {original:,} to" in truncations[0]
    assert "\ufffd" not in text  # no emoji split in half
    assert TRUNCATION_MARKER not in stored["notes-8"]["text"]
