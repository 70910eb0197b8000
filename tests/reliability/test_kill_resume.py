"""Crash and resume, seeded: kill -9 the connector at random points, restart it from the last emitted states
(each stream replays what follows its own last state, as a source resuming from its cursor would), and check:

- no STATE was ever emitted for a record the store did not hold when the line was read (every run);
- after the final run, every keyed record is present exactly once, at its latest version, in both formats.

tests/e2e/test_crash_resume.py is the small hand-written crash test; this is the seeded matrix.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dust_emulator.testing import EmulatorProcess, wait_until
from tests.reliability.support import (
    LiveSync,
    Plan,
    StateChecker,
    audit,
    connector_config,
    data_source,
    feed_then_kill,
    make_plan,
    preflight_count,
    record_result,
    replay_after,
    write_inputs,
)

SEEDS = range(20)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(rate_limit=0, latency_ms=3, latency_jitter_ms=4, seed=7) as emulator:
        yield emulator


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", SEEDS)
def test_kill_at_a_random_point_and_resume(tmp_path: Path, emu: EmulatorProcess, seed: int) -> None:
    rng = random.Random(seed)
    emu.reset()
    plan = make_plan(
        rng,
        {"docs": 60, "rows": 140},
        state_every=rng.randint(4, 15),
        update_rate=0.15,
        global_rate=0.15,
    )
    config, cat = write_inputs(
        tmp_path,
        connector_config(emu.config, table_batch_max_rows=rng.choice([5, 20, 50]), max_concurrent_requests=4),
    )
    data_source_id = emu.config["data_source_id"]
    vouched: dict[str, int] = {}
    kills = 0
    states_before_kills = 0
    after_first_kill: int | None = None  # records left to replay after the first kill
    started = time.monotonic()
    for _ in range(rng.choice([1, 1, 2])):
        checker = StateChecker(plan, emu.dump, data_source_id)
        preflights = preflight_count(emu)
        live = LiveSync(config, cat, on_state=checker)
        replay = replay_after(plan, vouched)
        # feed as a source would, from the moment the connector is ready (else the pipe holds it all at once)
        assert wait_until(lambda n=preflights: preflight_count(emu) > n, timeout_s=10)
        # the source gets as far as a random record (never the last): the rest is certainly left to replay
        last_record = max(i for i, m in enumerate(replay) if m["type"] == "RECORD")
        cut = rng.randint(min(len(replay) // 5, last_record), last_record)
        result = feed_then_kill(live, replay[:cut], rng)
        kills += 1
        states_before_kills += len(result.states)
        for stream, position in checker.vouched.items():
            vouched[stream] = max(vouched.get(stream, -1), position)
        if after_first_kill is None:
            after_first_kill = sum(1 for m in replay_after(plan, vouched) if m["type"] == "RECORD")

    checker = StateChecker(plan, emu.dump, data_source_id)
    live = LiveSync(config, cat, on_state=checker)
    replayed = replay_after(plan, vouched)
    live.send(replayed)
    result = live.finish(timeout=40)
    assert not live.errors, live.errors[0]
    assert result.returncode == 0, result.traces
    assert result.stderr == b""
    assert len(result.states) == sum(1 for m in replayed if m["type"] == "STATE")
    found = audit(data_source(emu.dump(), data_source_id), plan.final())
    replayed_records = sum(1 for m in replayed if m["type"] == "RECORD")
    record_result(
        {
            "suite": "kill_resume",
            "case": f"seed {seed}",
            "kills": kills,
            "states_before_kills": states_before_kills,
            "records": plan.record_count(),
            "replayed_records": replayed_records,
            "replayed_after_first_kill": after_first_kill,
            "lost": len(found.lost),
            "stale": len(found.stale),
            "duplicates": found.duplicates,
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    assert found.ok, found.describe()
    # exactly once: as many documents and rows as distinct keys
    ds = data_source(emu.dump(), data_source_id)
    keys = plan.final()
    assert len(ds["documents"]) == sum(1 for s, _ in keys if s == "docs")
    assert [len(t["rows"]) for t in ds["tables"]] == [sum(1 for s, _ in keys if s == "rows")]


@pytest.mark.timeout(60)
def test_a_replayed_older_version_never_lands_after_its_newer_one(tmp_path: Path) -> None:
    """After a crash the source replays versions the store may already hold. With slow document POSTs: the
    store holds doc 0 at v1 (first sync); the replay sends v0 then, after a STATE, v1 again. The v1 batch's
    skip-unchanged lookup must not run before the v0 upsert has landed, or it sees v1 stored, skips it, and
    v0 lands last under a state that vouches for v1."""
    docs_only = {"docs": 1}
    plan = Plan()
    for version in (0, 1):
        plan.messages.append(
            {
                "type": "RECORD",
                "record": {
                    "stream": "docs",
                    "emitted_at": 1,
                    "data": {"id": 0, "token": f"tok_docs_0_v{version}", "body": "x"},
                },
            }
        )
        plan.meaning.append(("record", "docs", 0, version))
        plan.messages.append(
            {
                "type": "STATE",
                "state": {
                    "type": "STREAM",
                    "stream": {"stream_descriptor": {"name": "docs"}, "stream_state": {"seq": version + 1}},
                },
            }
        )
        plan.meaning.append(("state", "docs", version + 1))
    with EmulatorProcess(rate_limit=0, latency_ms=400, fault_routes="documents", fault_methods="POST") as emu:
        config, cat = write_inputs(tmp_path, connector_config(emu.config), streams=docs_only)
        first = LiveSync(config, cat)
        first.send(plan.messages[2:])  # the first sync stored v1
        assert first.finish().returncode == 0
        checker = StateChecker(plan, emu.dump, emu.config["data_source_id"])
        replay = LiveSync(config, cat, on_state=checker)
        replay.send(plan.messages)
        result = replay.finish()
        time.sleep(0.5)
        found = audit(data_source(emu.dump(), emu.config["data_source_id"]), plan.final())
    assert result.returncode == 0, result.traces
    assert not replay.errors, replay.errors[0]
    assert found.ok, found.describe()
