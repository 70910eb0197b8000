"""Tables mode: cell conversion, column naming, the record -> row mapping, the table body and batching."""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_dust import ids
from destination_dust.catalog import StreamConfig, StreamKey, parse_catalog
from destination_dust.cells import (
    MAX_SAFE_INTEGER,
    Coerced,
    Kind,
    converter_for,
    kind_of,
    to_any,
    to_boolean,
    to_datetime,
    to_number,
    to_text,
)
from destination_dust.config import DustConfig
from destination_dust.table_names import assign_table_names
from destination_dust.tables import (
    EXTRA_COLUMN,
    MAX_COLUMNS,
    MAX_DESCRIPTION_CHARS,
    Row,
    TableMapper,
    encode_row,
    fit_row,
)
from destination_dust.text import clean_text, json_text, plain_json_text
from destination_dust.timestamps import parse_iso_epoch_ms, parse_iso_fallback
from tests.unit.dust_cells import dust_accepts

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tables"
KEY_RE = re.compile(r"^[a-z0-9_]+$")
CONFIG = DustConfig(api_key="sk-test", workspace_id="w", space_id="s", data_source_id="d")


def stream(
    properties: dict[str, Any] | None = None,
    *,
    name: str = "contacts",
    namespace: str | None = None,
    primary_key: tuple[tuple[str, ...], ...] = (),
    cursor: tuple[str, ...] = (),
    mode: str = "append",
) -> StreamConfig:
    schema = {"type": "object", "properties": properties or {}}
    return StreamConfig(
        key=StreamKey(namespace, name),
        json_schema=schema,
        destination_sync_mode=mode,
        primary_key=primary_key,
        cursor_field=cursor,
        data_format="tables",
        properties=properties or {},
    )


def mapper(config: StreamConfig) -> TableMapper:
    return TableMapper(
        config, CONFIG, assign_table_names([config.key], CONFIG.table_id_prefix, [])[config.key]
    )


def value_of(result: Any) -> Any:
    return result.value if isinstance(result, Coerced) else result


def dt_cell(iso: str) -> dict[str, Any]:
    moment = dt.datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return {"type": "datetime", "epoch": int(moment.timestamp() * 1000)}


# --- schema -> kind ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": "integer"}, Kind.INTEGER),
        ({"type": ["null", "integer"]}, Kind.INTEGER),
        ({"type": "number", "airbyte_type": "integer"}, Kind.INTEGER),
        ({"type": "string", "airbyte_type": "big_integer"}, Kind.STRING),
        ({"type": "number"}, Kind.NUMBER),
        ({"type": ["integer", "number", "null"]}, Kind.NUMBER),
        ({"type": "boolean"}, Kind.BOOLEAN),
        ({"type": "string"}, Kind.STRING),
        ({"type": "string", "format": "date-time"}, Kind.DATETIME),
        ({"type": "string", "airbyte_type": "timestamp_with_timezone"}, Kind.DATETIME),
        ({"type": "string", "airbyte_type": "timestamp_without_timezone"}, Kind.DATETIME),
        ({"type": "string", "format": "date"}, Kind.DATE),
        ({"type": "string", "format": "time"}, Kind.STRING),
        ({"type": "object"}, Kind.JSON),
        ({"type": ["null", "array"]}, Kind.JSON),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, Kind.INTEGER),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, Kind.NUMBER),
        (
            {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]},
            Kind.DATETIME,
        ),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, Kind.STRING),
        ({"anyOf": [{"type": "object"}, {"type": "array"}]}, Kind.JSON),
        ({"type": ["string", "boolean"]}, Kind.STRING),
        ({}, Kind.ANY),
        ({"type": "null"}, Kind.ANY),
        ({"anyOf": [{}, {"type": "string"}]}, Kind.ANY),
        ("not a schema", Kind.ANY),
    ],
)
def test_kind_of(schema: Any, kind: Kind) -> None:
    assert kind_of(schema) is kind


# --- cells ------------------------------------------------------------------------------------------------


def test_integer_cells() -> None:
    assert to_number(42, integral=True) == 42
    assert to_number(3.0, integral=True) == 3 and isinstance(to_number(3.0, integral=True), int)
    assert to_number(3.5, integral=True) == 3.5  # Dust widens int + float to float: still numeric
    assert to_number(" 71 ", integral=True) == 71
    assert to_number("1.5e3", integral=True) == 1500
    assert to_number(True, integral=True) == 1
    assert to_number(None, integral=True) is None
    assert to_number("", integral=True) is None


@pytest.mark.parametrize("bad", ["abc", "n/a", "1e400", "NaN", {"a": 1}, [1], float("nan"), float("inf")])
def test_bad_numbers_become_counted_nulls(bad: Any) -> None:
    result = to_number(bad, integral=True)
    assert isinstance(result, Coerced) and result.value is None


def test_integers_beyond_2_53_become_text_everywhere() -> None:
    big = MAX_SAFE_INTEGER + 1
    for result in (to_number(big, integral=True), to_any(big)):
        assert isinstance(result, Coerced) and result.value == str(big)
    assert value_of(to_number(str(-big), integral=False)) == str(-big)
    assert to_number(MAX_SAFE_INTEGER, integral=True) == MAX_SAFE_INTEGER
    assert to_text(big) == str(big)


def test_number_cells_keep_floats() -> None:
    assert to_number(3.0, integral=False) == 3.0
    assert isinstance(to_number(3.0, integral=False), float)
    assert to_number("99.90", integral=False) == 99.9


def test_boolean_cells() -> None:
    assert to_boolean(True) is True
    for word in ("true", "T", "yes", "1", " Y "):
        assert to_boolean(word) is True
    for word in ("false", "F", "no", "0"):
        assert to_boolean(word) is False
    assert to_boolean(1) is True and to_boolean(0.0) is False
    assert to_boolean("") is None
    for bad in ("maybe", 2, {"a": 1}):
        result = to_boolean(bad)
        assert isinstance(result, Coerced) and result.value is None


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-01-15T09:30:00+01:00", "2024-01-15T08:30:00+00:00"),
        ("2024-01-15T09:30:00-0530", "2024-01-15T15:00:00+00:00"),
        ("2024-01-15T09:30:00Z", "2024-01-15T09:30:00+00:00"),
        ("2024-01-15T09:30:00", "2024-01-15T09:30:00+00:00"),  # naive = UTC
        ("2024-01-15 09:30:00.123456", "2024-01-15T09:30:00.123+00:00"),
        ("2024-01-15T09:30:00.5Z", "2024-01-15T09:30:00.500+00:00"),
        ("2024-01-15T09:30", "2024-01-15T09:30:00+00:00"),
        ("2024-01-15", "2024-01-15T00:00:00+00:00"),
        ("2016-12-31T23:59:60Z", "2017-01-01T00:00:00+00:00"),  # leap second
        ("1815-12-10", "1815-12-10T00:00:00+00:00"),
        ("2024-01-15 09:30:00 UTC", "2024-01-15T09:30:00+00:00"),
    ],
)
def test_iso_datetimes(text: str, iso: str) -> None:
    assert to_datetime(text) == dt_cell(iso)
    # the regex fallback alone (what Python 3.10's stricter fromisoformat leaves to it) agrees
    assert parse_iso_fallback(text) == dt_cell(iso)["epoch"]


@pytest.mark.parametrize("bad", ["not a date", "2024-13-01", "2024-02-30", "24-01-01", "", "   "])
def test_unparseable_dates(bad: str) -> None:
    assert parse_iso_epoch_ms(bad) is None


@pytest.mark.parametrize(
    ("number", "epoch"),
    [
        (1705500000, 1705500000000),  # seconds
        (1705500000.25, 1705500000250),
        (1705500000123, 1705500000123),  # milliseconds
        (1705500000123456, 1705500000123),  # microseconds
        (1705500000123456789, 1705500000123),  # nanoseconds
        ("1705500000", 1705500000000),
        (0, 0),
    ],
)
def test_epoch_numbers(number: Any, epoch: int) -> None:
    assert to_datetime(number) == {"type": "datetime", "epoch": epoch}


def test_negative_epochs_are_whole_seconds() -> None:
    """Dust's core cannot render a negative epoch with milliseconds: those are floored to the second."""
    cell = to_datetime("1969-12-31T23:59:59.500Z")
    assert cell == {"type": "datetime", "epoch": -1000}
    assert dust_accepts(cell)


def test_python_datetimes_and_bad_datetime_values() -> None:
    aware = dt.datetime(2024, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert to_datetime(aware) == dt_cell("2024-01-01T00:00:00+00:00")
    assert to_datetime(dt.datetime(2024, 1, 1)) == dt_cell("2024-01-01T00:00:00")
    assert to_datetime(dt.date(2024, 1, 1)) == dt_cell("2024-01-01T00:00:00")
    assert to_datetime(None) is None and to_datetime("") is None
    for bad in ("not a date", True, {"a": 1}, [1], float("nan"), 1e30, "99999-01-01"):
        result = to_datetime(bad)
        assert isinstance(result, Coerced) and result.value is None


def test_text_cells() -> None:
    assert to_text("plain") == "plain"
    assert to_text(42) == "42"
    assert to_text(1.5) == "1.5"
    assert to_text(True) == "true"
    assert to_text({"b": 1, "a": [1, "x"]}) == '{"b":1,"a":[1,"x"]}'
    assert to_text([]) == "[]"
    assert to_text(float("nan")) == "NaN"
    assert to_text(None) is None


def test_strings_lose_lone_surrogates_and_nul() -> None:
    assert clean_text("a\ud800b\x00c") == "abc"
    assert clean_text("ascii\x00") == "ascii"
    assert clean_text("é🙂") == "é🙂"
    assert to_text({"k\udc00": "v\ud800"}) == '{"k":"v"}'
    assert to_any("x\ud83d") == "x"


def test_undeclared_values_keep_their_natural_type() -> None:
    assert to_any("x") == "x" and to_any(1) == 1 and to_any(1.5) == 1.5 and to_any(False) is False
    assert to_any(None) is None
    assert to_any({"a": None}) == '{"a":null}'
    assert to_any([1, 2]) == "[1,2]"
    inf = to_any(float("-inf"))
    assert isinstance(inf, Coerced) and inf.value == "-Infinity"


def test_json_text_survives_huge_integers() -> None:
    assert to_text({"n": 2**70}) == '{"n":"' + str(2**70) + '"}'


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(["2024-01-15T09:30:00Z", "2024-01-15", "1705500000", "true", " 42 ", "", "1e999"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES | st.dictionaries(st.integers(), st.integers(), max_size=2))
def test_plain_json_text_is_json_text(value: Any) -> None:
    # the plans' shortcut for objects and arrays: the same text for anything, big and odd values included
    assert plain_json_text(value) == json_text(value)


@given(kind=st.sampled_from(list(Kind)), value=JSON_VALUES)
@settings(max_examples=1500, deadline=None)
def test_any_value_in_any_column_is_a_valid_dust_cell(kind: Kind, value: Any) -> None:
    cell = value_of(converter_for(kind)(value))
    assert dust_accepts(cell), (kind, value, cell)
    orjson.dumps(cell)  # never raises: no surrogates, no out-of-range integers
    if kind in (Kind.INTEGER, Kind.NUMBER):
        assert (
            cell is None
            or isinstance(cell, (int, float))
            or (isinstance(cell, str) and cell.lstrip("-").isdigit())
        )
    if kind in (Kind.DATETIME, Kind.DATE):
        assert cell is None or isinstance(cell, dict)
    if kind in (Kind.STRING, Kind.JSON):
        assert cell is None or isinstance(cell, str)
    if kind is Kind.BOOLEAN:
        assert cell is None or isinstance(cell, bool)


# --- the mapper -------------------------------------------------------------------------------------------


def test_columns_follow_the_catalog_then_the_data() -> None:
    m = mapper(
        stream({"ID": {"type": "integer"}, "FirstName": {"type": "string"}, "e-mail": {"type": "string"}})
    )
    row = m.to_row({"LinkedIn URL": "u", "e-mail": "a@b", "ID": 1, "Created At": "x"})
    assert [c.name for c in m.columns] == ["id", "first_name", "e_mail", "linked_in_url", "created_at"]
    assert row.value == {"linked_in_url": "u", "e_mail": "a@b", "id": 1, "created_at": "x"}


def test_catalog_columns_win_collisions() -> None:
    m = mapper(
        stream({"Score": {"type": "number"}, "phone": {"type": "string"}, "Phone #": {"type": "string"}})
    )
    row = m.to_row({"score": "shadow", "Score": 1, "Phone #": "1", "phone": "2"})
    assert row.value == {"score_2": "shadow", "score": 1, "phone_2": "1", "phone": "2"}
    assert [c.name for c in m.columns] == ["score", "phone", "phone_2", "score_2"]
    notes = m.pop_notes()
    assert notes[0] == "stream contacts: fields renamed to columns: 'Score' -> score, 'Phone #' -> phone_2"
    assert notes[1] == "stream contacts: a new field found in the data: 'score' -> score_2"
    assert m.pop_notes() == []  # notes are handed out once


def test_valid_field_names_are_kept_and_others_follow_one_rule() -> None:
    m = mapper(stream({"address2": {}, "line1": {}, "sha256": {}, "v2Endpoint": {}, "HTTPStatus": {}}))
    row = m.to_row({"address2": 1, "line1": 2, "sha256": 3, "v2Endpoint": 4, "HTTPStatus": 5, "FirstName": 6})
    assert list(row.value) == ["address2", "line1", "sha256", "v2_endpoint", "http_status", "first_name"]


def test_a_table_made_by_version_0_1_keeps_its_columns() -> None:
    """Where the existing table has the column 0.1 made for a field, the field keeps writing there (catalog
    fields and fields found in the data alike); other fields get today's names."""
    config = stream({"address2": {}, "line1": {}})
    table = assign_table_names([config.key], CONFIG.table_id_prefix, [])[config.key]
    old = TableMapper(config, CONFIG, replace(table, columns=frozenset({"address_2", "sha_256", "id"})))
    row = old.to_row({"address2": "a", "line1": "b", "sha256": "c", "zip5": "d"})
    assert row.value == {"address_2": "a", "line1": "b", "sha_256": "c", "zip5": "d"}


def test_a_field_named_like_the_extra_column_is_renamed() -> None:
    m = mapper(stream({EXTRA_COLUMN: {"type": "string"}}))
    assert m.to_row({EXTRA_COLUMN: "x"}).value == {f"{EXTRA_COLUMN}_2": "x"}


def test_contradicting_values_are_nulled_and_counted() -> None:
    m = mapper(stream({"n": {"type": "integer"}, "d": {"type": "string", "format": "date-time"}, "ok": {}}))
    assert m.to_row({"n": "abc", "d": "soon", "ok": "x"}).value == {"n": None, "d": None, "ok": "x"}
    m.to_row({"n": "12", "d": "2024-01-01"})
    m.to_row({"n": 2**60})
    assert m.coercions == {"n": 2, "d": 1}


def test_nested_values_become_json_text() -> None:
    m = mapper(stream({"address": {"type": "object"}, "tags": {"type": "array"}}))
    row = m.to_row({"address": {"city": "Paris"}, "tags": ["a", "b"], "extra": {"x": [1]}})
    assert row.value == {"address": '{"city":"Paris"}', "tags": '["a","b"]', "extra": '{"x":[1]}'}


def test_row_ids_from_primary_keys() -> None:
    m = mapper(stream({"id": {"type": "integer"}}, primary_key=(("id",),)))
    assert m.to_row({"id": 42}).row_id == "42"
    assert m.row_id({"id": 42, "other": 1}) == ids.row_id([42], {})
    nested = mapper(stream(primary_key=(("org", "id"), ("n",))))
    assert nested.to_row({"org": {"id": "a-b"}, "n": 1}).row_id == ids.row_id(["a-b", 1], {})


def test_a_record_without_its_key_falls_back_to_the_content_hash() -> None:
    m = mapper(stream(primary_key=(("id",),)))
    assert m.row_id({"x": 1}) == ids.row_id(None, {"x": 1})


def test_identical_rows_without_a_key_share_one_row_id() -> None:
    m = mapper(stream())
    one, two = m.to_row({"a": 1, "b": "x"}), m.to_row({"b": "x", "a": 1})
    assert one.row_id == two.row_id
    assert m.to_row({"a": 2, "b": "x"}).row_id != one.row_id


def test_columns_beyond_512_fold_into_one_json_column() -> None:
    properties = {f"Field{i}": {"type": "integer"} for i in range(600)}
    m = mapper(stream(properties))
    row = m.to_row({f"Field{i}": i for i in range(600)} | {"late": "x"})
    assert len(row.value) == MAX_COLUMNS
    assert len(m.columns) == MAX_COLUMNS - 1
    extra = orjson.loads(str(row.value[EXTRA_COLUMN]))
    assert extra["Field599"] == 599 and extra["late"] == "x" and "Field0" not in extra
    notes = m.pop_notes()
    assert len([n for n in notes if EXTRA_COLUMN in n]) == 1
    (renamed,) = [n for n in notes if "renamed" in n]
    assert renamed.endswith("'Field39' -> field39 and 471 more")  # 511 renames, 40 named
    assert all(KEY_RE.match(k) for k in row.value)
    assert EXTRA_COLUMN in m.table_body()["description"]


def test_the_table_body() -> None:
    m = mapper(
        stream(
            {"ID": {"type": "integer", "description": "Contact id"}, "Updated At": {"format": "date-time"}},
            namespace="crm",
            primary_key=(("ID",),),
            cursor=("Updated At",),
            mode="append_dedup",
        )
    )
    body = m.table_body()
    assert set(body) == {"name", "table_id", "title", "description", "tags"}  # no mime_type, no parents
    assert body["name"] == "airbyte_contacts"
    assert body["tags"] == ["airbyte:stream:contacts", "airbyte:namespace:crm"]
    text = body["description"]
    assert 'stream "contacts" (namespace "crm")' in text
    assert "One row per primary key: id." in text
    assert "Cursor (last update): updated_at." in text
    assert '- id (integer, from "ID"): Contact id' in text
    assert '- updated_at (untyped, from "Updated At")' in text


def test_the_description_is_deterministic_and_tracks_new_columns() -> None:
    config = stream({"a": {"type": "string"}})
    first, second = mapper(config), mapper(config)
    assert first.table_body() == second.table_body()
    revision = first.revision
    first.to_row({"a": "x"})
    assert first.revision == revision
    first.to_row({"a": "x", "New Field": 1})
    assert first.revision > revision
    assert '- new_field (found in the data, from "New Field")' in first.table_body()["description"]
    assert first.table_body() == first.table_body()


def test_the_description_stays_short_with_many_columns() -> None:
    properties = {
        f"Some Rather Long Field Name {i}": {"type": "string", "description": "x" * 300} for i in range(600)
    }
    text = mapper(stream(properties)).description()
    assert len(text) <= MAX_DESCRIPTION_CHARS
    assert re.search(r"- and \d+ more columns", text)


def test_every_emitted_key_is_valid() -> None:
    m = mapper(stream({"Ä-ö ü": {}, "": {}, "日本": {}}))
    row = m.to_row({"Ä-ö ü": 1, "": 2, "日本": 3, "!!": 4, "Ünïcödé Fïeld": 5})
    assert all(KEY_RE.match(k) for k in row.value)
    assert len(row.value) == 5


# --- batching ---------------------------------------------------------------------------------------------


def test_an_oversized_row_is_truncated_not_dropped() -> None:
    row, encoded, cuts = fit_row(Row("big", {"title": "short", "body": "é" * 10_000, "n": 1}), 5_000)
    assert len(encoded) <= 5_000 and encoded == encode_row(row)
    assert row.value["title"] == "short" and row.value["n"] == 1
    body = str(row.value["body"])
    assert "truncated by Airbyte" in body
    kept = len(body) - len(body.lstrip("é"))
    assert cuts == {"body": 10_000 - kept}  # what the log line reports


def test_a_shrunk_row_gives_one_notice_naming_the_row_the_field_and_what_was_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = mapper(stream({"Notes": {"type": "string"}, "id": {"type": "integer"}}, primary_key=(("id",),)))
    row = m.to_row({"id": 7, "Notes": "x" * 10_000})
    _, _, cuts = fit_row(row, 2_000)
    with caplog.at_level("WARNING", logger="destination_dust"):
        m.report_fit(row.row_id, 10_030, 2_000, cuts)
        m.notices.close()  # one row: no total
    (line,) = caplog.messages
    assert line.startswith("stream contacts: row '7' was 10,030 bytes, more than one request takes (2,000")
    assert f"'Notes' (column notes) cut by {cuts['notes']:,} characters" in line


def test_text_that_cannot_be_encoded_is_dropped_and_its_field_named(caplog: pytest.LogCaptureFixture) -> None:
    m = mapper(stream({"Name": {"type": "string"}, "id": {"type": "integer"}}, primary_key=(("id",),)))
    with caplog.at_level("WARNING", logger="destination_dust"):
        row_id, value, encoded = m.encode({"id": 3, "Name": "a\ud800b", "ok": "x"})
        m.encode({"id": 4, "Name": "plain"})
    assert (
        row_id == "3"
        and value == {"id": 3, "name": "ab", "ok": "x"}
        and encoded == encode_row(Row("3", value))
    )
    assert caplog.messages == [
        "stream contacts: row '3': text that cannot be encoded (a lone UTF-16 surrogate) was removed from "
        "field 'Name'"
    ]


def test_fit_row_drops_cells_when_text_cannot_make_room() -> None:
    row = Row("r", {f"c{i}": float(i) + 0.123456789 for i in range(100)})
    fitted, encoded, cuts = fit_row(row, 1_000)
    assert len(encoded) <= 1_000 and 50 < len(fitted.value) < 100
    assert set(cuts) == set(row.value) - set(fitted.value) and set(cuts.values()) == {None}
    with pytest.raises(ValueError, match="cannot fit"):
        fit_row(Row("r" * 200, {}), 100)


# --- a realistic stream: the contacts fixture -------------------------------------------------------------


def load_contacts() -> tuple[StreamConfig, list[dict[str, Any]]]:
    catalog = parse_catalog(
        orjson.loads((FIXTURES / "contacts.catalog.json").read_bytes()), lambda ns, n: "tables"
    )
    config = catalog[StreamKey(None, "contacts")]
    lines = [orjson.loads(line) for line in (FIXTURES / "contacts.records.jsonl").read_bytes().splitlines()]
    assert [m["type"] for m in lines[-2:]] == ["STATE", "TRACE"]
    assert lines[-1]["trace"]["stream_status"]["status"] == "COMPLETE"
    return config, [m["record"]["data"] for m in lines if m["type"] == "RECORD"]


def test_the_contacts_fixture_maps_to_a_valid_rows_body() -> None:
    config, records = load_contacts()
    m = mapper(config)
    rows = [m.to_row(data) for data in records]
    latest = {row.row_id: row for row in rows}  # the sink keeps the last record of an id (ID 2 is sent twice)
    sent = [orjson.loads(encode_row(row)) for row in latest.values()]
    assert [r["row_id"] for r in sent] == ["1", "2", "3", "4", "5"]
    for row in sent:
        assert all(KEY_RE.match(k) for k in row["value"])
        assert all(dust_accepts(cell) for cell in row["value"].values())
    by_id = {r["row_id"]: r["value"] for r in sent}
    ada, grace, emile, alan, katherine = (by_id[k] for k in "12345")
    assert ada["first_name"] == "Ada" and ada["e_mail"] == "ada@example.com"
    assert ada["created_at"] == dt_cell("2024-01-15T08:30:00+00:00")
    assert ada["updated_at"] == dt_cell("2024-03-01T12:00:00")
    assert ada["birthday"] == dt_cell("1815-12-10T00:00:00")
    assert ada["address"] == '{"street":"12 St James\'s Square","city":"London","zip":"SW1Y 4LB"}'
    assert ada["tags"] == '["vip","math"]'
    assert ada["external_ref"] == "9007199254740993" and ada["preference"] == "e-mail"
    assert ada["phone_2"] == "+44 20 7946 0001" and ada["phone"] == "+44 7700 900001"
    assert grace["e_mail"] == "grace.hopper@example.com" and grace["external_ref"] == "12345678901234567890"
    assert emile["is_active"] is False and emile["lifetime_value"] is None and emile["tags"] == "[]"
    assert alan["created_at"] == {"type": "datetime", "epoch": 1705500000000} and alan["score"] == 71
    assert alan["linked_in_url"] == "https://www.linkedin.com/in/alan-turing"
    assert katherine["created_at"] is None and katherine["is_active"] is True
    assert katherine["score_2"] == "shadow of Score"
    assert m.coercions == {"lifetime_value": 1, "created_at": 1}
    description = m.table_body()["description"]
    assert '- phone_2 (string, from "Phone #")' in description
    assert "- phone (string): Mobile phone" in description
    assert '- external_ref (big integer as text, from "ExternalRef")' in description
    assert '- linked_in_url (found in the data, from "LinkedIn URL")' in description
    assert len(description) < 3_000


def test_the_contacts_fixture_is_stable_across_runs() -> None:
    config, records = load_contacts()
    first, second = mapper(config), mapper(config)
    assert [first.to_row(r) for r in records] == [second.to_row(r) for r in records]
    assert first.table_body() == second.table_body()
    assert not math.isnan(first.revision)


# --- the hot path (`TableMapper.encode`) agrees with `to_row` + `encode_row` ---------------------------------

# values that the fast path takes as they are, and the ones it must catch on the encoded row
TRICKY_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["", "\x00", "a\x00b", "\ud800", "x\udfff", "\\u0000", "é日🧮", " 12 ", "true", "2024-01-02"]
    ),
)
CELL_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**53, 2**53 + 1, -(2**53), -(2**53) - 1, 2**53 - 1, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    TRICKY_TEXT,
    st.lists(st.one_of(st.integers(), TRICKY_TEXT), max_size=3),
    st.dictionaries(TRICKY_TEXT, st.one_of(st.integers(), TRICKY_TEXT), max_size=3),
)
DECLARED = {
    "i": {"type": "integer"},
    "n": {"type": "number"},
    "b": {"type": "boolean"},
    "t": {"type": "string", "format": "date-time"},
    "d": {"type": "string", "format": "date"},
    "s": {"type": "string"},
    "o": {"type": "object"},
    "u": {},
}
FIELD = st.sampled_from([*DECLARED, "new", "New Field", "x\x00y"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(FIELD, CELL_VALUE, max_size=8), min_size=1, max_size=6), st.booleans())
def test_encode_gives_what_to_row_and_encode_row_give(records: list[dict[str, Any]], keyed: bool) -> None:
    config = stream(DECLARED, primary_key=(("i",),) if keyed else ())
    fast, exact = mapper(config), mapper(config)
    for data in records:
        before = copy.deepcopy(data)
        for _ in range(2):  # the second time, the record's shape has a plan (`TableMapper._planned_cells`)
            row_id, value, encoded = fast.encode(data)
            row = exact.to_row(data)
            assert (row_id, value) == (row.row_id, row.value)
            assert encoded == encode_row(row)
            assert all(dust_accepts(cell) for cell in value.values())
        assert data == before or before != before  # never changed (NaN is not equal to itself)
    assert fast.coercions == exact.coercions
    assert fast.columns == exact.columns


def test_records_of_one_shape_share_a_plan_and_keep_their_own_values() -> None:
    m = mapper(stream({"Full Name": {"type": "string"}, "age": {"type": "integer"}, "address": {}}))
    records = [
        {"Full Name": "Ada", "age": 36, "address": {"city": "London"}},
        {"Full Name": "Alan", "age": 41, "address": {"city": "Wilmslow", "zip": "SK9"}},
        {"Full Name": "Grace", "age": 2**60, "address": {}},  # past 2^53: the encoded row is converted
    ]
    values = [m.encode(data)[1] for data in records]
    assert values == [
        {"full_name": "Ada", "age": 36, "address": '{"city":"London"}'},
        {"full_name": "Alan", "age": 41, "address": '{"city":"Wilmslow","zip":"SK9"}'},
        {"full_name": "Grace", "age": str(2**60), "address": "{}"},
    ]
    assert records[0]["address"] == {"city": "London"}  # the record itself is left as it was
    assert len(m._plans) == 1 and m.coercions == {"age": 1}
    m.encode({"Full Name": None, "age": 36, "address": {}})  # None is another type: another shape
    assert len(m._plans) == 2


def test_encode_converts_the_values_it_cannot_take_as_they_are() -> None:
    m = mapper(stream({"s": {"type": "string"}, "i": {"type": "integer"}}))
    _, value, encoded = m.encode({"s": "a\x00b\ud800", "i": 2**60, "new": 2**53 + 1})
    assert value == {"s": "ab", "i": str(2**60), "new": str(2**53 + 1)}
    assert b"\\u0000" not in encoded and m.coercions == {"i": 1, "new": 1}
    _, value, _ = m.encode({"s": "a literal \\u0000 is text", "i": 7})  # a false alarm: same cells
    assert value == {"s": "a literal \\u0000 is text", "i": 7}
