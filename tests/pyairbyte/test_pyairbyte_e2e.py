"""PyAirbyte end to end: source-faker -> destination-dust -> dust-emulator, connectors as local executables.

PyAirbyte runs in its own cached venv (conftest.py); the destination is the project's own
`.venv/bin/destination-dust`. One run_sync.py process does every write (import airbyte once) and saves the
emulator's store after each, so the test can check intermediate states too.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from dust_emulator.testing import running_emulator

pytestmark = [pytest.mark.pyairbyte, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
DESTINATION = ROOT / ".venv" / "bin" / "destination-dust"
RUN_SYNC = Path(__file__).resolve().parent / "run_sync.py"
USERS = 30  # documents: 30 upserts, well under the 120/minute window shared by the whole test
FEWER_USERS = 12


def _data_source(dump: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(ds for ds in dump["data_sources"] if ds["sId"] == sid)


@pytest.fixture(scope="module")
def result(pyairbyte_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("pyairbyte")
    assert DESTINATION.exists(), "the project's venv has no destination-dust (make venv)"
    with running_emulator() as emu:
        created = emu.control.post(
            f"/workspaces/{emu.config['workspace_id']}/data_sources",
            json={"name": "pyairbyte-tables", "space_id": emu.config["space_id"]},
        )
        created.raise_for_status()
        tables_ds = created.json()["data_source"]["sId"]
        documents_config = {
            **emu.config,
            "data_format": "documents",
            "title_field": "name",
            "tag_fields": ["gender"],
        }
        tables_config = {**emu.config, "data_source_id": tables_ds, "data_format": "tables"}
        plan = {
            "destination": str(DESTINATION),
            "dump_url": f"{emu.base_url}/__emulator/dump",
            "out": str(workdir / "result.json"),
            "runs": [
                {"name": "documents", "config": documents_config, "count": USERS, "write_strategy": "auto"},
                {"name": "tables", "config": tables_config, "count": USERS, "write_strategy": "replace"},
                {
                    "name": "tables_fewer",
                    "config": tables_config,
                    "count": FEWER_USERS,
                    "write_strategy": "replace",
                },
                {
                    "name": "tables_append",
                    "config": tables_config,
                    "count": FEWER_USERS,
                    "write_strategy": "append",
                },
            ],
        }
        (workdir / "plan.json").write_text(json.dumps(plan))
        env = {
            **{k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}},
            "AIRBYTE_OFFLINE_MODE": "1",
            "NO_LIVE_PROGRESS": "1",
            "DO_NOT_TRACK": "1",
        }
        started = time.monotonic()
        proc = subprocess.run(
            [str(pyairbyte_python), str(RUN_SYNC), str(workdir / "plan.json")],
            cwd=workdir,  # PyAirbyte writes .cache/ and state into the cwd
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert proc.returncode == 0, f"run_sync.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        output: dict[str, Any] = json.loads((workdir / "result.json").read_text())
        output["wall_s"] = round(time.monotonic() - started, 1)
        output["tables_ds"] = tables_ds
        output["documents_ds"] = emu.config["data_source_id"]
        output["final"] = emu.dump()
        output["counters"] = emu.counters()
        with httpx.Client() as http:  # the emulator answered every request it was sent: nothing left behind
            assert http.get(f"{emu.base_url}/__emulator/health").status_code == 200
    print(
        f"\nPyAirbyte e2e: {output['wall_s']}s, import airbyte {output['import_airbyte_s']}s, runs "
        + ", ".join(f"{k} {v['seconds']}s" for k, v in output["runs"].items())
    )
    return output


def test_documents_one_per_user_with_the_users_email(result: dict[str, Any]) -> None:
    run = result["runs"]["documents"]
    assert run["processed_records"] == USERS
    users = {u["id"]: u for u in result["users"][str(USERS)]}
    assert len(users) == USERS
    documents = {d["document_id"]: d for d in _data_source(run["dump"], result["documents_ds"])["documents"]}
    assert set(documents) == {f"users-{i}" for i in users}
    for user_id, user in users.items():
        document = documents[f"users-{user_id}"]
        assert f"email: {user['email']}" in document["text"]
        assert document["title"] == user["name"]  # title_field passed through PyAirbyte's config
        assert "airbyte:stream:users" in document["tags"]
        assert f"gender:{user['gender']}" in document["tags"]
        assert "address.city: " in document["text"]  # nested objects flattened, not raw JSON


def test_tables_rows_have_the_expected_columns_and_values(result: dict[str, Any]) -> None:
    run = result["runs"]["tables"]
    assert run["processed_records"] == USERS
    [table] = _data_source(run["dump"], result["tables_ds"])["tables"]
    assert table["name"] == "airbyte_users"
    types = {c["name"]: c["value_type"] for c in table["schema"]}
    expected = {
        "id": "int",
        "email": "text",
        "name": "text",
        "age": "int",
        "address": "text",
        "created_at": "datetime",
        "updated_at": "datetime",
        "height": "text",
    }
    for column, value_type in expected.items():
        if column == "height":  # faker sends it as a string ("1.59")
            continue
        assert types.get(column) == value_type, (column, types.get(column))
    users = {u["id"]: u for u in result["users"][str(USERS)]}
    rows = {r["value"]["id"]: r["value"] for r in table["rows"]}
    assert set(rows) == set(users)
    for user_id, user in users.items():
        assert rows[user_id]["email"] == user["email"]
        assert json.loads(rows[user_id]["address"])["city"] == user["address"]["city"]
        assert rows[user_id]["created_at"]["type"] == "datetime"


def test_replace_with_fewer_users_leaves_only_those(result: dict[str, Any]) -> None:
    [table] = _data_source(result["runs"]["tables_fewer"]["dump"], result["tables_ds"])["tables"]
    ids = sorted(r["value"]["id"] for r in table["rows"])
    assert ids == sorted(u["id"] for u in result["users"][str(FEWER_USERS)])
    assert len(ids) == FEWER_USERS


def test_append_keeps_one_row_per_id_and_the_documents_untouched(result: dict[str, Any]) -> None:
    final = result["final"]
    [table] = _data_source(final, result["tables_ds"])["tables"]
    # append re-sends users 1..12: rows are upserted by their deterministic id, not duplicated
    assert sorted(r["value"]["id"] for r in table["rows"]) == sorted(
        u["id"] for u in result["users"][str(FEWER_USERS)]
    )
    # the tables runs wrote into their own data source: the documents one kept its 30 documents and no table
    documents_ds = _data_source(final, result["documents_ds"])
    assert len(documents_ds["documents"]) == USERS and documents_ds["tables"] == []
    assert _data_source(final, result["tables_ds"])["documents"] == []
