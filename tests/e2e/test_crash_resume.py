"""kill -9 in the middle of a sync, resume from the last state it printed: nothing lost, nothing doubled, and
no state ever printed before its records were in Dust.

The emulator answers with latency, so the kill lands while requests are in flight. The test reads the
connector's stdout as it comes; at the moment each STATE line is read it asks the emulator whether every
record before that state (in the input) is already stored. After the kill it does what the platform does:
take the last state the connector printed and replay the source's output from just after that state.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import pytest

from destination_dust.catalog import StreamKey
from destination_dust.tables import table_id_for
from dust_emulator.testing import EmulatorProcess, running_emulator

CLI = str(Path(sys.executable).with_name("destination-dust"))
RECORDS = 240
STATE_EVERY = 12
USERS = StreamKey(None, "users")


def source_output() -> list[tuple[int, dict[str, Any]]]:
    """The source's messages, each with the number of records before it (inclusive for records)."""
    messages: list[tuple[int, dict[str, Any]]] = []
    for i in range(RECORDS):
        data = {"id": i, "name": f"user-{i}", "updated": i}
        record = {
            "type": "RECORD",
            "record": {"stream": "users", "data": data, "emitted_at": 1_700_000_000_000},
        }
        messages.append((i + 1, record))
        if (i + 1) % STATE_EVERY == 0:
            stream = {"stream_descriptor": {"name": "users"}, "stream_state": {"after": i + 1}}
            messages.append((i + 1, {"type": "STATE", "state": {"type": "STREAM", "stream": stream}}))
    status = {"stream_descriptor": {"name": "users"}, "status": "COMPLETE"}
    trace = {"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 0, "stream_status": status}}
    messages.append((RECORDS, trace))
    return messages


def replay_after(state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What the source sends when the platform restarts it from `state` (None: from the beginning)."""
    messages = [m for _, m in source_output()]
    if state is None:
        return messages
    position = messages.index(state)  # the state as the source sent it (the echo adds destinationStats)
    return messages[position + 1 :]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with running_emulator(rate_limit=0, latency_ms=15, latency_jitter_ms=25, seed=5) as emu:
        yield emu


def stored_keys(emu: EmulatorProcess, data_format: str) -> dict[int, str]:
    """{id: name} of the users stream as the emulator holds it right now."""
    ds = next(d for d in emu.dump()["data_sources"] if d["sId"] == emu.config["data_source_id"])
    found: dict[int, str] = {}
    if data_format == "tables":
        for table in ds["tables"]:
            if table["table_id"] == table_id_for(USERS, "airbyte_"):
                for row in table["rows"]:
                    key = int(row["row_id"])
                    assert key not in found, "a row twice"
                    found[key] = row["value"]["name"]
        return found
    for doc in ds["documents"]:
        assert doc["document_id"].startswith("users-"), doc["document_id"]
        key = int(doc["document_id"].removeprefix("users-"))
        assert key not in found, "a document twice"
        found[key] = f"user-{key}" if re.search(rf"\buser-{key}\b", doc["text"]) else doc["text"]
    return found


def expected(count: int) -> dict[int, str]:
    return {i: f"user-{i}" for i in range(count)}


class Attempt:
    """One run of `destination-dust write`, reading stdout as it comes and checking each state on arrival."""

    def __init__(self, emu: EmulatorProcess, data_format: str, config: Path, catalog: Path) -> None:
        self.emu = emu
        self.format = data_format
        self.process = subprocess.Popen(
            [CLI, "write", "--config", str(config), "--catalog", str(catalog)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.states: list[dict[str, Any]] = []
        self.checked = 0

    def feed(self, messages: list[dict[str, Any]]) -> None:
        stdin = self.process.stdin
        assert stdin is not None

        def write(pipe: IO[bytes]) -> None:
            try:
                for message in messages:
                    pipe.write(orjson.dumps(message) + b"\n")
                pipe.close()
            except (BrokenPipeError, ValueError, OSError):
                pass  # killed

        threading.Thread(target=write, args=(stdin,), daemon=True).start()

    def read(self, kill_after_states: int | None = None, delay: float = 0.0) -> None:
        """Read stdout to its end; optionally kill -9 once `kill_after_states` states have been read."""
        stdout = self.process.stdout
        assert stdout is not None
        killed = False
        for line in stdout:
            if not line.strip():
                continue
            message = orjson.loads(line)
            if message["type"] != "STATE":
                continue
            self.states.append(message)
            self.check(
                message["state"]["stream"]["stream_state"]["after"], stored_keys(self.emu, self.format)
            )
            self.checked += 1
            if kill_after_states is not None and not killed and len(self.states) >= kill_after_states:
                time.sleep(delay)
                self.process.kill()  # SIGKILL: no clean-up, no flush
                killed = True
        self.process.wait(timeout=60)

    def check(self, before: int, stored: dict[int, str]) -> None:
        """Every record before this state must be in Dust already."""
        missing = sorted(set(expected(before)) - set(stored))
        assert not missing, f"state after {before} records printed while records {missing[:10]} are missing"
        assert all(stored[k] == f"user-{k}" for k in range(before))

    @property
    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace")


def write_files(emu: EmulatorProcess, tmp_path: Path, data_format: str) -> tuple[Path, Path]:
    config = tmp_path / "config.json"
    catalog = tmp_path / "catalog.json"
    config.write_bytes(
        orjson.dumps(
            {
                **emu.config,
                "data_format": data_format,
                "document_upserts_per_minute": 0,
                "max_concurrent_requests": 4,
                "table_batch_max_rows": 5,  # several row batches in flight between two states
            }
        )
    )
    stream = {
        "stream": {"name": "users", "json_schema": {"type": "object", "properties": {}}},
        "sync_mode": "incremental",
        "destination_sync_mode": "append_dedup",
        "primary_key": [["id"]],
        "cursor_field": ["updated"],
    }
    catalog.write_bytes(orjson.dumps({"streams": [stream]}))
    return config, catalog


@pytest.mark.parametrize("data_format", ["documents", "tables"])
@pytest.mark.parametrize("seed", [11, 23, 37])
def test_kill_and_resume_from_the_last_state(
    emulator: EmulatorProcess, tmp_path: Path, data_format: str, seed: int
) -> None:
    emulator.reset()
    rng = random.Random(seed)
    config, catalog = write_files(emulator, tmp_path, data_format)
    all_states = RECORDS // STATE_EVERY

    first = Attempt(emulator, data_format, config, catalog)
    first.feed([m for _, m in source_output()])
    first.read(kill_after_states=rng.randint(1, all_states - 4), delay=rng.uniform(0.0, 0.08))
    assert first.process.returncode == -9, first.stderr  # it was killed, not finished
    assert first.states, "the kill came before any state"
    last = first.states[-1]
    del last["state"]["destinationStats"]  # the platform resumes from the source's state
    assert len(first.states) < all_states, "the sync finished before the kill: nothing was tested"

    second = Attempt(emulator, data_format, config, catalog)
    second.feed(replay_after(last))
    second.read()
    assert second.process.returncode == 0, second.stderr
    assert second.states[-1]["state"]["stream"]["stream_state"] == {"after": RECORDS}

    assert stored_keys(emulator, data_format) == expected(RECORDS)  # every key exactly once, latest value
    assert first.checked + second.checked == len(first.states) + len(second.states)


def test_replay_helper_starts_after_the_state() -> None:
    states = [m for _, m in source_output() if m["type"] == "STATE"]
    replay = replay_after(states[1])  # the state after 24 records
    records = [m["record"]["data"]["id"] for m in replay if m["type"] == "RECORD"]
    assert records == list(range(24, RECORDS))
    assert replay[-1]["type"] == "TRACE"
    assert next(m for m in replay if m["type"] == "STATE") == states[2]
    assert replay_after(None) == [m for _, m in source_output()]


class DeletionAttempt(Attempt):
    """Checks, at each state: keys created before it are stored, keys deleted before it are gone."""

    ops: list[tuple[int, int, bool]]  # (messages before, key, deleted)

    def check(self, before: int, stored: dict[int, str]) -> None:
        done = [(key, deleted) for position, key, deleted in self.ops if position <= before]
        deleted_ever = {key for _, key, deleted in self.ops if deleted}
        gone = {key for key, deleted in done if deleted}
        created = {key for key, deleted in done if not deleted} - deleted_ever
        assert not gone & set(stored), f"state printed before the deletion of {sorted(gone & set(stored))}"
        assert created <= set(stored), f"state printed before records {sorted(created - set(stored))[:10]}"


@pytest.mark.parametrize("data_format", ["documents", "tables"])
def test_cdc_deletes_are_acknowledged_before_the_next_state(
    emulator: EmulatorProcess, tmp_path: Path, data_format: str
) -> None:
    emulator.reset()
    config, catalog = write_files(emulator, tmp_path, data_format)
    messages: list[dict[str, Any]] = []
    ops: list[tuple[int, int, bool]] = []

    def add(key: int, deleted: bool) -> None:
        data: dict[str, Any] = {"id": key, "name": f"user-{key}", "updated": len(ops)}
        if deleted:
            data["_ab_cdc_deleted_at"] = "2024-01-01T00:00:00Z"
        messages.append({"type": "RECORD", "record": {"stream": "users", "data": data, "emitted_at": 0}})
        ops.append((len(ops) + 1, key, deleted))
        if len(ops) % 6 == 0:
            stream = {"stream_descriptor": {"name": "users"}, "stream_state": {"after": len(ops)}}
            messages.append({"type": "STATE", "state": {"type": "STREAM", "stream": stream}})

    for key in range(48):
        add(key, deleted=False)
        if key % 3 == 2:
            add(key - 2, deleted=True)  # deletes trail the creates, interleaved with states
    attempt = DeletionAttempt(emulator, data_format, config, catalog)
    attempt.ops = ops
    attempt.feed(messages)
    attempt.read()
    assert attempt.process.returncode == 0, attempt.stderr
    assert attempt.checked == len(ops) // 6
    assert set(stored_keys(emulator, data_format)) == {k for k in range(48) if k % 3 != 0}


@pytest.mark.parametrize("data_format", ["documents", "tables"])
def test_killed_overwrite_keeps_the_old_data_and_the_retry_replaces_it(
    emulator: EmulatorProcess, tmp_path: Path, data_format: str
) -> None:
    """kill -9 during an overwrite sync: the previous sync's data stays. The retry (a full refresh restarts
    from the beginning) replaces it exactly."""
    emulator.reset()
    config, catalog = write_files(emulator, tmp_path, data_format)
    entry = orjson.loads(catalog.read_bytes())
    entry["streams"][0].update(destination_sync_mode="overwrite", sync_mode="full_refresh", cursor_field=[])
    catalog.write_bytes(orjson.dumps(entry))

    def records(keys: range) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for key in keys:
            data = {"id": key, "name": f"user-{key}", "updated": key}
            out.append({"type": "RECORD", "record": {"stream": "users", "data": data, "emitted_at": 0}})
            if key % STATE_EVERY == STATE_EVERY - 1:
                stream = {"stream_descriptor": {"name": "users"}, "stream_state": {"after": key + 1}}
                out.append({"type": "STATE", "state": {"type": "STREAM", "stream": stream}})
        return out

    complete = [m for _, m in source_output()][-1]
    old = range(1000, 1030)
    previous = Attempt(emulator, data_format, config, catalog)
    previous.check = lambda before, stored: None  # type: ignore[method-assign]
    previous.feed([*records(old), complete])
    previous.read()
    assert previous.process.returncode == 0, previous.stderr
    assert set(stored_keys(emulator, data_format)) == set(old)

    killed = Attempt(emulator, data_format, config, catalog)
    killed.feed([*records(range(RECORDS)), complete])
    killed.read(kill_after_states=3)
    assert killed.process.returncode == -9
    assert len(killed.states) < RECORDS // STATE_EVERY, "the sync finished before the kill"
    assert set(stored_keys(emulator, data_format)) >= set(old) | set(range(36))  # nothing removed

    retry = Attempt(emulator, data_format, config, catalog)
    retry.feed([*records(range(RECORDS)), complete])
    retry.read()
    assert retry.process.returncode == 0, retry.stderr
    assert stored_keys(emulator, data_format) == expected(RECORDS)
