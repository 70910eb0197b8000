"""The kill -9 / resume matrix and the random faults of the fault matrix, with composed documents: `notes` are composed into the documents of `docs`
(each note names its doc in `doc_id`). The connector is killed at random points and resumed from its last
emitted states, as in test_kill_resume.py, and we check:

- no STATE was emitted before every record it covers was in Dust, at that version or newer, in the right
  document (every run);
- after the final run: every doc and note at its latest version, each note exactly once, in its doc's
  document (0 lost, 0 duplicated sections, 0 stale versions), and no document of its own for any note.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from destination_dust import ids
from destination_dust.catalog import StreamKey
from dust_emulator.testing import EmulatorProcess, wait_until
from tests.helpers import write_json
from tests.reliability.support import (
    TOKEN,
    Audit,
    LiveSync,
    Plan,
    StateChecker,
    connector_config,
    data_source,
    judge,
    make_plan,
    preflight_count,
    record_result,
    replay_after,
    sync_catalog,
)

SEEDS = range(12)
DOCS = 30
STREAMS = ("docs", "notes")
SETTINGS = [{"name": "notes", "parent_stream": "docs", "parent_key": ["doc_id"], "order_by": "id"}]


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(rate_limit=0, latency_ms=3, latency_jitter_ms=4, seed=11) as emulator:
        yield emulator


def _parent(pk: int) -> int:
    return pk % DOCS


def _plan(rng: random.Random) -> Plan:
    plan = make_plan(rng, {"docs": DOCS, "notes": 150}, state_every=rng.randint(4, 12), update_rate=0.15)
    for message, meaning in zip(plan.messages, plan.meaning, strict=True):
        if meaning[0] == "record" and meaning[1] == "notes":
            message["record"]["data"]["doc_id"] = _parent(meaning[2])
    return plan


def _audit(ds: dict[str, Any], need: dict[tuple[str, int], int]) -> Audit:
    """Every doc token in its own document (one per document), every note token in its doc's document, once."""
    result = Audit()
    copies: dict[tuple[str, int], int] = {}
    for document in ds["documents"]:
        found = [(m[0], int(m[1]), int(m[2])) for m in TOKEN.findall(document.get("text") or "")]
        for stream, pk, version in found:
            owner = pk if stream == "docs" else _parent(pk)
            if stream not in STREAMS or document["document_id"] != ids.document_id(
                StreamKey(None, "docs"), [owner], {}
            ):
                result.duplicates += 1  # a record in a document it does not belong to
            copies[(stream, pk)] = copies.get((stream, pk), 0) + 1
            result.held[(stream, pk)] = max(version, result.held.get((stream, pk), -1))
    return judge(result, copies, need)


def _checker(plan: Plan, emu: EmulatorProcess) -> StateChecker:
    """on_state: when a STATE is read, Dust already holds every record it covers, in its document."""
    return StateChecker(plan, emu.dump, emu.config["data_source_id"], auditor=_audit)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("seed", SEEDS)
def test_kill_composed_syncs_at_random_points_and_resume(
    tmp_path: Path, emu: EmulatorProcess, seed: int
) -> None:
    rng = random.Random(1000 + seed)
    emu.reset()
    plan = _plan(rng)
    settings = {"stream_formats": {}, "streams": SETTINGS, "max_concurrent_requests": 4}
    config = write_json(tmp_path, "config.json", connector_config(emu.config, **settings))
    catalog = write_json(tmp_path, "catalog.json", sync_catalog(STREAMS))
    vouched: dict[str, int] = {}
    kills = 0
    states_before_kills = 0
    started = time.monotonic()
    for _ in range(rng.choice([1, 2])):
        checker = _checker(plan, emu)
        preflights = preflight_count(emu)
        live = LiveSync(config, catalog, on_state=checker)
        replay = replay_after(plan, vouched, STREAMS)
        assert wait_until(lambda n=preflights: preflight_count(emu) > n, timeout_s=10)
        last_record = max(i for i, m in enumerate(replay) if m["type"] == "RECORD")
        cut = rng.randint(min(len(replay) // 4, last_record), last_record)
        live.feed(replay[:cut], close=False)
        states_sent = sum(1 for m in replay[:cut] if m["type"] == "STATE")
        if rng.random() < 0.4 or states_sent == 0:
            time.sleep(rng.uniform(0.0, 1.2))  # while documents gather changes, or as the first are written
        else:  # after some checkpoints, a few milliseconds into the next writes
            assert live.wait_for_states(rng.randint(1, states_sent), timeout=30)
            time.sleep(rng.uniform(0.0, 0.05))
        live.kill()
        result = live.finish(timeout=20)
        assert not live.errors, live.errors[0]
        assert result.returncode == -9 and result.stderr == b"", (result.returncode, result.stderr[-2000:])
        kills += 1
        states_before_kills += len(result.states)
        for stream, position in checker.vouched.items():
            vouched[stream] = max(vouched.get(stream, -1), position)

    checker = _checker(plan, emu)
    live = LiveSync(config, catalog, on_state=checker)
    replayed = replay_after(plan, vouched, STREAMS)
    live.send(replayed)
    result = live.finish(timeout=60)
    assert not live.errors, live.errors[0]
    assert result.returncode == 0 and result.stderr == b"", result.traces
    assert len(result.states) == sum(1 for m in replayed if m["type"] == "STATE")
    ds = data_source(emu.dump(), emu.config["data_source_id"])
    found = _audit(ds, plan.required(dict.fromkeys(STREAMS, len(plan.messages))))
    record_result(
        {
            "suite": "kill_resume_composed",
            "case": f"seed {seed}",
            "kills": kills,
            "states_before_kills": states_before_kills,
            "records": plan.record_count(),
            "replayed_records": sum(1 for m in replayed if m["type"] == "RECORD"),
            "lost": len(found.lost),
            "stale": len(found.stale),
            "duplicates": found.duplicates,
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    assert found.ok, found.describe()
    assert sorted(d["document_id"] for d in ds["documents"]) == sorted(
        ids.document_id(StreamKey(None, "docs"), [pk], {}) for pk in range(DOCS)
    )


STORM = {"document_upserts_per_minute": 480, "retry_deadline_seconds": 30}  # 4 per 0.5 s, as Dust's below


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("name", "flags", "settings", "injected"),
    [
        ("5xx_20pct", {"fault_5xx_rate": 0.2, "seed": 21}, {}, {"500", "502", "503"}),
        ("connection_resets", {"fault_reset_rate": 0.15, "seed": 12}, {}, {"reset"}),
        ("429_storm", {"rate_limit": 4, "rate_window": 0.5, "burst_429": 12}, STORM, {"429"}),
    ],
)
def test_composed_syncs_under_faults_lose_nothing(
    tmp_path: Path, name: str, flags: dict[str, Any], settings: dict[str, Any], injected: set[str]
) -> None:
    """The fault matrix's random faults and its 429 storm (12 consecutive 429s on top of a limit of 4 per 0.5 s
    window), on composed streams: every STATE checked when read, then the store."""
    plan = _plan(random.Random(name))
    started = time.monotonic()
    env = {"DESTINATION_DUST_RATE_WINDOW_SECONDS": "0.5"} if settings else None
    with EmulatorProcess(**{"rate_limit": 0, **flags}) as emu:
        settings = {"stream_formats": {}, "streams": SETTINGS, **settings}
        config = write_json(tmp_path, "config.json", connector_config(emu.config, **settings))
        catalog = write_json(tmp_path, "catalog.json", sync_catalog(STREAMS))
        live = LiveSync(config, catalog, on_state=_checker(plan, emu), env=env)
        live.send(plan.messages)
        result = live.finish(timeout=90)
        assert not live.errors, live.errors[0]
        assert result.returncode == 0 and not result.traces, result.traces
        assert len(result.states) == sum(1 for m in plan.meaning if m[0] == "state")
        faults = sum(n for status, n in emu.counters()["totals"]["by_status"].items() if status in injected)
        found = _audit(
            data_source(emu.dump(), emu.config["data_source_id"]),
            plan.required(dict.fromkeys(STREAMS, len(plan.messages))),
        )
    record_result(
        {
            "suite": "fault_matrix_composed",
            "case": name,
            "injected": faults,
            "records": plan.record_count(),
            "lost": len(found.lost),
            "stale": len(found.stale),
            "duplicates": found.duplicates,
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    assert faults > 0
    assert found.ok, found.describe()
