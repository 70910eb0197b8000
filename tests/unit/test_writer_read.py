"""`Writer.read`, the loop every input line goes through: a RECORD of a configured stream takes the short way
(`protocol.decode_record_line`), any other line is parsed whole; both must end where they did before."""

from __future__ import annotations

import io
import logging
from typing import Any

import orjson
import pytest

from destination_dust.catalog import parse_catalog
from destination_dust.protocol import Output
from destination_dust.writer import Writer
from tests.unit.tables_sync import API_KEY, RecordingDust, configured_stream, tables_config


def _sync(lines: list[bytes]) -> tuple[Writer, RecordingDust, list[dict[str, Any]]]:
    config = tables_config()
    stream = configured_stream({"id": {"type": "integer"}})
    streams = parse_catalog({"streams": [stream]}, config.format_for)
    client = RecordingDust(config)
    out = io.BytesIO()
    writer = Writer(config, streams, Output(out), client=client)
    writer.run(io.BytesIO(b"\n".join(lines) + b"\n"))
    return writer, client, [orjson.loads(line) for line in out.getvalue().splitlines()]


def _record(data: Any, **extra: Any) -> bytes:
    return orjson.dumps(
        {"type": "RECORD", "record": {"stream": "users", "emitted_at": 1, "data": data, **extra}}
    )


def test_odd_lines_take_the_long_way_and_end_where_they_did(caplog: pytest.LogCaptureFixture) -> None:
    state = {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"}}}}
    lines = [
        _record({"id": 1, "name": "plain"}),
        _record({"id": 2}, namespace=""),  # an empty namespace is no namespace
        _record({"id": 3}, emitted_at=1.5),  # an odd emitted_at is dropped, not the record
        b'{"type":"RECORD","record":{"stream":"users","data":{"id":4,"big":123456789012345678901234567890}}}',
        b'{"type":"RECORD","record":{"stream":"users","data":{"id":5,"n":NaN}}}',  # not JSON to msgspec
        b'{"record":{"stream":"users","data":{"id":6}},"type":"RECORD"}',  # keys in another order
        _record([1, 2]),  # data not an object: skipped with a warning
        orjson.dumps({"type": "RECORD", "record": {"stream": ["users"], "data": {"id": 7}}}),  # unhashable
        orjson.dumps({"type": "RECORD", "record": {"stream": "other", "data": {"id": 8}}}),  # not configured
        orjson.dumps({"type": "RECORD", "record": "not an object"}),
        b"not json at all",
        orjson.dumps(state),
    ]
    with caplog.at_level(logging.WARNING, logger="destination_dust"):
        writer, client, output = _sync(lines)
    rows = {row["value"]["id"]: row["value"] for row in client.rows}
    assert sorted(rows) == [1, 2, 3, 4, 5, 6]
    assert rows[4]["big"] == "123456789012345678901234567890"  # past 2^53: exact text
    assert rows[5]["n"] == "NaN"
    assert writer.stats.read == 10  # every RECORD line, kept or not
    assert [m["type"] for m in output if m["type"] == "STATE"] == ["STATE"]
    assert output[-1]["state"]["destinationStats"]["recordCount"] == 7  # the RECORDs of stream users
    text = caplog.text
    assert "no data object" in text and "not in the configured catalog" in text
    assert API_KEY not in text and all(API_KEY.encode() not in orjson.dumps(m) for m in output)
