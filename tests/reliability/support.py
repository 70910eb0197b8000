"""What the reliability suites share: a sync plan (records with versions, states with sequence numbers),
a live connector process (stdin fed in chunks, stdout read line by line, every STATE checked against the
store the moment it is read), and a record-by-record audit of what the emulator holds.

Two streams: `docs` (documents) and `rows` (tables), both `append_dedup` on `id`. Every record carries a token
`tok_<stream>_<id>_v<version>`; the audit finds tokens in stored documents (their text) and rows (their
`token` cell), so a record is lost, stale, stored twice or under a foreign id, each counted apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from destination_dust import ids
from destination_dust.catalog import StreamKey
from destination_dust.tables import table_id_for
from tests.helpers import CLI, ROOT, CliResult, catalog, configured_stream, record, write_json

STREAMS = {"docs": "documents", "rows": "tables"}
PREFIX = "airbyte_"
TOKEN = re.compile(r"tok_([a-z]+)_(\d+)_v(\d+)")
RESULTS = ROOT / ".cache" / "reliability" / "results.jsonl"


# -- the plan ---------------------------------------------------------------------------------------


@dataclass
class Plan:
    """The input of one sync, with what each line means."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    # per message: ("record", stream, pk, version) or ("state", stream or None, seq)
    meaning: list[tuple[Any, ...]] = field(default_factory=list)

    def state_position(self, seq: int) -> int:
        for position, meaning in enumerate(self.meaning):
            if meaning[0] == "state" and meaning[2] == seq:
                return position
        raise KeyError(seq)

    def required(self, limits: dict[str, int]) -> dict[tuple[str, int], int]:
        """(stream, pk) -> the version the store must hold at least, given per stream the input position
        before which every record must be stored."""
        need: dict[tuple[str, int], int] = {}
        for position, meaning in enumerate(self.meaning):
            if meaning[0] == "record" and position < limits.get(meaning[1], 0):
                need[(meaning[1], meaning[2])] = meaning[3]
        return need

    def final(self) -> dict[tuple[str, int], int]:
        return self.required({stream: len(self.messages) for stream in STREAMS})

    def record_count(self) -> int:
        return sum(1 for m in self.meaning if m[0] == "record")

    def covered_by_state(self, seq: int) -> dict[str, int]:
        """Per stream, the input position a STATE with this seq vouches for."""
        position = self.state_position(seq)
        stream = self.meaning[position][1]
        return {s: position for s in STREAMS} if stream is None else {stream: position}


def make_plan(
    rng: random.Random,
    counts: dict[str, int],
    *,
    state_every: int = 10,
    update_rate: float = 0.1,
    body_chars: int = 40,
    global_rate: float = 0.0,
) -> Plan:
    """Records of the streams in `counts`, interleaved at random; a STREAM state for a stream after about
    every `state_every` of its records (a GLOBAL one with probability `global_rate` instead); a fraction of
    records re-send an earlier id with a new version. Ends with a state per stream."""
    plan = Plan()
    left = dict(counts)
    versions: dict[tuple[str, int], int] = {}
    since_state = dict.fromkeys(counts, 0)
    seq = 0
    words = ["alpha", "bravo", "delta", "echo", "kilo", "lima", "oscar", "tango"]

    def add_state(stream: str | None) -> None:
        nonlocal seq
        seq += 1
        if stream is None:
            message = {
                "type": "STATE",
                "state": {"type": "GLOBAL", "global": {"shared_state": {"seq": seq}, "stream_states": []}},
            }
        else:
            message = {
                "type": "STATE",
                "state": {
                    "type": "STREAM",
                    "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"seq": seq}},
                },
            }
        plan.messages.append(message)
        plan.meaning.append(("state", stream, seq))

    while any(left.values()):
        stream = rng.choice([s for s, n in left.items() if n])
        known = [pk for (s, pk) in versions if s == stream]
        if known and rng.random() < update_rate:
            pk = rng.choice(known)
        else:
            pk = counts[stream] - left[stream]
            left[stream] -= 1
        version = versions.get((stream, pk), -1) + 1
        versions[(stream, pk)] = version
        body = " ".join(rng.choice(words) for _ in range(max(1, body_chars // 6)))
        data = {"id": pk, "token": f"tok_{stream}_{pk}_v{version}", "body": body}
        plan.messages.append(record(stream, data))
        plan.meaning.append(("record", stream, pk, version))
        since_state[stream] += 1
        if since_state[stream] >= state_every:
            since_state[stream] = 0
            add_state(None if rng.random() < global_rate else stream)
    for stream in counts:
        add_state(stream)
    return plan


def sync_catalog(streams: Iterable[str] = STREAMS) -> dict[str, Any]:
    props = {"id": {"type": "integer"}, "token": {"type": "string"}, "body": {"type": "string"}}
    return catalog(
        *(configured_stream(s, mode="append_dedup", primary_key=[["id"]], properties=props) for s in streams)
    )


def connector_config(emulator_config: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        **emulator_config,
        "stream_formats": dict(STREAMS),
        "document_upserts_per_minute": 0,
        "max_concurrent_requests": 4,
        "request_timeout_seconds": 10,
        "retry_deadline_seconds": 20,
        **overrides,
    }


def write_inputs(
    directory: Path, config: dict[str, Any], streams: Iterable[str] = STREAMS
) -> tuple[str, str]:
    return write_json(directory, "config.json", config), write_json(
        directory, "catalog.json", sync_catalog(streams)
    )


# -- the audit ----------------------------------------------------------------------------------------


@dataclass
class Audit:
    lost: list[tuple[str, int]] = field(default_factory=list)  # required, absent
    stale: list[tuple[str, int]] = field(default_factory=list)  # present with an older version than required
    duplicates: int = 0  # copies beyond one per (stream, id), foreign ids, extra tables
    held: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.stale and not self.duplicates

    def describe(self) -> str:
        return f"lost={self.lost[:10]} stale={self.stale[:10]} duplicates={self.duplicates}"


def data_source(dump: dict[str, Any], data_source_id: str) -> dict[str, Any]:
    for ds in dump["data_sources"]:
        if data_source_id in (ds["sId"], ds["name"]):
            return dict(ds)
    raise AssertionError(f"data source {data_source_id} not in the dump")


def audit(ds: dict[str, Any], need: dict[tuple[str, int], int]) -> Audit:
    """Compare what one data source holds with what must be there (at least these versions)."""
    result = Audit()
    copies: dict[tuple[str, int], int] = {}

    def hold(stream: str, pk: int, version: int, stored_id: str, expected_id: str) -> None:
        copies[(stream, pk)] = copies.get((stream, pk), 0) + 1
        if stored_id != expected_id:
            result.duplicates += 1  # the record landed under an id it should not have
        result.held[(stream, pk)] = max(version, result.held.get((stream, pk), -1))

    for doc in ds["documents"]:
        found = {(m[0], int(m[1]), int(m[2])) for m in TOKEN.findall(doc.get("text") or "")}
        if len(found) != 1:
            result.duplicates += 1  # a document that is not exactly one record
            continue
        ((stream, pk, version),) = found
        hold(stream, pk, version, doc["document_id"], ids.document_id(StreamKey(None, stream), [pk], {}))
    for stream, data_format in STREAMS.items():
        if data_format != "tables":
            continue
        wanted_id = table_id_for(StreamKey(None, stream), PREFIX)
        tables = [t for t in ds["tables"] if t["table_id"] == wanted_id or t["name"].endswith(stream)]
        result.duplicates += max(0, len(tables) - 1)
        for table in tables:
            for row in table["rows"]:
                match = TOKEN.fullmatch(str(row["value"].get("token")))
                if match is None:
                    result.duplicates += 1
                    continue
                pk, version = int(match[2]), int(match[3])
                hold(match[1], pk, version, row["row_id"], ids.row_id([pk], {}))
    return judge(result, copies, need)


def judge(result: Audit, copies: dict[tuple[str, int], int], need: dict[tuple[str, int], int]) -> Audit:
    """Count extra copies, then what is missing (lost) or older than required (stale)."""
    result.duplicates += sum(n - 1 for n in copies.values() if n > 1)
    for key, version in sorted(need.items()):
        held = result.held.get(key)
        if held is None:
            result.lost.append(key)
        elif held < version:
            result.stale.append(key)
    return result


def replay_after(
    plan: Plan, vouched: dict[str, int], streams: Iterable[str] = STREAMS
) -> list[dict[str, Any]]:
    """What the source sends after a restart: per stream, the messages after its last emitted state."""
    names = list(streams)
    out = []
    for position, (message, meaning) in enumerate(zip(plan.messages, plan.meaning, strict=True)):
        if meaning[0] == "record":
            if position > vouched.get(meaning[1], -1):
                out.append(message)
        elif position > min(vouched.get(s, -1) for s in names):
            out.append(message)
    return out


def preflight_count(emulator: Any) -> int:
    """How many data source listings (the connector's preflight) the emulator has answered."""
    return sum(emulator.counters()["routes"].get("GET data_sources", {}).values())


# -- a live connector process --------------------------------------------------------------------------


def state_seq(message: dict[str, Any]) -> int:
    state = message["state"]
    if state.get("type") == "GLOBAL":
        return int(state["global"]["shared_state"]["seq"])
    return int(state["stream"]["stream_state"]["seq"])


class LiveSync:
    """`destination-dust write` as a subprocess: input is sent in chunks (`send`), stdout is read as it comes;
    `on_state(message)` runs in the reading thread the moment a STATE line arrives (its exceptions are kept in
    `errors`)."""

    def __init__(
        self,
        config: str,
        catalog_path: str,
        *,
        on_state: Callable[[dict[str, Any]], None] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "write", "--config", config, "--catalog", catalog_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        self.on_state = on_state
        self.lines: list[bytes] = []
        self.messages: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self.stderr = b""
        self._state_seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._reader.start()
        self._err_reader.start()
        self.started = time.monotonic()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.strip():
                continue
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError as exc:  # every stdout line must be an Airbyte message
                self.errors.append(AssertionError(f"not JSON on stdout: {line[:200]!r} ({exc})"))
                continue
            if message.get("type") == "STATE" and self.on_state is not None:
                try:
                    self.on_state(message)
                except BaseException as exc:
                    self.errors.append(exc)
            with self._state_seen:
                self.lines.append(line.rstrip(b"\n"))
                self.messages.append(message)
                self._state_seen.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    @property
    def states(self) -> list[dict[str, Any]]:
        with self._state_seen:
            return [m for m in self.messages if m.get("type") == "STATE"]

    def send(self, messages: Iterable[dict[str, Any]]) -> bool:
        """Write messages to stdin; False when the process is gone."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(b"".join(orjson.dumps(m) + b"\n" for m in messages))
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, ValueError):
            return False

    def feed(
        self, messages: list[dict[str, Any]], *, chunk: int = 5, pause: float = 0.01, close: bool = True
    ) -> None:
        """Send the messages from a thread, a few at a time with pauses (as a source emits them), then close
        stdin (unless `close` is False: the source is still "running"). Stops quietly when the process dies."""

        def run() -> None:
            for start in range(0, len(messages), chunk):
                if not self.send(messages[start : start + chunk]):
                    return
                time.sleep(pause)
            if close:
                self.close_stdin()

        self._feeder = threading.Thread(target=run, daemon=True)
        self._feeder.start()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()

    def wait_for_states(self, count: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._state_seen:
            while sum(1 for m in self.messages if m.get("type") == "STATE") < count:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return False
                self._state_seen.wait(min(left, 0.05))
        return True

    def kill(self) -> None:
        self.proc.kill()

    def finish(self, timeout: float = 60.0) -> CliResult:
        """Close stdin, wait for the exit (kill after `timeout`: a hang is a failure), return the result."""
        feeder = getattr(self, "_feeder", None)
        if feeder is not None:
            feeder.join(timeout)
        self.close_stdin()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the connector did not exit within {timeout}s") from None
        self._reader.join(10)
        self._err_reader.join(10)
        return CliResult(
            self.proc.returncode, b"\n".join(self.lines), self.stderr, list(self.lines), list(self.messages)
        )


def feed_then_kill(live: LiveSync, messages: list[dict[str, Any]], rng: random.Random) -> CliResult:
    """Feed `messages` as a source would (stdin stays open), then kill -9 at a seeded point: anywhere (first
    writes, mid-batch, idle waiting for input), or a few milliseconds after a random number of the
    checkpoints sent. The connector must have lived until the kill, silent on stderr."""
    live.feed(messages, close=False)
    states_sent = sum(1 for m in messages if m["type"] == "STATE")
    if rng.random() < 0.3 or states_sent == 0:
        time.sleep(rng.uniform(0, 0.3))
    else:
        live.wait_for_states(rng.randint(1, states_sent), timeout=20)
        time.sleep(rng.uniform(0, 0.04))
    live.kill()
    result = live.finish(timeout=20)
    assert not live.errors, live.errors[0]
    assert result.returncode == -9 and result.stderr == b"", (result.returncode, result.stderr[-2000:])
    return result


class StateChecker:
    """on_state for LiveSync: when a STATE is read, the store must already hold every record it covers."""

    def __init__(
        self,
        plan: Plan,
        dump: Callable[[], dict[str, Any]],
        data_source_id: str,
        *,
        strict_versions: bool = True,
        auditor: Callable[[dict[str, Any], dict[tuple[str, int], int]], Audit] | None = None,
    ) -> None:
        self.auditor = auditor or audit  # composed streams audit their documents their own way
        self.plan = plan
        self.dump = dump
        self.data_source_id = data_source_id
        self.strict_versions = strict_versions  # False: an older version than required is counted, not fatal
        self.checked = 0
        self.stale_seen: set[tuple[str, int]] = set()
        self.vouched: dict[str, int] = {}  # per stream, the input position the last emitted state covers

    def __call__(self, message: dict[str, Any]) -> None:
        covered = self.plan.covered_by_state(state_seq(message))
        for stream, position in covered.items():
            self.vouched[stream] = max(self.vouched.get(stream, -1), position)
        need = self.plan.required(covered)
        found = self.auditor(data_source(self.dump(), self.data_source_id), need)
        self.checked += 1
        self.stale_seen.update(found.stale)
        assert not found.lost and (not found.stale or not self.strict_versions), (
            f"STATE seq {state_seq(message)} was emitted before its records were stored: {found.describe()}"
        )


# -- results for docs/reliability.md ---------------------------------------------------------------------


def record_result(row: dict[str, Any]) -> None:
    """Append one measured row (tests/reliability/report.py turns the file into docs/reliability.md)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, sort_keys=True) + "\n")
