"""Throughput features against the emulator over real HTTP (the CLI as a subprocess): the client-side rate
limiter, 429/5xx/reset fault injection, the retry deadline, and skipping unchanged documents. These assert
outcomes (what landed, how many requests Dust saw, exit codes), never durations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dust_emulator.testing import EmulatorProcess, running_emulator
from tests.helpers import (
    CliResult,
    catalog,
    configured_stream,
    jsonl,
    record,
    run_cli,
    stream_state,
    write_json,
)

WINDOW_ENV = {"DESTINATION_DUST_RATE_WINDOW_SECONDS": "2"}  # our window mirrors the emulator's 2 s


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[EmulatorProcess]:
    with running_emulator(rate_limit=10, rate_window=2) as emulator:
        yield emulator


@pytest.fixture
def emu(emulator_process: EmulatorProcess) -> EmulatorProcess:
    emulator_process.reset("all")
    return emulator_process


def _users(count: int, start: int = 0, suffix: str = "") -> list[dict[str, Any]]:
    messages = [
        record("users", {"id": i, "name": f"user {i}{suffix}", "bio": "x" * 50}) for i in range(start, count)
    ]
    messages.append(stream_state("users", {"cursor": count}))
    return messages


def _sync(emu: EmulatorProcess, tmp_path: Path, messages: list[dict[str, Any]], **config: Any) -> CliResult:
    config_path = write_json(tmp_path, "config.json", {**emu.config, **config})
    catalog_path = write_json(
        tmp_path, "catalog.json", catalog(configured_stream("users", primary_key=[["id"]]))
    )
    return run_cli(
        ["write", "--config", config_path, "--catalog", catalog_path], jsonl(messages), env=WINDOW_ENV
    )


def _posts(emu: EmulatorProcess) -> dict[str, int]:
    routes: dict[str, dict[str, int]] = emu.counters()["routes"]
    return routes.get("POST documents", {})


def test_a_rate_limited_sync_lands_everything_without_429s(emu: EmulatorProcess, tmp_path: Path) -> None:
    """35 documents through a 10-per-2-s window: our limiter mirrors it, so Dust never refuses one."""
    result = _sync(emu, tmp_path, _users(35), document_upserts_per_minute=300)
    assert result.returncode == 0, result.traces
    assert len(emu.documents()) == 35
    assert _posts(emu).get("429", 0) == 0
    assert len(result.states) == 1


def test_429s_from_someone_else_are_waited_out(emu: EmulatorProcess, tmp_path: Path) -> None:
    """Dust answers 429 to 6 upserts although our window is free (another client spent the budget): the sync
    waits and lands everything."""
    emu.set_faults(burst_429=6)
    result = _sync(emu, tmp_path, _users(12), document_upserts_per_minute=300)
    assert result.returncode == 0, result.traces
    assert len(emu.documents()) == 12
    assert _posts(emu).get("429") == 6
    assert any("rate-limited" in line for line in result.logs)


def test_5xx_and_resets_are_retried(emu: EmulatorProcess, tmp_path: Path) -> None:
    emu.set_faults(error_5xx_rate=0.3, reset_rate=0.1, seed=7)
    result = _sync(emu, tmp_path, _users(15), document_upserts_per_minute=0)
    assert result.returncode == 0, result.traces
    assert len(emu.documents()) == 15
    statuses = emu.counters()["totals"]["by_status"]
    assert sum(int(n) for s, n in statuses.items() if s.startswith("5")) > 0  # the faults did happen


def test_sustained_429s_fail_with_a_transient_error_after_the_deadline(
    emu: EmulatorProcess, tmp_path: Path
) -> None:
    emu.set_faults(burst_429=100_000)
    result = _sync(emu, tmp_path, _users(3), document_upserts_per_minute=300, retry_deadline_seconds=3)
    assert result.returncode == 1
    assert [t["trace"]["error"]["failure_type"] for t in result.traces] == ["transient_error"]
    assert "429" in result.traces[0]["trace"]["error"]["message"]
    assert result.states == []  # nothing acknowledged, nothing checkpointed
    assert emu.documents() == []


def test_a_non_retryable_4xx_is_sent_once(emu: EmulatorProcess, tmp_path: Path) -> None:
    emu.set_faults(burst_quota=1)  # 403 data_source_quota_error on the next document POST
    result = _sync(emu, tmp_path, _users(1), document_upserts_per_minute=0)
    assert result.returncode == 1
    assert result.traces[0]["trace"]["error"]["failure_type"] == "config_error"
    assert sum(_posts(emu).values()) == 1


def test_a_resync_of_unchanged_documents_spends_no_upserts(emu: EmulatorProcess, tmp_path: Path) -> None:
    first = _sync(emu, tmp_path, _users(25), document_upserts_per_minute=0)
    assert first.returncode == 0, first.traces
    assert _posts(emu).get("200") == 25
    second = _sync(emu, tmp_path, _users(25), document_upserts_per_minute=0)
    assert second.returncode == 0, second.traces
    assert _posts(emu).get("200") == 25  # not one more upsert
    assert any("25 unchanged skipped" in line for line in second.logs)
    assert len(second.states) == 1


def test_a_changed_document_is_upserted_and_the_rest_skipped(emu: EmulatorProcess, tmp_path: Path) -> None:
    assert _sync(emu, tmp_path, _users(10), document_upserts_per_minute=0).returncode == 0
    changed = _users(10)
    changed[3] = record("users", {"id": 3, "name": "user 3 renamed", "bio": "x" * 50})
    result = _sync(emu, tmp_path, changed, document_upserts_per_minute=0)
    assert result.returncode == 0, result.traces
    assert _posts(emu).get("200") == 11
    stored = {d["document_id"]: d for d in emu.documents()}
    assert any("user 3 renamed" in d.get("text", "") for d in stored.values())
