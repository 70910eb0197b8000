"""The typed fast path of tables mode (typed_rows.py) gives the rows the reference (`TableMapper.encode`)
gives, through the whole reader: a Writer whose encoders have the fast path and one whose encoders are built
without it (`RowEncoder(..., fast=False)`) must send the same rows, count the same records and coercions, and
make the same columns, whatever the lines hold."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_dust.catalog import parse_catalog
from destination_dust.protocol import Output
from destination_dust.row_encoder import MAX_BUILDS, RowEncoder
from destination_dust.sinks import CDC_DELETED, TableSink
from destination_dust.writer import Writer
from tests.unit.tables_sync import RecordingDust, configured_stream, tables_config

DECLARED = {
    "id": {"type": "integer"},
    "n": {"type": "number"},
    "b": {"type": "boolean"},
    "t": {"type": "string", "format": "date-time"},
    "s": {"type": "string"},
    "o": {"type": "object"},
    "u": {},
    "Full Name": {"type": "string"},  # renamed: full_name
}


def _sync(
    lines: list[bytes], *, typed: bool, mode: str = "append", key: list[list[str]] | None = None
) -> tuple[Writer, RecordingDust]:
    config = tables_config()
    stream = configured_stream(DECLARED, mode=mode, key=[["id"]] if key is None else key, cursor=["n"])
    client = RecordingDust(config)
    writer = Writer(
        config, parse_catalog({"streams": [stream]}, config.format_for), Output(io.BytesIO()), client=client
    )
    if not typed:  # every record takes the reference
        for sink in writer.sinks.values():
            assert isinstance(sink, TableSink)
            # the row limit (0 here) only bounds the fast path: the sink cuts rows itself
            sink.encoder = RowEncoder(sink.mapper, 0, CDC_DELETED, fast=False)
    writer.run(io.BytesIO(b"".join(lines)))
    return writer, client


def _line(data: Any, ascii_only: bool = True) -> bytes:
    record = {"type": "RECORD", "record": {"stream": "users", "data": data, "emitted_at": 1}}
    return json.dumps(record, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass") + b"\n"


def _same_sync(lines: list[bytes]) -> tuple[RecordingDust, RecordingDust]:
    fast_writer, fast = _sync(lines, typed=True)
    slow_writer, slow = _sync(lines, typed=False)
    assert _comparable(fast.rows) == _comparable(slow.rows)
    assert fast.deleted == slow.deleted
    assert fast_writer.stats.read == slow_writer.stats.read
    assert fast_writer.counter.total == slow_writer.counter.total
    (fast_sink,), (slow_sink,) = fast_writer.sinks.values(), slow_writer.sinks.values()
    assert isinstance(fast_sink, TableSink) and isinstance(slow_sink, TableSink)
    assert fast_sink.mapper.coercions == slow_sink.mapper.coercions
    assert fast_sink.mapper.columns == slow_sink.mapper.columns
    return fast, slow


def _comparable(rows: list[dict[str, Any]]) -> list[bytes]:
    # the same JSON values, types included (5 is not 5.0), key order aside (see typed_rows.py); parsing and
    # writing again also spells every float one way (1e16 and 1e+16 are the same number)
    return [orjson.dumps(row, option=orjson.OPT_SORT_KEYS) for row in rows]


TEXT = st.one_of(
    st.text(max_size=10),
    st.sampled_from(
        ["", "\x00", "a\x00b", "\ud800", "\\u0000", "é日🧮", " 12 ", "true", "2024-01-02T03:04:05Z"]
    ),
)
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1, 0, 1e16, 1e300, 5e-324, -0.0, 1.0]),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.lists(st.one_of(st.integers(), TEXT), max_size=3),
    st.dictionaries(TEXT, st.one_of(st.integers(), TEXT), max_size=3),
)
KEY = st.one_of(st.integers(min_value=0, max_value=40), st.sampled_from(["k1", "k-2", "", None, 2**70, 1.5]))
FIELD = st.sampled_from([*DECLARED, "new", "New Field", "_ab_cdc_deleted_at"])


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    data = draw(st.dictionaries(FIELD, VALUE, max_size=6))
    if draw(st.booleans()) or not data:
        data = {"id": draw(KEY), **data}
    return data


@settings(max_examples=150, deadline=None)
@given(
    st.lists(records(), min_size=1, max_size=12),
    st.lists(st.integers(min_value=0, max_value=11), max_size=8),
    st.booleans(),
)
def test_the_fast_path_sends_what_the_reference_sends(
    data: list[dict[str, Any]], repeats: list[int], ascii_only: bool
) -> None:
    # records again, so that shapes planned by the reference meet the struct built from them
    chosen = data + [data[i % len(data)] for i in repeats]
    _same_sync([_line(record, ascii_only) for record in chosen])


def _user(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": i, "Full Name": f"User {i}", "n": i / 4, "s": "x", "o": {"city": "Oslo", "n": i}, **extra}


def _served(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the records the fast path served (a spy on `RowEncoder.encode`)."""
    served = [0]
    encode = RowEncoder.encode

    def spy(self: RowEncoder, raw: Any) -> Any:
        row = encode(self, raw)
        served[0] += row is not None
        return row

    monkeypatch.setattr(RowEncoder, "encode", spy)
    return served


def test_records_of_a_known_shape_take_the_fast_path_and_give_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = _served(monkeypatch)
    lines = [_line(_user(i)) for i in range(50)]
    fast, slow = _same_sync(lines)
    assert served[0] == 49  # all but the first, whose shape the reference plans
    # same field order and no float exponent here: byte for byte what the reference sends
    assert fast.bodies == slow.bodies
    assert orjson.loads(fast.bodies[0])["rows"][1]["value"] == {
        "id": 1,
        "full_name": "User 1",
        "n": 0.25,
        "s": "x",
        "o": '{"city":"Oslo","n":1}',
    }


@pytest.mark.parametrize("field", ["\u001b", 'say "hi"', "back\\slash"])
def test_a_field_name_msgspec_cannot_decode_keeps_the_reference(field: str) -> None:
    lines = [_line({"id": i, field: f"x{i}"}) for i in range(5)]
    fast, slow = _same_sync(lines)
    assert fast.bodies == slow.bodies
    assert [row["value"]["id"] for row in orjson.loads(fast.bodies[0])["rows"]] == list(range(5))


def test_a_new_field_or_type_goes_the_reference_once_then_the_struct_takes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = _served(monkeypatch)
    lines = [_line(_user(i)) for i in range(5)]
    lines += [_line(_user(i, new=i)) for i in range(5, 10)]  # a field found in the data: a new column
    lines += [_line(_user(i, s=None)) for i in range(10, 15)]  # null where a string was
    lines += [_line(_user(i, id=2**53 + i)) for i in range(15, 18)]  # past 2^53: always the reference
    _same_sync(lines)
    # a new field costs two records: the first makes the column, the second (now a known field) is planned
    assert served[0] == 4 + 3 + 4


def test_odd_values_take_the_reference_and_come_out_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    served = _served(monkeypatch)
    lines = [_line(_user(i)) for i in range(3)]
    lines.append(_line(_user(3, s="a\x00b")))  # NUL: dropped by the reference
    lines.append(_line(_user(4, s="\ud800x")))  # a lone surrogate: msgspec refuses the line
    lines.append(_line(_user(5, id="not plain!")))  # a key that needs escaping
    lines.append(_line(_user(6, n=math.pi, u=[1, {"a": None}])))  # fine: the struct takes new types in time
    lines.append(_line(_user(7)).replace(b'"x"', b'"\xff"'))  # invalid UTF-8: the slow line path
    lines.append(_line(_user(8, _ab_cdc_deleted_at="2024-01-01T00:00:00Z")))  # a CDC deletion
    lines.append(_line([1, 2]))  # data that is not an object
    fast, _ = _same_sync(lines)
    assert served[0] == 2
    assert fast.deleted == ["8"]
    row_ids = {row["row_id"] for row in fast.rows}
    assert row_ids >= {"3", "4", "6", "7"} and any("not" in row_id for row_id in row_ids)


@pytest.mark.parametrize(("new_fields", "served_at_the_end"), [(5, 10), (MAX_BUILDS + 4, 0)])
def test_a_stream_whose_shapes_keep_changing_stops_rebuilding_the_fast_path(
    new_fields: int, served_at_the_end: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each new field takes two records to plan (the first makes its column), then the fast path is rebuilt
    lines = []
    for n in range(new_fields):
        extra = {f"x{i}": i for i in range(n + 1)}
        lines += [_line(_user(2 * n, **extra)), _line(_user(2 * n + 1, **extra))]
    served = _served(monkeypatch)
    _sync(lines, typed=True)
    before_the_end = served[0]
    _same_sync(lines + [_line(_user(1000 + i, **extra)) for i in range(10)])  # ten of the last shape
    assert served[0] - 2 * before_the_end == served_at_the_end


@pytest.mark.parametrize(
    ("mode", "key"),
    [
        ("append_dedup", [["id"]]),  # dedup by cursor needs the record itself
        ("append", []),  # no key: the row id is a hash of the record
        ("append", [["id"], ["s"]]),  # a key of two fields
    ],
)
def test_streams_the_fast_path_cannot_serve_never_build_it(
    mode: str, key: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = _served(monkeypatch)
    _, client = _sync([_line(_user(i)) for i in range(10)], typed=True, mode=mode, key=key)
    assert served[0] == 0 and len(client.rows) == 10


@pytest.mark.parametrize(
    ("field", "first", "then"),
    [
        ("u", 1.5, 3),  # an untyped column of floats meets an integer: it stays 3, not 3.0
        ("u", 3, 1.5),
        ("u", {"a": 1}, "text"),  # an object (JSON text) then a string
        ("s", "text", 42),  # a string column meets a number: its text
        ("n", 2.5, 7),
        ("b", True, "yes"),  # a boolean column meets a string it parses
        ("t", "2024-01-02T03:04:05Z", 1700000000),  # a date-time column meets an epoch
    ],
)
def test_a_field_whose_type_changes_gives_the_same_cells(field: str, first: Any, then: Any) -> None:
    lines = [_line({"id": i, field: first}) for i in range(3)]
    lines += [_line({"id": i, field: then}) for i in range(3, 6)]
    lines += [_line({"id": i, field: first if i % 2 else then}) for i in range(6, 12)]
    _same_sync(lines)


@pytest.mark.parametrize(("mode", "reads"), [("append", 0), ("append_dedup", 0), ("overwrite", 1)])
def test_only_a_stream_with_a_sweep_reads_its_table_before_writing(mode: str, reads: int) -> None:
    # what the table held before this run matters to an overwrite's clean-up only: an append sync's first rows
    # wait for one round trip (the table upsert), not two
    complete = {
        "type": "TRACE",
        "trace": {
            "type": "STREAM_STATUS",
            "emitted_at": 1,
            "stream_status": {"stream_descriptor": {"name": "users"}, "status": "COMPLETE"},
        },
    }
    lines = [_line(_user(i)) for i in range(3)] + [json.dumps(complete).encode() + b"\n"]
    _, client = _sync(lines, typed=True, mode=mode)
    assert client.table_reads == reads and len(client.rows) == 3


def test_records_of_two_namespaces_and_other_lines_in_between_reach_their_own_tables() -> None:
    # same stream name in two namespaces, interleaved: each record reaches its own stream's encoder; STATE
    # lines and reordered keys in between change nothing
    config = tables_config()

    def configured(namespace: str) -> dict[str, Any]:
        return configured_stream(DECLARED, namespace=namespace, key=[["id"]])

    def record(namespace: str, i: int, reordered: bool = False) -> bytes:
        body = {"stream": "users", "namespace": namespace, "data": _user(i), "emitted_at": 1}
        message = {"record": body, "type": "RECORD"} if reordered else {"type": "RECORD", "record": body}
        return orjson.dumps(message) + b"\n"

    state = orjson.dumps({"type": "STATE", "state": {"type": "LEGACY", "data": {}}}) + b"\n"
    lines = [record("a", i) for i in range(5)] + [record("b", i) for i in range(100, 105)]
    lines += [record("a" if i % 2 else "b", i, reordered=i % 3 == 0) for i in range(5, 40)] + [state]
    lines += [record("b", i) for i in range(200, 210)] + [state]
    client = RecordingDust(config)
    catalog = parse_catalog({"streams": [configured("a"), configured("b")]}, config.format_for)
    out = io.BytesIO()
    writer = Writer(config, catalog, Output(out), client=client)
    writer.run(io.BytesIO(b"".join(lines)))
    tables = {key.namespace: sink.mapper.table.table_id for key, sink in writer.sinks.items()}  # type: ignore[attr-defined]
    assert client.tables[tables["a"]] == {str(i) for i in [*range(5), *range(5, 40, 2)]}
    assert client.tables[tables["b"]] == {
        str(i) for i in [*range(100, 105), *range(6, 40, 2), *range(200, 210)]
    }
    assert writer.stats.read == 5 + 5 + 35 + 10
    assert out.getvalue().count(b'"STATE"') == 2
