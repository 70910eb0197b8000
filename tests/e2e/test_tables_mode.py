"""Tables mode done right, end to end: the real CLI (`write`) against the emulator (a subprocess, real HTTP).

- the contacts fixture (mixed-case and punctuated field names, dates with and without offsets, nested
  objects, big integers, type drift, fields only in the data) lands completely, with slugified columns and
  the column types Dust infers from the cells;
- 10,000 rows of ~2 KB land in bodies under Dust's 1 MB table limit (no 413) and none is lost;
- a second run of the same input creates no second table and no duplicate row;
- a 413 from the server splits the batch until the halves fit;
- one connection can write some streams as tables and the others as documents.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import orjson

from destination_dust.catalog import StreamKey
from destination_dust.ids import row_id
from destination_dust.tables import table_id_for
from dust_emulator.testing import EmulatorProcess
from tests.helpers import (
    ROOT,
    CliResult,
    catalog,
    complete,
    configured_stream,
    jsonl,
    record,
    run_cli,
    stream_state,
    write_json,
)

FIXTURES = ROOT / "tests" / "fixtures" / "tables"
CONTACTS_CATALOG = FIXTURES / "contacts.catalog.json"
CONTACTS_RECORDS = FIXTURES / "contacts.records.jsonl"
CONTACTS_TABLE = table_id_for(StreamKey(None, "contacts"), "airbyte_")
COLUMN_NAME = re.compile(r"^[a-z0-9_]+$")

CONTACT_COLUMNS = {
    "id",  # ID
    "first_name",  # FirstName
    "last_name",  # LastName
    "e_mail",  # e-mail
    "phone",  # phone: already a slug, keeps its name
    "phone_2",  # Phone #
    "created_at",  # Created At
    "updated_at",  # Updated At
    "birthday",  # Birthday
    "is_active",  # isActive
    "score",  # Score
    "lifetime_value",
    "external_ref",  # ExternalRef
    "preference",  # Préférence
    "address",  # Address
    "tags",  # Tags
    "notes",  # Notes
    "linked_in_url",  # LinkedIn URL: only in the data
    "score_2",  # score: only in the data, shadows Score
}


# -- helpers -------------------------------------------------------------------------------------------------


def _config(emulator: EmulatorProcess, **overrides: Any) -> dict[str, Any]:
    return {**emulator.config, "data_format": "tables", **overrides}


def _write(tmp_path: Path, config: dict[str, Any], streams: dict[str, Any] | Path, stdin: bytes) -> CliResult:
    catalog_path = (
        str(streams) if isinstance(streams, Path) else write_json(tmp_path, "catalog.json", streams)
    )
    result = run_cli(
        ["write", "--config", write_json(tmp_path, "config.json", config), "--catalog", catalog_path],
        stdin,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    assert result.traces == [], result.traces
    return result


def _tables(emulator: EmulatorProcess) -> list[dict[str, Any]]:
    """Every table of the configured data source, each with all its rows (from the emulator's dump)."""
    for ds in emulator.dump()["data_sources"]:
        if ds["sId"] == emulator.config["data_source_id"]:
            tables: list[dict[str, Any]] = ds["tables"]
            return tables
    raise AssertionError("the configured data source is missing from the dump")


def _rows_by_id(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ids = [row["row_id"] for row in table["rows"]]
    assert len(ids) == len(set(ids)), "a row id is stored twice"
    return {row["row_id"]: row["value"] for row in table["rows"]}


def _api_table(emulator: EmulatorProcess, table_id: str) -> dict[str, Any]:
    with emulator.api_client() as api:
        answer = api.get(f"{emulator.ds_path}/tables/{table_id}")
    assert answer.status_code == 200, answer.text
    table: dict[str, Any] = answer.json()["table"]
    return table


def _api_row_total(emulator: EmulatorProcess, table_id: str) -> int:
    with emulator.api_client() as api:
        answer = api.get(f"{emulator.ds_path}/tables/{table_id}/rows", params={"limit": 1})
    assert answer.status_code == 200, answer.text
    total: int = answer.json()["total"]
    return total


def _api_table_ids(emulator: EmulatorProcess) -> list[str]:
    with emulator.api_client() as api:
        answer = api.get(f"{emulator.ds_path}/tables")
    assert answer.status_code == 200, answer.text
    return [table["table_id"] for table in answer.json()["tables"]]


def _statuses(emulator: EmulatorProcess, route: str) -> dict[str, int]:
    """Answers by status of one `"<METHOD> <route kind>"`, e.g. `"POST rows"`."""
    statuses: dict[str, int] = emulator.counters()["routes"].get(route, {})
    return statuses


def _datetime(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dict[str, Any]:
    """The Dust datetime cell of a UTC instant."""
    moment = dt.datetime(year, month, day, hour, minute, tzinfo=dt.timezone.utc)
    return {"type": "datetime", "epoch": int(moment.timestamp()) * 1000}


# -- 1. the contacts fixture ---------------------------------------------------------------------------------


def test_contacts_fixture_lands_completely_with_slugified_typed_columns(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    result = _write(tmp_path, _config(emulator), CONTACTS_CATALOG, CONTACTS_RECORDS.read_bytes())
    assert [s["state"]["stream"]["stream_state"] for s in result.states] == [
        {"Updated At": "2024-03-06T09:00:00"}
    ]

    tables = _tables(emulator)
    assert [t["table_id"] for t in tables] == [CONTACTS_TABLE] == ["airbyte_contacts"]
    table = tables[0]
    rows = _rows_by_id(table)

    # one row per primary key; ID 2 was sent twice and keeps the later record
    assert set(rows) == {row_id([n], {}) for n in (1, 2, 3, 4, 5)} == {"1", "2", "3", "4", "5"}
    assert _api_row_total(emulator, CONTACTS_TABLE) == 5
    grace = rows["2"]
    assert grace["e_mail"] == "grace.hopper@example.com"
    assert grace["phone_2"] == "+1 202 555 0199"
    assert grace["score"] == 90
    assert grace["lifetime_value"] == 150.25
    assert json.loads(grace["tags"]) == ["navy", "cobol", "admiral"]
    assert grace["notes"] == "Updated e-mail address."
    assert grace["updated_at"] == _datetime(2024, 3, 6, 9)

    # slugified column names: exactly these, and no row key outside [a-z0-9_]
    seen = {name for value in rows.values() for name in value}
    assert seen == CONTACT_COLUMNS
    assert all(COLUMN_NAME.match(name) for name in seen), sorted(seen)

    # the schema Dust infers (public API: GET table), and the same in the store
    api_table = _api_table(emulator, CONTACTS_TABLE)
    schema = {column["name"]: column["value_type"] for column in api_table["schema"]}
    assert api_table["schema"] == table["schema"]
    assert set(schema) == CONTACT_COLUMNS  # every column had a value somewhere
    for name in ("created_at", "updated_at", "birthday"):  # date-time (with and without zone) and date
        assert schema[name] == "datetime", (name, schema[name])
    assert schema["id"] == "int"
    assert schema["lifetime_value"] == "float"  # declared number: 1200.5, 0, 5000, 150.25 and "n/a" -> null
    assert schema["score"] in ("int", "float")  # whole values: Dust's JS front turns 90.0 into 90, so int
    assert schema["is_active"] == "bool"  # true, "false", "yes": parsed, the column stays bool
    for name in ("external_ref", "address", "tags", "e_mail", "phone_2", "preference", "score_2"):
        assert schema[name] == "text", (name, schema[name])

    # datetimes: offsets applied, naive = UTC, epoch seconds read as seconds, dates at midnight UTC
    assert rows["1"]["created_at"] == _datetime(2024, 1, 15, 8, 30)  # 09:30+01:00
    assert rows["1"]["updated_at"] == _datetime(2024, 3, 1, 12)
    assert rows["3"]["created_at"] == _datetime(2024, 1, 17, 10)  # "2024-01-17 10:00:00"
    assert rows["4"]["created_at"] == {"type": "datetime", "epoch": 1_705_500_000_000}  # 1705500000 (s)
    assert rows["1"]["birthday"] == _datetime(1815, 12, 10)
    assert rows["3"]["birthday"] is None

    # big integers keep every digit, as text
    assert rows["1"]["external_ref"] == "9007199254740993"  # 2^53 + 1: a double would round it
    assert rows["2"]["external_ref"] == "12345678901234567890"
    assert rows["4"]["external_ref"] == "42"
    assert rows["5"]["external_ref"] == "18446744073709551616"  # 2^64
    assert rows["3"]["external_ref"] is None

    # nested objects and arrays as JSON text
    assert json.loads(rows["1"]["address"]) == {
        "street": "12 St James's Square",
        "city": "London",
        "zip": "SW1Y 4LB",
    }
    assert json.loads(rows["4"]["address"]) == {"street": "Hollymeade", "city": "Wilmslow", "zip": None}
    assert rows["3"]["address"] is None
    assert json.loads(rows["3"]["tags"]) == []

    # type drift does not fail the batch: parsed when possible, null when not
    assert rows["3"]["is_active"] is False  # "false"
    assert rows["5"]["is_active"] is True  # "yes"
    assert rows["4"]["score"] == 71  # "71"
    assert rows["3"]["lifetime_value"] is None  # "n/a"
    assert rows["5"]["created_at"] is None  # "not a date"
    assert rows["5"]["score_2"] == "shadow of Score"
    assert rows["4"]["linked_in_url"] == "https://www.linkedin.com/in/alan-turing"
    assert rows["1"]["notes"] == 'First programmer.\nLikes "Analytical Engines" 🧮'
    assert rows["3"]["first_name"] == "Émile"

    # the description tells the agent the stream, the key and every column
    description = api_table["description"]
    assert '"contacts"' in description
    assert "One row per primary key: id." in description
    assert "Cursor (last update): updated_at." in description
    for name in CONTACT_COLUMNS:
        assert f"\n- {name} (" in description, name
    assert 'phone_2 (string, from "Phone #")' in description
    assert "external_ref (big integer as text" in description


def test_integers_beyond_64_bits_sent_as_json_numbers_keep_every_digit(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    """The fixture's big integers that survive are strings; these are JSON numbers, past 2^53 and past 2^64,
    in a declared big_integer column and in a column found only in the data."""
    streams = catalog(
        configured_stream(
            "ledger",
            mode="append_dedup",
            primary_key=[["id"]],
            properties={"id": {"type": "integer"}, "Ref": {"type": "string", "airbyte_type": "big_integer"}},
        )
    )
    lines = [
        {"id": 1, "Ref": 12345678901234567890, "Counter": 9007199254740993},
        {"id": 2, "Ref": 123456789012345678901234567890, "Counter": -123456789012345678901234567890},
        {"id": 3, "Ref": 7, "Counter": 7},
    ]
    stdin = "".join(
        json.dumps(record("ledger", data)) + "\n" for data in lines
    ).encode()  # orjson stops at 64 bits
    stdin += jsonl([stream_state("ledger", {"done": True}), complete("ledger")])
    _write(tmp_path, _config(emulator), streams, stdin)

    (table,) = _tables(emulator)
    rows = _rows_by_id(table)
    assert rows["1"]["ref"] == "12345678901234567890"
    assert rows["2"]["ref"] == "123456789012345678901234567890"
    assert rows["3"]["ref"] == "7"
    assert rows["1"]["counter"] == "9007199254740993"  # past 2^53: text, not a rounded double
    assert rows["2"]["counter"] == "-123456789012345678901234567890"
    assert rows["3"]["counter"] == 7


# -- 2. many wide rows, no 413 -------------------------------------------------------------------------------

WIDE_ROWS = 10_000
WIDE_FIELDS = 20


def _wide_value(n: int, field: int) -> str:
    head = f"row {n:05d} field {field:02d} "
    return head + "abcdefghij" * ((100 - len(head)) // 10) + "x" * ((100 - len(head)) % 10)


def _wide_stdin(rows: int) -> bytes:
    messages = [
        record("wide", {"id": n, **{f"Field {f:02d}": _wide_value(n, f) for f in range(WIDE_FIELDS)}})
        for n in range(rows)
    ]
    messages += [stream_state("wide", {"id": rows - 1}), complete("wide")]
    return jsonl(messages)


WIDE_CATALOG = catalog(
    configured_stream(
        "wide",
        mode="append_dedup",
        primary_key=[["id"]],
        properties={
            "id": {"type": "integer"},
            **{f"Field {f:02d}": {"type": "string"} for f in range(WIDE_FIELDS)},
        },
    )
)


def test_ten_thousand_wide_rows_land_without_a_413(emulator: EmulatorProcess, tmp_path: Path) -> None:
    stdin = _wide_stdin(WIDE_ROWS)
    assert len(stdin) > 20_000_000  # ~2 KB a record: far more than one 1 MB body
    _write(tmp_path, _config(emulator), WIDE_CATALOG, stdin)

    posts = _statuses(emulator, "POST rows")
    assert "413" not in posts, posts
    assert set(posts) == {"200"}, posts
    assert posts["200"] >= 20  # ~21 MB of rows in bodies under 1 MB

    table_id = table_id_for(StreamKey(None, "wide"), "airbyte_")
    assert _api_table_ids(emulator) == [table_id]
    assert _api_row_total(emulator, table_id) == WIDE_ROWS
    (table,) = _tables(emulator)
    rows = _rows_by_id(table)
    assert set(rows) == {str(n) for n in range(WIDE_ROWS)}
    for n in (0, 1, 4_999, WIDE_ROWS - 1):
        assert rows[str(n)] == {"id": n, **{f"field_{f:02d}": _wide_value(n, f) for f in range(WIDE_FIELDS)}}
    assert all(len(value) == WIDE_FIELDS + 1 for value in rows.values())


# -- 3. re-running the same input ----------------------------------------------------------------------------


def test_rerunning_the_same_input_creates_no_second_table_and_no_duplicate_rows(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    contacts = orjson.loads(CONTACTS_CATALOG.read_bytes())["streams"][0]
    events = configured_stream("events", mode="append", properties={"kind": {"type": "string"}})
    streams = catalog(contacts, events)
    stdin = CONTACTS_RECORDS.read_bytes() + jsonl(
        [
            record("events", {"kind": "signup", "user": 1}),
            record("events", {"kind": "login", "user": 1}),
            record("events", {"kind": "login", "user": 1}),  # the same record twice: one row (content id)
            stream_state("events", {"n": 3}),
            complete("events"),
        ]
    )
    config = _config(emulator)

    _write(tmp_path, config, streams, stdin)
    first = {table["table_id"]: table for table in _tables(emulator)}
    events_table = table_id_for(StreamKey(None, "events"), "airbyte_")
    assert sorted(first) == sorted([CONTACTS_TABLE, events_table])
    assert len(first[CONTACTS_TABLE]["rows"]) == 5
    assert len(first[events_table]["rows"]) == 2

    _write(tmp_path, config, streams, stdin)
    assert sorted(_api_table_ids(emulator)) == sorted(first)
    second = {table["table_id"]: table for table in _tables(emulator)}
    assert sorted(second) == sorted(first)
    for table_id, before in first.items():
        after = second[table_id]
        assert _rows_by_id(after) == _rows_by_id(before), table_id
        assert after["schema"] == before["schema"], table_id
        assert after["description"] == before["description"], table_id
        assert after["name"] == before["name"], table_id
    assert _api_row_total(emulator, CONTACTS_TABLE) == 5
    assert _api_row_total(emulator, events_table) == 2


# -- 4. a server that refuses bodies smaller than our batches -----------------------------------------------


def test_a_413_splits_row_batches_until_they_fit(emulator: EmulatorProcess, tmp_path: Path) -> None:
    count = 300
    streams = catalog(
        configured_stream(
            "items", mode="append_dedup", primary_key=[["sku"]], properties={"sku": {"type": "string"}}
        )
    )
    messages = [
        record("items", {"sku": f"SKU-{n:04d}", "blurb": f"{n:04d} " + "y" * 450}) for n in range(count)
    ]
    stdin = jsonl([*messages, stream_state("items", {"n": count}), complete("items")])
    emulator.set_faults(max_request_bytes=20_000)  # our batches are up to 50 KB: each one answers 413 first

    _write(tmp_path, _config(emulator, table_batch_max_bytes=50_000), streams, stdin)

    posts = _statuses(emulator, "POST rows")
    assert posts.get("413", 0) >= 3, posts  # every ~50 KB batch was refused once at least
    assert posts.get("200", 0) >= count * 460 // 20_000, posts  # and landed in pieces under 20 KB
    assert set(posts) <= {"200", "413"}, posts
    (table,) = _tables(emulator)
    rows = _rows_by_id(table)
    assert set(rows) == {row_id([f"SKU-{n:04d}"], {}) for n in range(count)}
    assert rows[row_id(["SKU-0123"], {})] == {"sku": "SKU-0123", "blurb": "0123 " + "y" * 450}


# -- 5. tables for some streams, documents for the others ----------------------------------------------------


def test_stream_formats_override_writes_one_stream_as_a_table_and_another_as_documents(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    contacts = orjson.loads(CONTACTS_CATALOG.read_bytes())["streams"][0]
    notes = configured_stream(
        "notes",
        mode="append_dedup",
        primary_key=[["id"]],
        properties={"id": {"type": "integer"}, "title": {"type": "string"}, "body": {"type": "string"}},
    )
    note_bodies = {1: "Call Ada about the engine.", 2: "Send Grace the COBOL notes.", 3: "Book a room."}
    stdin = CONTACTS_RECORDS.read_bytes() + jsonl(
        [
            *(
                record("notes", {"id": n, "title": f"Note {n}", "body": body})
                for n, body in note_bodies.items()
            ),
            stream_state("notes", {"id": 3}),
            complete("notes"),
        ]
    )
    config = {
        **emulator.config,
        "data_format": "documents",
        "stream_formats": {"contacts": "tables"},
        "document_upserts_per_minute": 0,
    }
    result = _write(tmp_path, config, catalog(contacts, notes), stdin)
    assert len(result.states) == 2

    tables = _tables(emulator)
    assert [t["table_id"] for t in tables] == [CONTACTS_TABLE]  # no table for notes
    assert set(_rows_by_id(tables[0])) == {"1", "2", "3", "4", "5"}

    documents = emulator.documents()
    assert len(documents) == len(note_bodies)  # no document for contacts
    assert all(doc["document_id"].startswith("notes-") for doc in documents), [
        d["document_id"] for d in documents
    ]
    texts = " ".join(doc["text"] for doc in documents)
    for body in note_bodies.values():
        assert body in texts
    assert "Lovelace" not in texts
    assert _statuses(emulator, "POST documents") == {"200": len(note_bodies)}
