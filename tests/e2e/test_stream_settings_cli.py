"""Per-stream settings through the real CLI: a malformed `streams` entry fails `check` with a message naming it,
an entry that matches no catalog stream is a warning (check with --catalog, and a LOG at write), and two
streams land in Dust each rendered with its own settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dust_emulator.testing import EmulatorProcess
from tests.helpers import FAKE_KEY, catalog, configured_stream, jsonl, record, run_cli, write_json


def _status(result: Any) -> dict[str, Any]:
    statuses = result.of_type("CONNECTION_STATUS")
    assert len(statuses) == 1, result.stdout
    status: dict[str, Any] = statuses[0]["connectionStatus"]
    return status


def test_check_fails_on_a_malformed_entry_naming_it(tmp_path: Path) -> None:
    config = {
        "api_key": FAKE_KEY,
        "workspace_id": "w",
        "space_id": "s",
        "data_source_id": "d",
        "streams": [{"name": "users"}, {"name": "ticket_comments", "parent_stream": "tickets"}],
    }
    result = run_cli(["check", "--config", write_json(tmp_path, "config.json", config)])
    status = _status(result)
    assert status["status"] == "FAILED"
    assert "'ticket_comments'" in status["message"] and "parent_key" in status["message"]
    assert FAKE_KEY.encode() not in result.stdout + result.stderr


def test_unmatched_entries_warn_at_check_and_at_write(emulator: EmulatorProcess, tmp_path: Path) -> None:
    emulator.update_settings(rate_limit=0)
    config = write_json(
        tmp_path,
        "config.json",
        {
            **emulator.config,
            "document_upserts_per_minute": 0,
            "text_fields": ["subject"],
            "streams": [
                {"name": "users", "text_fields": ["name", "role"], "title_field": "email"},
                {"name": "tickts", "tag_fields": ["status"]},
            ],
        },
    )
    catalog_path = write_json(
        tmp_path,
        "catalog.json",
        catalog(
            configured_stream("tickets", primary_key=[["id"]]),
            configured_stream("users", primary_key=[["id"]]),
        ),
    )
    checked = run_cli(["check", "--config", config, "--catalog", catalog_path])
    assert _status(checked)["status"] == "SUCCEEDED"
    assert any("'tickts'" in log and "match no stream" in log for log in checked.logs), checked.logs
    stdin = jsonl(
        [
            record("tickets", {"id": 1, "subject": "Export fails", "status": "open"}),
            record(
                "users",
                {"id": 2, "name": "Ada", "title": "Mrs.", "email": "ada@example.com", "role": "admin"},
            ),
        ]
    )
    written = run_cli(["write", "--config", config, "--catalog", catalog_path], stdin)
    assert written.returncode == 0 and not written.traces, written.stdout[-2000:]
    assert sum("'tickts'" in log and "match no stream" in log for log in written.logs) == 1
    stored = {d["document_id"]: d for d in emulator.documents()}
    assert stored["tickets-1"]["text"].endswith("subject: Export fails\n")
    assert stored["users-2"]["title"] == "ada@example.com"
    assert stored["users-2"]["text"].endswith("name: Ada\nrole: admin\n")


def test_check_with_the_catalog_fails_on_a_composition_that_does_not_fit_it(tmp_path: Path) -> None:
    config = {
        "api_key": FAKE_KEY,
        "workspace_id": "w",
        "space_id": "s",
        "data_source_id": "d",
        "streams": [{"name": "comments", "parent_stream": "tickets", "parent_key": ["ticket_id", "org_id"]}],
    }
    catalog_path = write_json(
        tmp_path,
        "catalog.json",
        catalog(
            configured_stream("tickets", primary_key=[["id"]]),
            configured_stream("comments", primary_key=[["id"]]),
        ),
    )
    result = run_cli(
        ["check", "--config", write_json(tmp_path, "config.json", config), "--catalog", catalog_path]
    )
    status = _status(result)
    assert status["status"] == "FAILED"
    assert "'comments'" in status["message"] and "parent_key has 2 paths" in status["message"]
