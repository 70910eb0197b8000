"""Crash and resume during a new generation whose documents are mostly unchanged (the sync ledger, ledger.py).

Two documents streams hold generation 1. Generation 2 resends most documents unchanged, changes some, adds
some and no longer has others. The connector is killed with `kill -9` at seeded points (mid-batch, after a
checkpoint, or once everything was sent, so during the clean-up), then restarted the way the platform does:

- `refresh` (append, generation 2 / minimum 2; what the platform sends for overwrite to a destination that
  supports refreshes): each stream resumes after its last echoed STATE and does not resend earlier records;
- `overwrite` (overwrite, generation 2 / minimum 2): a retry re-reads every stream from the beginning.

Checked: every STATE is read only once the store holds the records it covers and the ledger rows of the
unchanged documents among them (LedgerStateChecker); at the end the data source holds exactly generation 2
(0 lost, 0 stale versions, 0 wrongly deleted, 0 left behind) and no unchanged document was uploaded again
(each still carries its generation-1 tag: an upsert would re-tag it). A last test does it at scale (3 x 700).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from destination_dust import ids, ledger
from destination_dust.catalog import StreamKey
from dust_emulator.testing import EmulatorProcess, wait_until
from tests.helpers import catalog, complete, configured_stream, record, stream_state, write_json
from tests.reliability.support import (
    LiveSync,
    Plan,
    StateChecker,
    audit,
    connector_config,
    data_source,
    feed_then_kill,
    preflight_count,
    record_result,
    state_seq,
)

STREAMS = ("docs", "notes")
OLD = 40  # documents per stream in generation 1
SEEDS = range(10)
WORDS = ["alpha", "bravo", "delta", "echo", "kilo", "lima", "oscar", "tango"]
PROPERTIES = {"id": {"type": "integer"}, "token": {"type": "string"}, "body": {"type": "string"}}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(rate_limit=0, latency_ms=3, latency_jitter_ms=4, seed=11) as emulator:
        yield emulator


def _data(rng: random.Random, stream: str, pk: int, version: int) -> dict[str, Any]:
    body = " ".join(rng.choice(WORDS) for _ in range(6))
    return {"id": pk, "token": f"tok_{stream}_{pk}_v{version}", "body": body}


class Generations:
    """Generation 1 (all sent, COMPLETE) and generation 2's plan, with which keys are unchanged."""

    def __init__(
        self,
        rng: random.Random,
        state_every: int,
        *,
        streams: tuple[str, ...] = STREAMS,
        old_count: int = OLD,
        removed_share: float = 0.12,
        changed_share: float = 0.15,
        new_count: int = 6,
    ) -> None:
        self.streams = streams
        self.first: list[dict[str, Any]] = []
        self.second = Plan()
        self.unchanged: set[tuple[str, int]] = set()
        self.changed_or_new: set[tuple[str, int]] = set()
        self.removed: set[tuple[str, int]] = set()
        old = {(s, pk): _data(rng, s, pk, 0) for s in streams for pk in range(old_count)}
        for (stream, _pk), data in old.items():
            self.first.append(record(stream, data))
        self.first += [stream_state(s, {"seq": 0}) for s in streams] + [complete(s) for s in streams]
        queues: dict[str, list[dict[str, Any]]] = {}
        for stream in streams:
            queue = []
            for pk in range(old_count + new_count):
                roll = rng.random()
                if pk < old_count and roll < removed_share:
                    self.removed.add((stream, pk))  # the source no longer has it
                    continue
                if pk < old_count and roll < 1 - changed_share:
                    queue.append(old[(stream, pk)])  # byte for byte the same record
                    self.unchanged.add((stream, pk))
                else:
                    queue.append(_data(rng, stream, pk, 1 if pk < old_count else 0))
                    self.changed_or_new.add((stream, pk))
            queues[stream] = queue
        seq = 0
        since = dict.fromkeys(streams, 0)
        while any(queues.values()):
            stream = rng.choice([s for s in streams if queues[s]])
            data = queues[stream].pop(0)
            version = int(data["token"].rsplit("_v", 1)[1])
            self.second.messages.append(record(stream, data))
            self.second.meaning.append(("record", stream, data["id"], version))
            since[stream] += 1
            if since[stream] >= state_every or not queues[stream]:
                since[stream] = 0
                seq += 1
                self.second.messages.append(stream_state(stream, {"seq": seq}))
                self.second.meaning.append(("state", stream, seq))
            if not queues[stream]:  # the source's last state of the stream, then its COMPLETE status
                self.second.messages.append(complete(stream))
                self.second.meaning.append(("status", stream))

    def changed_records(self, messages: list[dict[str, Any]]) -> int:
        """How many of these messages are records of changed or new keys (each may cost one upsert)."""
        return sum(
            1
            for m in messages
            if m["type"] == "RECORD"
            and (m["record"]["stream"], m["record"]["data"]["id"]) in self.changed_or_new
        )

    def final(self) -> dict[tuple[str, int], int]:
        return self.second.required(dict.fromkeys(self.streams, len(self.second.messages)))


class LedgerStateChecker(StateChecker):
    """StateChecker, plus the ledger's own state rule: when a STATE is read, every unchanged document it
    covers is already of generation 2, by its tag or by a ledger row (else a kill right after this STATE
    would let the resumed attempt's clean-up delete it)."""

    def __init__(self, plan: Plan, unchanged: set[tuple[str, int]], dump: Any, data_source_id: str) -> None:
        super().__init__(plan, dump, data_source_id)
        self.unchanged = unchanged

    def __call__(self, message: dict[str, Any]) -> None:
        super().__call__(message)
        covered = self.plan.covered_by_state(state_seq(message))
        need = [key for key in self.plan.required(covered) if key in self.unchanged]
        ds = data_source(self.dump(), self.data_source_id)
        tags = {d["document_id"]: d["tags"] for d in ds["documents"]}
        vouched = {
            (parsed.stream.name, document_id)
            for table in ds["tables"]
            if table["table_id"] == ledger.TABLE_ID
            for parsed in map(ledger.parse_row, table["rows"])
            if parsed is not None and parsed.generation == 2
            for document_id in parsed.document_ids
        }
        undated = [
            (stream, pk)
            for stream, pk in need
            if "airbyte:generation:2" not in tags.get(_document_id(stream, pk), [])
            and (stream, _document_id(stream, pk)) not in vouched
        ]
        assert not undated, (
            f"STATE seq {state_seq(message)} echoed before the ledger vouched for {undated[:10]}"
        )


def _document_id(stream: str, pk: int) -> str:
    return ids.document_id(StreamKey(None, stream), [pk], {})


def _resume_after(plan: Plan, vouched: dict[str, int]) -> list[dict[str, Any]]:
    """A resumed attempt: per stream, what follows its last echoed state."""
    return [
        message
        for position, (message, meaning) in enumerate(zip(plan.messages, plan.meaning, strict=True))
        if position > vouched.get(meaning[1], -1)
    ]


def _document_posts(emu: EmulatorProcess) -> int:
    return int(emu.counters()["routes"].get("POST documents", {}).get("200", 0))


def _inputs(
    tmp_path: Path, emu: EmulatorProcess, mode: str, generation: int, streams: tuple[str, ...] = STREAMS
) -> tuple[str, str]:
    entries = [
        configured_stream(
            s,
            mode=mode,
            primary_key=[["id"]],
            properties=PROPERTIES,
            generation_id=generation,
            minimum_generation_id=generation,
        )
        for s in streams
    ]
    config = connector_config(
        emu.config, stream_formats=dict.fromkeys(streams, "documents"), max_concurrent_requests=4
    )
    suffix = f"{mode}-{generation}"
    return (
        write_json(tmp_path, f"config-{suffix}.json", config),
        write_json(tmp_path, f"catalog-{suffix}.json", catalog(*entries)),
    )


@pytest.mark.timeout(90)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mode", ["refresh", "overwrite"])
def test_kill_during_a_new_generation_of_unchanged_documents_and_resume(
    tmp_path: Path, emu: EmulatorProcess, mode: str, seed: int
) -> None:
    rng = random.Random(seed)
    emu.reset()
    world = Generations(rng, state_every=rng.randint(3, 9))
    data_source_id = emu.config["data_source_id"]
    catalog_mode = "append" if mode == "refresh" else "overwrite"
    started = time.monotonic()

    config, cat = _inputs(tmp_path, emu, catalog_mode, 1)
    first = LiveSync(config, cat)
    first.send(world.first)
    assert first.finish(timeout=30).returncode == 0

    config, cat = _inputs(tmp_path, emu, catalog_mode, 2)
    posts_before = _document_posts(emu)
    plan = world.second
    vouched: dict[str, int] = {}
    kills = 0
    sent_changed = 0  # records of changed or new keys sent, over every attempt: the most upserts allowed
    for _ in range(rng.choice([1, 2, 2, 3])):
        checker = LedgerStateChecker(plan, world.unchanged, emu.dump, data_source_id)
        ready = preflight_count(emu)
        live = LiveSync(config, cat, on_state=checker)
        replay = plan.messages if mode == "overwrite" else _resume_after(plan, vouched)
        if not replay:
            break
        assert wait_until(lambda n=ready: preflight_count(emu) > n, timeout_s=10)
        if rng.random() < 0.25:  # everything sent: the kill may land during a clean-up
            cut = len(replay)
        else:
            last_record = max((i for i, m in enumerate(replay) if m["type"] == "RECORD"), default=0)
            cut = rng.randint(min(len(replay) // 5, last_record), last_record)
        sent_changed += world.changed_records(replay[:cut])
        feed_then_kill(live, replay[:cut], rng)
        kills += 1
        for stream, position in checker.vouched.items():
            vouched[stream] = max(vouched.get(stream, -1), position)

    checker = LedgerStateChecker(plan, world.unchanged, emu.dump, data_source_id)
    live = LiveSync(config, cat, on_state=checker)
    replayed = plan.messages if mode == "overwrite" else _resume_after(plan, vouched)
    sent_changed += world.changed_records(replayed)
    live.send(replayed)
    result = live.finish(timeout=60)
    assert not live.errors, live.errors[0]
    assert result.returncode == 0, result.traces

    ds = data_source(emu.dump(), data_source_id)
    need = world.final()
    found = audit(ds, need)
    stored = set(found.held)
    documents = {d["document_id"]: d for d in ds["documents"]}
    left_behind = sorted(stored - set(need))  # generation-1 documents the source no longer has
    wrongly_deleted = sorted(set(need) - stored)
    retagged = sorted(
        key
        for key in world.unchanged
        if "airbyte:generation:1"
        not in documents[ids.document_id(StreamKey(None, key[0]), [key[1]], {})]["tags"]
    )
    posts = _document_posts(emu) - posts_before
    record_result(
        {
            "suite": "kill_resume_generations",
            "case": f"{mode} seed {seed}",
            "mode": mode,
            "kills": kills,
            "unchanged": len(world.unchanged),
            "changed_or_new": len(world.changed_or_new),
            "removed": len(world.removed),
            "lost": len(found.lost),
            "stale": len(found.stale),
            "duplicates": found.duplicates,
            "wrongly_deleted": len(wrongly_deleted),
            "left_behind": len(left_behind),
            "unchanged_uploaded": len(retagged),
            "document_posts": posts,
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    assert found.ok, found.describe()
    assert not wrongly_deleted and not left_behind, (wrongly_deleted[:10], left_behind[:10])
    assert not retagged, f"unchanged documents uploaded again: {retagged[:10]}"
    assert posts <= sent_changed, (posts, sent_changed)


@pytest.mark.timeout(300)
def test_a_refresh_of_thousands_of_unchanged_documents_resumed_after_a_kill(
    tmp_path: Path, emu: EmulatorProcess
) -> None:
    """At scale: 3 streams of 700 documents; generation 2 resends 97% of them unchanged, changes 3% and adds
    10 per stream. Attempt 1 is killed past the middle, attempt 2 resumes after each stream's last state.
    The unchanged documents cost no upsert in either attempt and none is deleted."""
    rng = random.Random(2026)
    emu.reset()
    streams = ("tickets", "users", "orders")
    world = Generations(
        rng, 25, streams=streams, old_count=700, removed_share=0.0, changed_share=0.03, new_count=10
    )
    config, cat = _inputs(tmp_path, emu, "append", 1, streams)
    first = LiveSync(config, cat)
    first.send(world.first)
    assert first.finish(timeout=120).returncode == 0
    config, cat = _inputs(tmp_path, emu, "append", 2, streams)
    posts_before = _document_posts(emu)
    plan = world.second
    data_source_id = emu.config["data_source_id"]

    checker = LedgerStateChecker(plan, world.unchanged, emu.dump, data_source_id)
    killed = LiveSync(config, cat, on_state=checker)
    cut = len(plan.messages) * 3 // 5
    killed.feed(plan.messages[:cut], chunk=50, pause=0.0, close=False)
    states_sent = sum(1 for m in plan.messages[:cut] if m["type"] == "STATE")
    assert killed.wait_for_states(states_sent // 2, timeout=60)
    killed.kill()
    assert killed.finish(timeout=30).returncode == -9
    assert not killed.errors, killed.errors[0]
    vouched = dict(checker.vouched)
    assert sum(vouched.values()) > 0

    checker = LedgerStateChecker(plan, world.unchanged, emu.dump, data_source_id)
    resumed = LiveSync(config, cat, on_state=checker)
    replay = _resume_after(plan, vouched)
    resumed.send(replay)
    result = resumed.finish(timeout=120)
    assert result.returncode == 0, result.traces
    assert not resumed.errors, resumed.errors[0]

    ds = data_source(emu.dump(), data_source_id)
    found = audit(ds, world.final())
    assert found.ok, found.describe()
    assert set(found.held) == set(world.final())  # nothing deleted that generation 2 has
    tags = {d["document_id"]: d["tags"] for d in ds["documents"]}
    retagged = [key for key in world.unchanged if "airbyte:generation:1" not in tags[_document_id(*key)]]
    posts = _document_posts(emu) - posts_before
    record_result(
        {
            "suite": "kill_resume_generations_scale",
            "case": "3 x 700",
            "unchanged": len(world.unchanged),
            "changed_or_new": len(world.changed_or_new),
            "replayed_records": sum(1 for m in replay if m["type"] == "RECORD"),
            "document_posts": posts,
            "unchanged_uploaded": len(retagged),
            "ledger_rows": sum(len(t["rows"]) for t in ds["tables"] if t["table_id"] == ledger.TABLE_ID),
        }
    )
    assert not retagged, retagged[:10]
    assert posts <= 2 * len(world.changed_or_new)  # at most once per attempt
    assert len(world.unchanged) > 2000
