"""Shared test helpers: run the real CLI as a subprocess and read its Airbyte messages."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "destination_dust"]
# a long fake key: short ones would be masked inside ordinary words and hide leaks
FAKE_KEY = "sk-" + "Zq7" * 19  # 60 characters


@dataclass
class CliResult:
    returncode: int
    stdout: bytes
    stderr: bytes
    lines: list[bytes] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def states(self) -> list[dict[str, Any]]:
        return self.of_type("STATE")

    @property
    def state_lines(self) -> list[bytes]:
        return [line for line, m in zip(self.lines, self.messages, strict=True) if m.get("type") == "STATE"]

    @property
    def traces(self) -> list[dict[str, Any]]:
        return [m for m in self.of_type("TRACE") if m["trace"].get("type") == "ERROR"]

    @property
    def logs(self) -> list[str]:
        return [m["log"]["message"] for m in self.of_type("LOG")]


def run_cli(
    args: list[str], stdin: bytes = b"", *, env: dict[str, str] | None = None, timeout: float = 120
) -> CliResult:
    proc = subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    result = CliResult(proc.returncode, proc.stdout, proc.stderr)
    for line in proc.stdout.splitlines():
        if line.strip():
            result.lines.append(line)
            result.messages.append(orjson.loads(line))  # every stdout line must be an Airbyte message
    return result


def write_json(directory: Path, name: str, value: Any) -> str:
    path = directory / name
    path.write_bytes(orjson.dumps(value))
    return str(path)


def jsonl(messages: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(m) + b"\n" for m in messages)


def record(
    stream: str, data: dict[str, Any], namespace: str | None = None, emitted_at: int = 1_700_000_000_000
) -> dict[str, Any]:
    body: dict[str, Any] = {"stream": stream, "data": data, "emitted_at": emitted_at}
    if namespace:
        body["namespace"] = namespace
    return {"type": "RECORD", "record": body}


def stream_state(stream: str, value: Any, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": stream}
    if namespace:
        descriptor["namespace"] = namespace
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": descriptor, "stream_state": value},
            **extra,
        },
    }


def complete(stream: str, namespace: str | None = None) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": stream}
    if namespace:
        descriptor["namespace"] = namespace
    return {
        "type": "TRACE",
        "trace": {
            "type": "STREAM_STATUS",
            "emitted_at": 1_700_000_000_000,
            "stream_status": {"stream_descriptor": descriptor, "status": "COMPLETE"},
        },
    }


def catalog(*streams: dict[str, Any]) -> dict[str, Any]:
    return {"streams": list(streams)}


def configured_stream(
    name: str,
    *,
    mode: str = "append",
    primary_key: list[list[str]] | None = None,
    cursor: list[str] | None = None,
    properties: dict[str, Any] | None = None,
    namespace: str | None = None,
    generation_id: int | None = None,
    minimum_generation_id: int | None = None,
) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "name": name,
        "json_schema": {"type": "object", "properties": properties or {}},
        "supported_sync_modes": ["full_refresh", "incremental"],
    }
    if namespace:
        stream["namespace"] = namespace
    return {
        "stream": stream,
        "sync_mode": "incremental" if mode != "overwrite" else "full_refresh",
        "destination_sync_mode": mode,
        "primary_key": primary_key or [],
        "cursor_field": cursor or [],
        "generation_id": generation_id,
        "minimum_generation_id": minimum_generation_id,
        "sync_id": 1 if generation_id is not None else None,
    }
