"""Composed documents through the real CLI against the emulator, on a help-desk dataset (tickets, ticket_comments
with 10 per ticket, users): sync 1 writes one document per ticket holding its comments in order, users as their
own documents and no comment document; sync 2 (incremental) sends new comments on old tickets without their
tickets, an edited comment and a CDC-deleted one: each ticket's document then holds exactly its current
comments, and untouched tickets were not written again."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from bench import helpdesk

from dust_emulator.testing import EmulatorProcess
from tests.helpers import CliResult, complete, jsonl, run_cli, write_json

TICKETS = 20
PER_TICKET = 10
USERS = 5
SECTION = re.compile(r"^### (.+)\nbody: (.+)$", re.MULTILINE)


@pytest.fixture
def dust(emulator: EmulatorProcess) -> EmulatorProcess:
    emulator.update_settings(rate_limit=0)
    return emulator


def _sync(
    dust: EmulatorProcess,
    tmp_path: Path,
    messages: list[dict[str, Any]],
    catalog: dict[str, Any] | None = None,
    **settings: Any,
) -> CliResult:
    result = _write(dust, tmp_path, messages, catalog, **settings)
    assert result.returncode == 0 and not result.traces, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _write(
    dust: EmulatorProcess,
    tmp_path: Path,
    messages: list[dict[str, Any]],
    catalog: dict[str, Any] | None = None,
    **settings: Any,
) -> CliResult:
    config = {
        **dust.config,
        "document_upserts_per_minute": 0,
        "streams": helpdesk.STREAM_SETTINGS,
        **settings,
    }
    result = run_cli(
        [
            "write",
            "--config",
            write_json(tmp_path, "config.json", config),
            "--catalog",
            write_json(tmp_path, "catalog.json", catalog or helpdesk.configured_catalog()),
        ],
        jsonl(messages),
    )
    return result


def _with_states(records: list[dict[str, Any]], every: int = 50) -> list[dict[str, Any]]:
    """Records with a STREAM state of the last record's stream every `every` records (and at the end)."""
    messages: list[dict[str, Any]] = []
    for position, message in enumerate(records, start=1):
        messages.append(message)
        if position % every == 0 or position == len(records):
            messages.append(helpdesk.state(message["record"]["stream"], {"position": position}))
    return messages


def _heading(comment: dict[str, Any]) -> tuple[str, str]:
    return f"{comment['author']['name']} at {comment['created_at']}", comment["body"]


def _expected(comments: dict[int, dict[str, Any]], ticket_id: int) -> list[tuple[str, str]]:
    mine = sorted(
        (c for c in comments.values() if c["ticket_id"] == ticket_id), key=lambda c: c["created_at"]
    )
    return [_heading(c) for c in mine]


def test_two_syncs_compose_comments_into_their_tickets(dust: EmulatorProcess, tmp_path: Path) -> None:
    tickets = [helpdesk.ticket(n) for n in range(1, TICKETS + 1)]
    comments = {c["id"]: c for c in helpdesk.comments(TICKETS, PER_TICKET)}
    first = [helpdesk.record("tickets", t) for t in tickets]
    first += [helpdesk.record("ticket_comments", c) for c in comments.values()]
    first += [helpdesk.record("users", helpdesk.user(n)) for n in range(1, USERS + 1)]
    result = _sync(dust, tmp_path, _with_states(first))
    assert len(result.states) == len(_with_states(first)) - len(first)  # every state echoed

    stored = {d["document_id"]: d for d in dust.documents()}
    assert sorted(stored) == sorted(
        [f"tickets-{n}" for n in range(1, TICKETS + 1)] + [f"users-{n}" for n in range(1, USERS + 1)]
    )
    for ticket in tickets:
        document = stored[f"tickets-{ticket['id']}"]
        assert document["title"] == ticket["subject"]
        assert f"description: {ticket['description']}" in document["text"]
        assert SECTION.findall(document["text"]) == _expected(comments, ticket["id"])
        assert {
            "airbyte:stream:tickets",
            "airbyte:stream:ticket_comments",
            f"status:{ticket['status']}",
        } <= set(document["tags"])
        assert document["source_url"] == ticket["url"]
        last = max(c["created_at"] for c in comments.values() if c["ticket_id"] == ticket["id"])
        assert document["text"].split("\n")[1] == f"$updatedAt: {last[:-1]}.000Z"  # the latest of its parts
    assert stored["users-3"]["title"] == "Katherine Johnson 3"  # a name, not the honorific in `title`
    written_once = {d: stored[d]["created"] for d in stored}

    # sync 2: new comments on tickets 1-5 (without the tickets), comment 25 edited, comment 30 deleted
    new = [helpdesk.comment(1000 + n, 1 + n % 5, 90_000 + n) for n in range(10)]
    edited = {
        **comments[25],
        "body": "Edited: the export works with the new token.",
        "updated_at": "2024-12-01T00:00:00Z",
    }
    deleted = {**comments[30], "_ab_cdc_deleted_at": "2024-12-01T00:00:00Z"}
    second = [helpdesk.record("ticket_comments", c) for c in [*new[:5], edited, *new[5:], deleted]]
    result = _sync(dust, tmp_path, _with_states(second, every=4))
    assert len(result.states) == 3

    for comment in new:
        comments[comment["id"]] = comment
    comments[25] = edited
    del comments[30]
    stored = {d["document_id"]: d for d in dust.documents()}
    assert not [d for d in stored if d.startswith("ticket_comments")]
    touched = {f"tickets-{c['ticket_id']}" for c in [*new, edited, deleted]}
    for ticket in tickets:
        document_id = f"tickets-{ticket['id']}"
        assert SECTION.findall(stored[document_id]["text"]) == _expected(comments, ticket["id"]), document_id
        assert f"description: {ticket['description']}" in stored[document_id]["text"]  # kept from Dust's copy
        assert stored[document_id]["title"] == ticket["subject"]
        if document_id not in touched:
            assert stored[document_id]["created"] == written_once[document_id], f"{document_id} was rewritten"
    assert all(stored[d]["created"] == written_once[d] for d in stored if d.startswith("users"))


def test_a_comment_before_its_ticket_lands_and_the_ticket_completes_its_document(
    dust: EmulatorProcess, tmp_path: Path
) -> None:
    orphan = helpdesk.comment(1, 77, 100)
    _sync(dust, tmp_path, _with_states([helpdesk.record("ticket_comments", orphan)]))
    (document,) = dust.documents()
    assert document["document_id"] == "tickets-77" and document["title"] == "tickets 77"
    assert SECTION.findall(document["text"]) == [_heading(orphan)]
    ticket = helpdesk.ticket(77)
    _sync(dust, tmp_path, _with_states([helpdesk.record("tickets", ticket)]))
    (document,) = dust.documents()
    assert document["title"] == ticket["subject"]
    assert SECTION.findall(document["text"]) == [_heading(orphan)]
    assert f"description: {ticket['description']}" in document["text"]


def test_a_deleted_ticket_takes_its_comments_with_it(dust: EmulatorProcess, tmp_path: Path) -> None:
    records = [helpdesk.record("tickets", helpdesk.ticket(n)) for n in (1, 2)]
    records += [helpdesk.record("ticket_comments", c) for c in helpdesk.comments(2, 3)]
    _sync(dust, tmp_path, _with_states(records))
    gone = {**helpdesk.ticket(2), "_ab_cdc_deleted_at": "2024-12-01T00:00:00Z"}
    _sync(dust, tmp_path, _with_states([helpdesk.record("tickets", gone)]))
    assert [d["document_id"] for d in dust.documents()] == ["tickets-1"]


def test_an_oversized_ticket_keeps_the_newest_comments_and_says_how_many_were_left_out(
    dust: EmulatorProcess, tmp_path: Path
) -> None:
    long_body = "x" * 900
    comments = [helpdesk.comment(n, 1, n, body=f"{n} {long_body}") for n in range(1, 41)]
    records = [helpdesk.record("tickets", helpdesk.ticket(1))]
    records += [helpdesk.record("ticket_comments", c) for c in comments]
    result = _sync(dust, tmp_path, _with_states(records), max_document_size_mb=0.02)  # 20,971 characters
    (document,) = dust.documents()
    numbers = re.findall(r"^### .+\n## body\n(\d+) x+$", document["text"], re.MULTILINE)
    kept = len(numbers)
    assert 10 < kept < 40
    assert numbers == [str(n) for n in range(41 - kept, 41)]  # the newest, in order
    assert f"[{40 - kept:,} older ticket_comments records left out" in document["text"]
    assert len(document["text"]) <= 0.02 * 1024 * 1024
    assert any("left out" in log for log in result.logs)


def test_overwrite_of_the_comments_removes_the_sections_not_resent_after_complete(
    dust: EmulatorProcess, tmp_path: Path
) -> None:
    records = [helpdesk.record("tickets", helpdesk.ticket(n)) for n in (1, 2)]
    comments = list(helpdesk.comments(2, 3))  # 1, 3, 5 on ticket 1; 2, 4, 6 on ticket 2
    records += [helpdesk.record("ticket_comments", c) for c in comments]
    _sync(dust, tmp_path, _with_states(records))
    kept = [c for c in comments if c["id"] in (1, 2, 6)]
    resent = _with_states([helpdesk.record("ticket_comments", c) for c in kept])
    catalog = helpdesk.configured_catalog(comment_mode="overwrite")
    without_complete = _sync(dust, tmp_path, resent, catalog=catalog)
    assert any("did not run" in log for log in without_complete.logs)
    assert len(SECTION.findall(_text(dust, "tickets-1"))) == 3  # no COMPLETE: nothing removed
    completed = _sync(dust, tmp_path, [*resent, complete("ticket_comments")], catalog=catalog)
    assert not any("did not run" in log for log in completed.logs)
    assert SECTION.findall(_text(dust, "tickets-1")) == [_heading(comments[0])]
    assert SECTION.findall(_text(dust, "tickets-2")) == [_heading(comments[1]), _heading(comments[5])]
    assert "description: " in _text(dust, "tickets-1")  # the ticket's own content is untouched


def test_a_child_stream_once_composed_loses_its_own_documents_in_an_overwrite(
    dust: EmulatorProcess, tmp_path: Path
) -> None:
    records = [helpdesk.record("tickets", helpdesk.ticket(n)) for n in (1, 2)]
    comments = list(helpdesk.comments(2, 3))
    records += [helpdesk.record("ticket_comments", c) for c in comments]
    standalone = [s for s in helpdesk.STREAM_SETTINGS if s["name"] != "ticket_comments"]
    _sync(dust, tmp_path, _with_states(records), streams=standalone)  # comments as documents of their own
    assert sum(d["document_id"].startswith("ticket_comments-") for d in dust.documents()) == 6
    catalog = helpdesk.configured_catalog(comment_mode="overwrite")
    comment_records = [r for r in records if r["record"]["stream"] == "ticket_comments"]
    result = _sync(
        dust, tmp_path, [*_with_states(comment_records), complete("ticket_comments")], catalog=catalog
    )
    assert not any(d["document_id"].startswith("ticket_comments-") for d in dust.documents())
    assert len(SECTION.findall(_text(dust, "tickets-1"))) == 3  # composed now
    assert any("6 documents of its own" in log for log in result.logs)


def test_overwrite_of_the_tickets_removes_tickets_not_resent_with_their_comments(
    dust: EmulatorProcess, tmp_path: Path
) -> None:
    records = [helpdesk.record("tickets", helpdesk.ticket(n)) for n in (1, 2, 3)]
    records += [helpdesk.record("ticket_comments", c) for c in helpdesk.comments(3, 2)]
    _sync(dust, tmp_path, _with_states(records))
    catalog = helpdesk.configured_catalog(ticket_mode="overwrite")
    resent = [
        helpdesk.record("tickets", helpdesk.ticket(1)),
        helpdesk.record("ticket_comments", helpdesk.comment(99, 3, 5)),
    ]
    _sync(dust, tmp_path, [*_with_states(resent), complete("tickets")], catalog=catalog)
    stored = {d["document_id"]: d for d in dust.documents()}
    assert sorted(stored) == ["tickets-1", "tickets-3"]  # 2 removed; 3 was touched by a comment of this sync
    assert len(SECTION.findall(stored["tickets-1"]["text"])) == 2  # its comments stay with it


def _text(dust: EmulatorProcess, document_id: str) -> str:
    (document,) = [d for d in dust.documents() if d["document_id"] == document_id]
    text: str = document["text"]
    return text


def _message(number: int, channel: str, at: str, text: str = "") -> dict[str, Any]:
    return {
        "id": number,
        "channel": channel,
        "user": helpdesk.NAMES[number % 6],
        "text": text or f"message {number}",
        "ts": at,
    }


def test_time_buckets_make_one_document_per_channel_and_day(dust: EmulatorProcess, tmp_path: Path) -> None:
    settings = [
        {
            "name": "messages",
            "group_by": ["channel"],
            "group_period": "day",
            "section_title": "{user} at {ts}",
        }
    ]
    catalog = {
        "streams": [
            {
                "stream": {
                    "name": "messages",
                    "json_schema": {"type": "object"},
                    "supported_sync_modes": ["incremental"],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
                "primary_key": [["id"]],
                "cursor_field": ["ts"],
            }
        ]
    }
    messages = [
        _message(1, "general", "2024-11-18T09:00:00Z"),
        _message(2, "support", "2024-11-18T09:05:00Z"),
        _message(3, "general", "2024-11-18T17:30:00Z"),
        _message(4, "general", "2024-11-19T08:00:00Z"),
    ]
    records = [helpdesk.record("messages", m) for m in messages]
    _sync(dust, tmp_path, _with_states(records), catalog=catalog, streams=settings)
    stored = {d["title"]: d for d in dust.documents()}
    assert sorted(stored) == [
        "messages: channel general (2024-11-18)",
        "messages: channel general (2024-11-19)",
        "messages: channel support (2024-11-18)",
    ]
    day = re.findall(r"^### (.+)$", stored["messages: channel general (2024-11-18)"]["text"], re.MULTILINE)
    assert day == ["Grace Hopper at 2024-11-18T09:00:00Z", "Katherine Johnson at 2024-11-18T17:30:00Z"]
    before = {d["document_id"]: d["created"] for d in dust.documents()}

    gone = {**messages[3], "_ab_cdc_deleted_at": "2024-11-20T00:00:00Z"}
    later = [_message(5, "support", "2024-11-18T12:00:00Z"), gone]
    records = [helpdesk.record("messages", m) for m in later]
    _sync(dust, tmp_path, _with_states(records), catalog=catalog, streams=settings)
    after = {d["title"]: d for d in dust.documents()}
    assert sorted(after) == [
        "messages: channel general (2024-11-18)",
        "messages: channel support (2024-11-18)",
    ]
    support = re.findall(r"^### (.+)$", after["messages: channel support (2024-11-18)"]["text"], re.MULTILINE)
    assert support == ["Alan Turing at 2024-11-18T09:05:00Z", "Barbara Liskov at 2024-11-18T12:00:00Z"]
    general = after["messages: channel general (2024-11-18)"]
    assert general["created"] == before[general["document_id"]]  # untouched


def test_a_parent_key_that_does_not_match_the_parent_stream_fails_before_anything_is_sent(
    dust: EmulatorProcess, tmp_path: Path
) -> None:
    settings = [
        {"name": "ticket_comments", "parent_stream": "tickets", "parent_key": ["ticket_id", "org_id"]}
    ]
    result = _write(
        dust, tmp_path, [helpdesk.record("ticket_comments", helpdesk.comment(1, 1, 1))], streams=settings
    )
    assert result.returncode == 1
    (trace,) = result.traces
    error = trace["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert "'ticket_comments'" in error["message"] and "parent_key has 2 paths" in error["message"]
    assert dust.documents() == []
