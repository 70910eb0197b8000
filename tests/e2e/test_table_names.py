"""Table names that last, end to end: the real CLI (`write`) against the emulator, over several syncs whose
catalog changes. Every sync exits 0, every table keeps the name it had after the sync before, and every row
written is still there; a table another tool made keeps its name and content.

Also here: an older table keeps the column names version 0.1 gave it, and what a user reads in the log about
fields (a 2,000-field record) and about a cell cut to fit (a 2 MiB cell).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from destination_dust.catalog import StreamKey
from destination_dust.table_names import table_id_for
from dust_emulator.testing import EmulatorProcess
from tests.helpers import (
    FAKE_KEY,
    CliResult,
    catalog,
    configured_stream,
    jsonl,
    record,
    run_cli,
    write_json,
)

ID_SCHEMA = {"id": {"type": "integer"}, "who": {"type": "string"}}


def _sync(
    emulator: EmulatorProcess,
    tmp_path: Path,
    streams: list[tuple[str | None, str]],
    ids: range,
    *,
    ok: bool = True,
    properties: dict[str, Any] | None = None,
    records: list[dict[str, Any]] | None = None,
) -> CliResult:
    """One `write` of `streams` ((namespace, name), append mode), each sending records `ids` whose `who`
    says which stream wrote them (unless `records` are given)."""
    configured = [
        configured_stream(name, namespace=namespace, primary_key=[["id"]], properties=properties or ID_SCHEMA)
        for namespace, name in streams
    ]
    if records is None:
        records = [
            record(name, {"id": i, "who": f"{namespace}.{name}"}, namespace=namespace)
            for namespace, name in streams
            for i in ids
        ]
    config = {**emulator.config, "data_format": "tables", "api_key": emulator.config["api_key"]}
    result = run_cli(
        [
            "write",
            "--config",
            write_json(tmp_path, "config.json", config),
            "--catalog",
            write_json(tmp_path, "catalog.json", catalog(*configured)),
        ],
        jsonl(records),
        timeout=300,
    )
    if ok:
        assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
        assert result.traces == [], result.traces
    return result


def _tables(emulator: EmulatorProcess) -> dict[str, dict[str, Any]]:
    """The data source's tables by table_id, each with its rows (the emulator's dump)."""
    for ds in emulator.dump()["data_sources"]:
        if ds["sId"] == emulator.config["data_source_id"]:
            return {table["table_id"]: table for table in ds["tables"]}
    raise AssertionError("the configured data source is missing from the dump")


def _names(emulator: EmulatorProcess) -> dict[str, str]:
    return {table_id: table["name"] for table_id, table in _tables(emulator).items()}


def _rows(emulator: EmulatorProcess, namespace: str | None, stream: str) -> dict[int, str]:
    """id -> who, for every row of the stream's table."""
    table = _tables(emulator)[table_id_for(StreamKey(namespace, stream), "airbyte_")]
    return {int(row["value"]["id"]): str(row["value"]["who"]) for row in table["rows"]}


def _written(namespace: str | None, stream: str, *ranges: range) -> dict[int, str]:
    return {i: f"{namespace}.{stream}" for ids in ranges for i in ids}


def _id(namespace: str | None, stream: str) -> str:
    return table_id_for(StreamKey(namespace, stream), "airbyte_")


# -- the scenarios of issue 23 ----------------------------------------------------------------------------------


def test_dropping_a_stream_that_shares_a_name_breaks_no_later_sync(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    """`Users` and `users`, then `users` alone, then both again: each sync succeeds, no table is renamed."""
    _sync(emulator, tmp_path, [(None, "Users"), (None, "users")], range(0, 3))
    names = _names(emulator)
    assert names == {_id(None, "Users"): "airbyte_users", _id(None, "users"): "airbyte_users_2"}

    _sync(emulator, tmp_path, [(None, "users")], range(3, 6))
    assert _names(emulator) == names
    assert _rows(emulator, None, "users") == _written(None, "users", range(0, 6))
    assert _rows(emulator, None, "Users") == _written(
        None, "Users", range(0, 3)
    )  # the deselected table stays

    _sync(emulator, tmp_path, [(None, "users"), (None, "Users")], range(6, 8))
    assert _names(emulator) == names
    assert _rows(emulator, None, "users") == _written(None, "users", range(0, 8))
    assert _rows(emulator, None, "Users") == _written(None, "Users", range(0, 3), range(6, 8))


def test_adding_a_stream_that_shares_a_name_renames_nothing(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    _sync(emulator, tmp_path, [(None, "users")], range(0, 3))
    assert _names(emulator) == {_id(None, "users"): "airbyte_users"}

    result = _sync(emulator, tmp_path, [(None, "users"), (None, "Users")], range(3, 5))
    assert _names(emulator) == {_id(None, "users"): "airbyte_users", _id(None, "Users"): "airbyte_users_2"}
    assert _rows(emulator, None, "users") == _written(None, "users", range(0, 5))
    assert _rows(emulator, None, "Users") == _written(None, "Users", range(3, 5))
    assert f"stream Users: new table airbyte_users_2 (table_id {_id(None, 'Users')})" in result.logs


def test_a_second_and_third_namespace_rename_nothing(emulator: EmulatorProcess, tmp_path: Path) -> None:
    _sync(emulator, tmp_path, [("public", "users")], range(0, 2))
    first = _names(emulator)
    assert first == {_id("public", "users"): "airbyte_users"}

    _sync(emulator, tmp_path, [("public", "users"), ("crm", "users")], range(2, 4))
    second = _names(emulator)
    assert second == first | {_id("crm", "users"): "airbyte_crm_users"}

    _sync(emulator, tmp_path, [("crm", "users"), ("hr", "users")], range(4, 6))  # public dropped, hr added
    assert _names(emulator) == second | {_id("hr", "users"): "airbyte_hr_users"}
    assert _rows(emulator, "public", "users") == _written("public", "users", range(0, 4))
    assert _rows(emulator, "crm", "users") == _written("crm", "users", range(2, 6))
    assert _rows(emulator, "hr", "users") == _written("hr", "users", range(4, 6))


def test_a_foreign_table_holding_the_name_is_left_alone(emulator: EmulatorProcess, tmp_path: Path) -> None:
    with emulator.api_client() as api:
        made = api.post(
            f"{emulator.ds_path}/tables",
            json={
                "name": "airbyte_users",
                "table_id": "made-by-hand",
                "title": "Users (hand-made)",
                "description": "kept by the data team",
                "tags": ["team:data"],
            },
        )
        assert made.status_code == 200, made.text
        rows = {"rows": [{"row_id": "a", "value": {"email": "a@example.com"}}], "truncate": False}
        assert api.post(f"{emulator.ds_path}/tables/made-by-hand/rows", json=rows).status_code == 200
    foreign = _tables(emulator)["made-by-hand"]

    _sync(emulator, tmp_path, [(None, "users")], range(0, 3))
    assert _names(emulator) == {"made-by-hand": "airbyte_users", _id(None, "users"): "airbyte_users_2"}
    _sync(emulator, tmp_path, [(None, "users"), ("crm", "users")], range(3, 4))
    assert _tables(emulator)["made-by-hand"] == foreign  # name, description, tags and rows untouched
    assert _names(emulator) == {
        "made-by-hand": "airbyte_users",
        _id(None, "users"): "airbyte_users_2",
        _id("crm", "users"): "airbyte_crm_users",
    }
    assert _rows(emulator, None, "users") == _written(None, "users", range(0, 4))


def test_a_foreign_table_under_the_streams_table_id_stops_the_sync_before_any_write(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    with emulator.api_client() as api:
        body = {"name": "people", "table_id": "airbyte_users", "title": "People", "description": "not ours"}
        assert api.post(f"{emulator.ds_path}/tables", json=body).status_code == 200
    before = _tables(emulator)

    result = _sync(emulator, tmp_path, [(None, "users")], range(0, 3), ok=False)
    assert result.returncode != 0
    (trace,) = result.traces
    error = trace["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert "'airbyte_users'" in error["message"] and "not created by this connector" in error["message"]
    assert "table_id_prefix" in error["message"]
    assert _tables(emulator) == before
    assert FAKE_KEY not in result.stdout.decode() + result.stderr.decode()


def test_a_renamed_table_keeps_the_name_its_user_gave_it(emulator: EmulatorProcess, tmp_path: Path) -> None:
    """How a user renames a table: upsert it under its table_id with another name; later syncs keep it."""
    _sync(emulator, tmp_path, [(None, "users")], range(0, 2))
    table = _tables(emulator)[_id(None, "users")]
    with emulator.api_client() as api:
        renamed = {k: table[k] for k in ("table_id", "title", "description", "tags")} | {"name": "people"}
        assert api.post(f"{emulator.ds_path}/tables", json=renamed).status_code == 200

    _sync(emulator, tmp_path, [(None, "users"), (None, "Users")], range(2, 3))
    assert _names(emulator) == {_id(None, "users"): "people", _id(None, "Users"): "airbyte_users"}
    assert _rows(emulator, None, "users") == _written(None, "users", range(0, 3))


# -- columns ----------------------------------------------------------------------------------------------------


def test_new_tables_keep_valid_field_names_and_older_tables_keep_their_columns(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    """A table made by version 0.1 has `address_2` for `address2`: its rows keep landing there. A new table
    gets the field names as they are."""
    with emulator.api_client() as api:
        body = {
            "name": "airbyte_addresses",
            "table_id": "airbyte_addresses",
            "title": "addresses",
            "description": "written by version 0.1",
            "tags": ["airbyte:stream:addresses"],
        }
        assert api.post(f"{emulator.ds_path}/tables", json=body).status_code == 200
        old_row = {"row_id": "1", "value": {"id": 1, "address_2": "Apt 1", "line_1": "1 Main St"}}
        rows = {"rows": [old_row], "truncate": False}
        assert api.post(f"{emulator.ds_path}/tables/airbyte_addresses/rows", json=rows).status_code == 200

    properties = {"id": {"type": "integer"}, "address2": {"type": "string"}, "line1": {"type": "string"}}
    data = {"id": 2, "address2": "Apt 2", "line1": "2 Main St", "sha256": "ab", "HTTPStatus": 200}
    _sync(
        emulator,
        tmp_path,
        [(None, "addresses"), (None, "places")],
        range(0),
        properties=properties,
        records=[record("addresses", data), record("places", data)],
    )
    tables = _tables(emulator)
    old = {row["row_id"]: row["value"] for row in tables["airbyte_addresses"]["rows"]}
    assert old == {
        "1": old_row["value"],
        "2": {"id": 2, "address_2": "Apt 2", "line_1": "2 Main St", "sha256": "ab", "http_status": 200},
    }
    (new,) = [row["value"] for row in tables[_id(None, "places")]["rows"]]
    assert new == {"id": 2, "address2": "Apt 2", "line1": "2 Main St", "sha256": "ab", "http_status": 200}


# -- what the log says ------------------------------------------------------------------------------------------


def _field_lines(result: CliResult) -> list[str]:
    return [line for line in result.logs if "field" in line.lower()]


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (1_000, "fields renamed to columns: 'declaredField0' -> declared_field0, "),  # 510 renames
        (0, "510 new fields found in the data: 'declaredField0' -> declared_field0, "),
    ],
)
def test_a_record_of_2000_fields_gives_at_most_five_log_lines_about_fields(
    emulator: EmulatorProcess, tmp_path: Path, declared: int, expected: str
) -> None:
    properties = {"id": {"type": "integer"}} | {
        f"declaredField{i}": {"type": "integer"} for i in range(declared)
    }
    data = {
        "id": 1,
        **{f"declaredField{i}": i for i in range(1_000)},
        **{f"foundField{i}": i for i in range(999)},
    }
    assert len(data) == 2_000
    result = _sync(
        emulator, tmp_path, [(None, "wide")], range(0), properties=properties, records=[record("wide", data)]
    )
    lines = _field_lines(result)
    assert 2 <= len(lines) <= 5, [line[:200] for line in lines]
    assert any(expected in line for line in lines), [line[:400] for line in lines]
    assert any("more than 511 fields; field 'declaredField510' and later ones go" in line for line in lines)
    (row,) = _tables(emulator)[_id(None, "wide")]["rows"]
    assert len(row["value"]) == 512  # 511 columns and the folded fields' JSON column


def test_a_2_mib_cell_gives_one_log_line_naming_the_stream_the_row_and_the_field(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    big = "lorem ipsum " * (2 * 1024 * 1024 // 12)
    records = [record("notes", {"id": 7, "who": "x", "Body": big}), record("notes", {"id": 8, "who": "y"})]
    result = _sync(emulator, tmp_path, [(None, "notes")], range(0), records=records)
    about_it = [line for line in result.logs if "'7'" in line or "cut" in line]
    assert len(about_it) == 1, about_it
    (line,) = about_it
    assert line.startswith("stream notes: row '7' was ")
    assert "'Body' (column body) cut by " in line and "characters" in line
    rows = {row["row_id"]: row["value"] for row in _tables(emulator)[_id(None, "notes")]["rows"]}
    assert rows["7"]["body"].startswith("lorem ipsum") and "truncated by Airbyte" in rows["7"]["body"]
    assert rows["8"] == {"id": 8, "who": "y"}


@pytest.mark.parametrize("data_format", ["tables", "documents"])
def test_text_that_cannot_be_encoded_is_named_once_per_record(
    emulator: EmulatorProcess, tmp_path: Path, data_format: str
) -> None:
    lines = [
        b'{"type":"RECORD","record":{"stream":"notes","emitted_at":1,"data":{"id":1,"who":"a\\ud800b"}}}'
    ]
    config = {**emulator.config, "data_format": data_format}
    configured = catalog(configured_stream("notes", primary_key=[["id"]], properties=ID_SCHEMA))
    result = run_cli(
        [
            "write",
            "--config",
            write_json(tmp_path, "config.json", config),
            "--catalog",
            write_json(tmp_path, "catalog.json", configured),
        ],
        b"\n".join(lines) + b"\n",
    )
    assert result.returncode == 0 and result.traces == []
    about_it = [line for line in result.logs if "cannot be encoded" in line]
    assert len(about_it) == 1, result.logs
    assert about_it[0].startswith("stream notes: ") and "field 'who'" in about_it[0]
