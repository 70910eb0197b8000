"""A small help-desk sample (tickets as documents, users as a table), synced by the real CLI."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".venv" / "bin" / "destination-dust"

TICKETS: list[dict[str, Any]] = [
    {
        "id": 4312,
        "subject": "Refund not received",
        "status": "open",
        "priority": "high",
        "requester": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "updated_at": "2024-05-02T09:30:00Z",
        "url": "https://support.example.com/tickets/4312",
        "description": "I returned the blender on April 12 and I still have not been refunded. The courier's "
        "tracking page says the parcel reached your warehouse on April 15, and your return policy promises a "
        "refund within 5 working days.\n\nOrder #A-1042.",
    },
    {
        "id": 4313,
        "subject": "Cannot log in after password reset",
        "status": "pending",
        "priority": "normal",
        "requester": {"name": "Grace Hopper", "email": "grace@example.com"},
        "updated_at": "2024-05-03T14:05:00Z",
        "url": "https://support.example.com/tickets/4313",
        "description": "The reset link works but the new password is refused with error E-401.",
    },
    {
        "id": 4314,
        "subject": "Invoice shows the wrong VAT number",
        "status": "solved",
        "priority": "low",
        "requester": {"name": "Alan Turing", "email": "alan@example.com"},
        "updated_at": "2024-05-04T08:00:00Z",
        "url": "https://support.example.com/tickets/4314",
        "description": "Our VAT number is GB123456789, the invoice of May says GB987654321.",
    },
]

USERS: list[dict[str, Any]] = [
    {
        "id": i,
        "name": name,
        "email": f"{name.split()[0].lower()}@example.com",
        "plan": plan,
        "seats": seats,
        "created_at": f"2023-0{i}-15T10:00:00Z",
    }
    for i, (name, plan, seats) in enumerate(
        [("Ada Lovelace", "pro", 5), ("Grace Hopper", "free", 1), ("Alan Turing", "enterprise", 120)], start=1
    )
]

SCHEMAS: dict[str, dict[str, Any]] = {
    "tickets": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "subject": {"type": "string"},
            "status": {"type": "string"},
            "priority": {"type": "string"},
            "requester": {"type": "object"},
            "updated_at": {"type": "string", "format": "date-time"},
            "url": {"type": "string"},
            "description": {"type": "string"},
        },
    },
    "users": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "email": {"type": "string"},
            "plan": {"type": "string"},
            "seats": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
}


def catalog() -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": schema,
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_primary_key": [["id"]],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
                "primary_key": [["id"]],
                "cursor_field": ["updated_at"] if name == "tickets" else [],
                "generation_id": 1,
                "minimum_generation_id": 0,
                "sync_id": 1,
            }
            for name, schema in SCHEMAS.items()
        ]
    }


def messages() -> bytes:
    lines = []
    for stream, records in (("tickets", TICKETS), ("users", USERS)):
        for data in records:
            record = {"stream": stream, "data": data, "emitted_at": 1_714_640_000_000}
            lines.append({"type": "RECORD", "record": record})
        lines.append(
            {
                "type": "STATE",
                "state": {
                    "type": "STREAM",
                    "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"done": True}},
                },
            }
        )
    return b"".join(orjson.dumps(m) + b"\n" for m in lines)


def destination_config(emulator_config: dict[str, Any]) -> dict[str, Any]:
    return {
        **emulator_config,
        "data_format": "documents",
        "stream_formats": {"users": "tables"},
        "title_field": "subject",
        "url_field": "url",
        "timestamp_field": "updated_at",
        "tag_fields": ["status", "priority"],
    }


def sync(emulator_config: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    """Run `destination-dust write` on the sample; returns its stdout messages (fails on a non-zero exit)."""
    config_path = workdir / "config.json"
    catalog_path = workdir / "catalog.json"
    config_path.write_bytes(orjson.dumps(destination_config(emulator_config)))
    catalog_path.write_bytes(orjson.dumps(catalog()))
    proc = subprocess.run(
        [str(CLI), "write", "--config", str(config_path), "--catalog", str(catalog_path)],
        input=messages(),
        capture_output=True,
        timeout=120,
        env={**os.environ},
        cwd=workdir,
    )
    out = [orjson.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert proc.returncode == 0, (proc.stderr.decode(errors="replace")[-3000:], out[-5:])
    return out


@dataclass
class SyncedEmulator:
    base_url: str
    config: dict[str, Any]
    messages: list[dict[str, Any]]

    @property
    def ui_url(self) -> str:
        return f"{self.base_url}/__emulator/ui/"

    def dump(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.base_url}/__emulator/dump", timeout=10).json()
        return answer
