"""Overwrite at scale, through the real CLI against the emulator (docs/sync-modes.md, "The clean-up"):

- 3 streams x 700 documents (or rows), then a sync of 0 records + COMPLETE for all three under a new
  generation: nothing of them is left, 20 times in a row with seeded concurrency and message orders, and the
  final LOG lines count every deletion;
- a stream written as documents, then as a table: its documents go with the overwrite that writes the table;
- a server that never answers one DELETE and one listing page: the sync still ends right, losing about the
  short timeout per lost answer, not `request_timeout_seconds`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from destination_dust.catalog import StreamKey
from destination_dust.client import SHORT_TIMEOUT_ENV
from destination_dust.tables import table_id_for
from dust_emulator.testing import EmulatorProcess, running_emulator
from tests.helpers import (
    CliResult,
    complete,
    configured_stream,
    jsonl,
    record,
    run_cli,
    stream_state,
    write_json,
)

STREAMS = ("users", "orders", "notes")
PER_STREAM = 700
RUNS = 20


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with running_emulator(rate_limit=0) as emu:
        yield emu


def sync(
    emu: EmulatorProcess,
    tmp: Path,
    messages: list[dict[str, Any]],
    streams: list[dict[str, Any]],
    *,
    base_url: str | None = None,
    env: dict[str, str] | None = None,
    **config: Any,
) -> CliResult:
    settings = {**emu.config, "document_upserts_per_minute": 0, **config}
    if base_url is not None:
        settings["base_url"] = base_url
    args = [
        "write",
        "--config",
        write_json(tmp, "config.json", settings),
        "--catalog",
        write_json(tmp, "catalog.json", {"streams": streams}),
    ]
    result = run_cli(args, jsonl(messages), env=env, timeout=600)
    assert result.returncode == 0, result.stderr.decode()[-3000:] + "\n".join(result.logs[-20:])
    return result


def overwrite(name: str, generation: int) -> dict[str, Any]:
    return configured_stream(
        name,
        mode="overwrite",
        primary_key=[["id"]],
        properties={"id": {"type": "integer"}, "text": {"type": "string"}},
        generation_id=generation,
        minimum_generation_id=generation,
    )


def held(emu: EmulatorProcess, data_format: str) -> int:
    """Documents (or rows of the streams' tables) left in the data source."""
    ds = next(d for d in emu.dump()["data_sources"] if d["sId"] == emu.config["data_source_id"])
    if data_format == "documents":
        return len(ds["documents"])
    ours = {table_id_for(StreamKey(None, name), "airbyte_") for name in STREAMS}
    return sum(len(t["rows"]) for t in ds["tables"] if t["table_id"] in ours)


def second_sync_messages(rng: random.Random) -> list[dict[str, Any]]:
    """0 records; per stream a COMPLETE and a STATE in a seeded order (a STATE after COMPLETE waits for the
    clean-up, and starts the shared listing), streams in a seeded order."""
    messages: list[dict[str, Any]] = []
    for name in rng.sample(STREAMS, len(STREAMS)):
        pair = [complete(name), stream_state(name, {"done": True})]
        messages += pair if rng.random() < 0.5 else pair[::-1]
    return messages


@pytest.mark.parametrize("data_format", ["documents", "tables"])
def test_three_streams_of_700_emptied_by_a_new_generation_20_times(
    emulator: EmulatorProcess, tmp_path: Path, data_format: str
) -> None:
    first = [overwrite(name, 1) for name in STREAMS]
    second = [overwrite(name, 2) for name in STREAMS]
    records = [
        record(name, {"id": i, "text": f"{name} {i}"}) for i in range(PER_STREAM) for name in STREAMS
    ] + [complete(name) for name in STREAMS]
    for run in range(RUNS):
        rng = random.Random(run)
        emulator.reset()
        sync(emulator, tmp_path, records, first, data_format=data_format)
        assert held(emulator, data_format) == 3 * PER_STREAM
        concurrency = rng.choice([1, 2, 4, 8])
        out = sync(
            emulator,
            tmp_path,
            second_sync_messages(rng),
            second,
            data_format=data_format,
            max_concurrent_requests=concurrency,
        )
        left = held(emulator, data_format)
        assert left == 0, f"run {run} (concurrency {concurrency}): {left} left"
        done = next(line for line in out.logs if line.startswith("sync done"))
        assert "2100 deleted (0 by CDC, 2100 by clean-ups)" in done, done
        kind = "documents" if data_format == "documents" else "rows"
        for name in STREAMS:
            assert f"stream {name}: 700 {kind} deleted (700 by clean-up)" in out.logs, out.logs[-8:]
        assert not [line for line in out.logs if "could not confirm" in line]
        if data_format == "documents":  # one listing served the three streams
            listings = [line for line in out.logs if line.startswith("documents clean-up")]
            assert len(listings) == 1, listings


def test_a_stream_moved_from_documents_to_a_table_leaves_no_documents(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    emulator.reset()
    notes = [record("notes", {"id": i, "text": f"note {i}"}) for i in range(30)] + [complete("notes")]
    sync(emulator, tmp_path, notes, [overwrite("notes", 1)], data_format="documents")
    assert held(emulator, "documents") == 30
    out = sync(emulator, tmp_path, notes, [overwrite("notes", 2)], stream_formats={"notes": "tables"})
    assert held(emulator, "documents") == 0
    table = table_id_for(StreamKey(None, "notes"), "airbyte_")
    ds = next(d for d in emulator.dump()["data_sources"] if d["sId"] == emulator.config["data_source_id"])
    assert [len(t["rows"]) for t in ds["tables"] if t["table_id"] == table] == [30]
    assert "stream notes: 30 documents deleted (30 by clean-up)" in out.logs
    # and back: the table goes when the stream is written as documents again
    out = sync(emulator, tmp_path, notes, [overwrite("notes", 3)], data_format="documents")
    ds = next(d for d in emulator.dump()["data_sources"] if d["sId"] == emulator.config["data_source_id"])
    assert [t for t in ds["tables"] if t["table_id"] == table] == []
    assert len(ds["documents"]) == 30


def test_in_append_mode_a_moved_stream_keeps_its_old_data_and_the_log_says_so(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    emulator.reset()
    append = configured_stream(
        "notes", mode="append", primary_key=[["id"]], properties={"id": {"type": "integer"}}
    )
    notes = [record("notes", {"id": i, "text": f"note {i}"}) for i in range(5)] + [complete("notes")]
    sync(emulator, tmp_path, notes, [append], data_format="documents")
    out = sync(emulator, tmp_path, notes, [append], stream_formats={"notes": "tables"})
    assert held(emulator, "documents") == 5  # append never removes data...
    warnings = [line for line in out.logs if "is written as a table, but its documents" in line]
    assert len(warnings) == 1 and "overwrite sync" in warnings[0], out.logs  # ...but it says what stays
    out = sync(emulator, tmp_path, notes, [append], data_format="documents")
    warnings = [line for line in out.logs if "is written as documents, but its table" in line]
    assert len(warnings) == 1 and "Delete the table" in warnings[0], out.logs


# -- lost answers --------------------------------------------------------------------------------------------


class Swallower:
    """A proxy in front of the emulator that never answers the first DELETE of a document and the first
    documents listing page with an offset (it holds the connection open until the test ends)."""

    def __init__(self, target: str, swallow: bool) -> None:
        self.target = target
        self.swallow = {"DELETE": swallow, "LIST": swallow}
        self.swallowed: list[str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def should_swallow(self, method: str, path: str) -> bool:
        kind = "DELETE" if method == "DELETE" and "/documents/" in path else None
        if method == "GET" and "/documents?" in path and "offset=" in path and "document_ids" not in path:
            kind = "LIST"
        with self.lock:
            if kind is None or not self.swallow.get(kind):
                return False
            self.swallow[kind] = False
            self.swallowed.append(f"{method} {path}")
            return True

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.should_swallow(self.command, self.path):
                    proxy.release.wait(60)  # the answer never comes (while the sync lasts)
                    self.close_connection = True
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}
                }
                answer = httpx.request(
                    self.command, proxy.target + self.path, content=body, headers=headers, timeout=60
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"


SHORT = 1.5


def _timed_cleanup(emu: EmulatorProcess, tmp: Path, swallow: bool) -> tuple[float, CliResult, Swallower]:
    emu.reset()
    docs = [record("users", {"id": i, "text": f"u {i}"}) for i in range(250)] + [complete("users")]
    sync(emu, tmp, docs, [overwrite("users", 1)])
    proxy = Swallower(emu.config["base_url"], swallow)
    server, url = proxy.serve()
    try:
        started = time.monotonic()
        out = sync(
            emu,
            tmp,
            [complete("users")],
            [overwrite("users", 2)],
            base_url=url,
            env={SHORT_TIMEOUT_ENV: str(SHORT)},
            request_timeout_seconds=120,
        )
        elapsed = time.monotonic() - started
    finally:
        proxy.release.set()
        server.shutdown()
        server.server_close()
    return elapsed, out, proxy


def test_a_lost_delete_and_a_lost_listing_page_cost_the_short_timeout(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    baseline, _, _ = _timed_cleanup(emulator, tmp_path, swallow=False)
    elapsed, out, proxy = _timed_cleanup(emulator, tmp_path, swallow=True)
    assert len(proxy.swallowed) == 2, proxy.swallowed  # one DELETE and one listing page never answered
    assert held(emulator, "documents") == 0
    assert "stream users: 250 documents deleted (250 by clean-up)" in out.logs
    # each lost answer timed out after the short timeout and was retried...
    retries = [line for line in out.logs if line.startswith("retrying") and "ReadTimeout" in line]
    assert any("delete document" in line for line in retries), out.logs
    assert any("list documents" in line for line in retries), out.logs
    # ...so the two cost about twice the short timeout (plus a short backoff and this machine's noise),
    # never the 120 s request_timeout_seconds
    assert elapsed - baseline < 2 * SHORT + 5.0, (elapsed, baseline)
