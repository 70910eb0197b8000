"""A help-desk dataset shaped like Zendesk's streams: `tickets`, `ticket_comments` (about 10 per ticket, sent in
time order across tickets, as a source sends them) and `users`, with the connection settings that compose
comments into their ticket's document. Deterministic; used by the composition tests, the benchmark and the
demo."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

START = dt.datetime(2024, 11, 1, 8, 0, tzinfo=dt.timezone.utc)
NAMES = [
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Edsger Dijkstra",
    "Barbara Liskov",
]
SUBJECTS = ["Invoice export fails", "SSO login loops", "Refund for a duplicate charge", "API returns 429",
            "Add a teammate", "Dark mode request", "Webhook retries", "CSV import truncates names"]  # fmt: skip
REPLIES = ["Thanks, we are looking into it.", "Tried that, still broken, see the attached log.",
           "Could you send the request id?", "A fix is deployed: please try again.",
           "It works now, thank you!", "Escalated to the billing team."]  # fmt: skip

# what a user writes in the connector config to get one document per ticket with its comments
STREAM_SETTINGS: list[dict[str, Any]] = [
    {"name": "tickets", "title_field": "subject", "tag_fields": ["status", "priority"], "url_field": "url"},
    {
        "name": "ticket_comments",
        "parent_stream": "tickets",
        "parent_key": ["ticket_id"],
        "order_by": "created_at",
        "section_title": "{author.name} at {created_at}",
        "text_fields": ["body"],
    },
    {
        "name": "users",
        "title_field": "name",
        "text_fields": ["name", "email", "role"],
        "tag_fields": ["role"],
    },
]

SCHEMAS: dict[str, dict[str, Any]] = {
    "tickets": {"id": {"type": "integer"}, "subject": {"type": "string"}, "description": {"type": "string"},
                "status": {"type": "string"}, "priority": {"type": "string"}, "requester_id": {"type": "integer"},
                "url": {"type": "string"}, "created_at": {"type": "string"}, "updated_at": {"type": "string"}},
    "ticket_comments": {"id": {"type": "integer"}, "ticket_id": {"type": "integer"},
                        "author": {"type": "object"}, "body": {"type": "string"},
                        "created_at": {"type": "string"}, "updated_at": {"type": "string"}},
    "users": {"id": {"type": "integer"}, "name": {"type": "string"}, "email": {"type": "string"},
              "role": {"type": "string"}},
}  # fmt: skip


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ticket(number: int) -> dict[str, Any]:
    created = START + dt.timedelta(minutes=number)
    return {
        "id": number,
        "subject": f"{SUBJECTS[number % len(SUBJECTS)]} (#{number})",
        "description": f"Customer {NAMES[number % len(NAMES)]} reports: {SUBJECTS[number % len(SUBJECTS)].lower()}.",
        "status": ("open", "pending", "solved")[number % 3],
        "priority": ("low", "normal", "high")[number % 3],
        "requester_id": number % 50,
        "url": f"https://help.example.com/tickets/{number}",
        "created_at": iso(created),
        "updated_at": iso(created),
    }


def comment(number: int, ticket_id: int, minute: int, body: str | None = None) -> dict[str, Any]:
    moment = START + dt.timedelta(minutes=minute)
    return {
        "id": number,
        "ticket_id": ticket_id,
        "author": {"name": NAMES[number % len(NAMES)]},
        "body": body or f"{REPLIES[number % len(REPLIES)]} (comment {number})",
        "created_at": iso(moment),
        "updated_at": iso(moment),
    }


def comments(
    tickets: int, per_ticket: int, first_id: int = 1, first_minute: int = 10_000
) -> Iterator[dict[str, Any]]:
    """`tickets * per_ticket` comments in time order: round `r` holds one comment on every ticket."""
    number = first_id
    for round_ in range(per_ticket):
        for ticket_id in range(1, tickets + 1):
            yield comment(number, ticket_id, first_minute + round_ * tickets + ticket_id)
            number += 1


def user(number: int) -> dict[str, Any]:
    name = NAMES[number % len(NAMES)]
    return {"id": number, "name": f"{name} {number}", "email": f"user{number}@example.com",
            "role": ("agent", "admin", "end-user")[number % 3], "title": ("Mr.", "Ms.", "Dr.")[number % 3]}  # fmt: skip


def configured_catalog(
    comment_mode: str = "append_dedup", ticket_mode: str = "append_dedup"
) -> dict[str, Any]:
    def entry(name: str, mode: str) -> dict[str, Any]:
        return {
            "stream": {
                "name": name,
                "json_schema": {"type": "object", "properties": SCHEMAS[name]},
                "supported_sync_modes": ["full_refresh", "incremental"],
            },
            "sync_mode": "incremental" if mode != "overwrite" else "full_refresh",
            "destination_sync_mode": mode,
            "primary_key": [["id"]],
            "cursor_field": ["updated_at"] if name != "users" else [],
        }

    return {
        "streams": [
            entry("tickets", ticket_mode),
            entry("ticket_comments", comment_mode),
            entry("users", "append_dedup"),
        ]
    }


def record(stream: str, data: dict[str, Any], emitted_at: int = 1_733_000_000_000) -> dict[str, Any]:
    return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": emitted_at}}


def state(stream: str, value: Any) -> dict[str, Any]:
    return {
        "type": "STATE",
        "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": value}},
    }
