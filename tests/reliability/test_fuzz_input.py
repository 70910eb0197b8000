"""Bad input, fuzzed: the connector processes it or stops with exactly one clear error; it never hangs, never
emits a state it did not honour, never leaves a bare traceback, and keeps stderr empty.

Broad fuzzing runs in-process (the reader, the Writer against one in-process emulator, the entrypoint on
odd configs); a handful of subprocess cases cover the CLI paths with the nastiest inputs (20 MB strings,
1,000 levels of nesting, invalid UTF-8, lone surrogates, NaN, huge ints, garbage bytes).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_dust.__main__ import main as cli_main
from destination_dust.catalog import StreamKey, parse_catalog
from destination_dust.config import parse_config
from destination_dust.errors import DestinationError
from destination_dust.protocol import KNOWN_TYPES, Message, Output, message_of, parse_line
from destination_dust.sinks import DocumentSink, TableSink
from destination_dust.writer import Writer
from dust_emulator.testing import EmulatorThread, thread_settings
from tests.helpers import FAKE_KEY, run_cli, stream_state, write_json
from tests.reliability.support import data_source
from tests.unit.tables_sync import RecordingDust, configured_stream, tables_config

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- the reader -------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
message_like = st.fixed_dictionaries(
    {"type": st.sampled_from([*sorted(KNOWN_TYPES), "FOO", "", "record"])},
    optional={"record": json_values, "state": json_values, "trace": json_values},
)
records_of_users = st.dictionaries(st.sampled_from(["id", "x"]), json_values).map(
    lambda data: json.dumps({"type": "RECORD", "record": {"stream": "users", "data": data}}).encode()
)
lines = st.one_of(
    st.binary(max_size=200),
    message_like.map(lambda m: json.dumps(m).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    records_of_users,
)


class _HandingOn(Writer):
    """A Writer that keeps the messages its read loop hands on instead of acting on them."""

    handed: list[Message]

    def on_message(self, message: Message) -> None:
        self.handed.append(message)


def _read(raw: bytes) -> tuple[Writer, list[Message]]:
    """`raw` through the writer's real read loop, with one tables stream `users` (its Dust calls kept): the
    writer and the messages its loop handed on (every line but the records its sink took as they came)."""
    config = tables_config()
    stream = configured_stream({"id": {"type": "integer"}}, key=[["id"]])
    catalog = parse_catalog({"streams": [stream]}, config.format_for)
    writer = _HandingOn(config, catalog, Output(io.BytesIO()), client=RecordingDust(config))
    writer.handed = []
    writer.run(io.BytesIO(raw))
    return writer, writer.handed


def _is_record_of_users(body: Any) -> bool:
    record = body.get("record") if isinstance(body, dict) and body.get("type") == "RECORD" else None
    return (
        isinstance(record, dict) and record.get("stream") == "users" and isinstance(record.get("data"), dict)
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(lines, max_size=20), st.sampled_from([b"\n", b"\r\n"]))
def test_the_reader_never_raises_and_hands_on_only_airbyte_messages(
    chunks: list[bytes], newline: bytes
) -> None:
    chunks = [c.replace(b"\n", b" ").replace(b"\r", b" ") for c in chunks]
    writer, messages = _read(newline.join(chunks))
    taken = writer.stats.read  # records of `users` its sink took as they came
    assert taken + len(messages) <= len(chunks)
    assert writer.stats.committed == taken  # each one written (or superseded by a later one of its id)
    for message in messages:
        assert message.type in KNOWN_TYPES
        assert isinstance(message.body, dict) and message.body["type"] == message.type
        assert message.raw.strip() == message.raw and message.raw in newline.join(chunks)
    # nothing is lost: each Airbyte message orjson reads is taken by the sink (records of `users`) or handed
    # on, and a record of `users` is taken or handed on as one (odd JSON such as NaN takes the long way)
    parsed = [_json_or_none(chunk) for chunk in chunks]
    assert taken + len(messages) >= sum(
        isinstance(body, dict) and body.get("type") in KNOWN_TYPES for body in parsed
    )
    sent = sum(map(_is_record_of_users, parsed))
    assert taken + sum(_is_record_of_users(m.body) for m in messages) >= sent


def _json_or_none(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def _messages(lines: list[bytes]) -> list[dict[str, Any]]:
    """The Airbyte messages among input lines, parsed as the writer parses them."""
    parsed = (message_of(line, parse_line(line), n, set()) for n, line in enumerate(lines, start=1))
    return [message.body for message in parsed if message is not None]


# -- the Writer against one emulator ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(settings=thread_settings(rate_limit=0)) as emulator:
        yield emulator


names = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() == s and s != "")
odd_scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.text(max_size=30),
    st.text(
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3
    ),  # lone surrogates
    st.none(),
    st.booleans(),
)
odd_values = st.recursive(
    odd_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)


def _deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@st.composite
def fuzz_syncs(draw: st.DrawFn) -> tuple[dict[str, Any], list[bytes], dict[str, str]]:
    """A catalog with odd stream and field names (primary keys that may be missing from records), and input
    lines: records with odd values, raw invalid UTF-8, deep nesting, garbage, and STREAM states."""
    stream_names = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    formats = {s: draw(st.sampled_from(["documents", "tables"])) for s in stream_names}
    streams = []
    for name in stream_names:
        fields = draw(st.lists(names, min_size=1, max_size=4, unique=True))
        pk = draw(st.sampled_from([[], [[fields[0]]], [["missing_field"]], [[fields[0]], [fields[-1]]]]))
        mode = draw(st.sampled_from(["append", "append_dedup", "overwrite"])) if pk else "append"
        streams.append(
            {
                "stream": {
                    "name": name,
                    "json_schema": {
                        "type": "object",
                        "properties": {
                            f: {
                                "type": draw(
                                    st.sampled_from(["string", "integer", "number", "object", "boolean"])
                                )
                            }
                            for f in fields
                        },
                    },
                    "supported_sync_modes": ["full_refresh", "incremental"],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": mode,
                "primary_key": pk,
                "cursor_field": [],
            }
        )
    out: list[bytes] = []
    seq = 0
    for _ in range(draw(st.integers(1, 12))):
        stream = draw(st.sampled_from(stream_names))
        kind = draw(st.sampled_from(["record", "record", "record", "state", "raw"]))
        if kind == "record":
            data = draw(st.dictionaries(names, odd_values, max_size=5))
            out.append(
                json.dumps(
                    {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 1}},
                    allow_nan=True,
                ).encode()
            )
        elif kind == "state":
            seq += 1
            out.append(json.dumps(stream_state(stream, {"seq": seq})).encode())
        else:
            prefix = json.dumps({"type": "RECORD", "record": {"stream": stream, "emitted_at": 1}})[:-2]
            out.append(
                draw(
                    st.sampled_from(
                        [
                            prefix.encode() + b', "data": {"id": "\xff\xfe\xc3", "v": 1}}}',
                            prefix.encode() + b', "data": {"id": 1, "deep": ' + _deep(1000).encode() + b"}}}",
                            prefix.encode()
                            + b', "data": {"id": NaN, "big": 123456789012345678901234567890}}}',
                            b"\x00\x01garbage\xff",
                            b'{"type": "RECORD", "record": "not an object"}',
                        ]
                    )
                )
            )
    for name in stream_names:  # a final state per stream
        seq += 1
        out.append(json.dumps(stream_state(name, {"seq": seq})).encode())
    return {"streams": streams}, out, formats


def _stored_ids(emu: EmulatorThread) -> set[str]:
    ds = data_source(emu.dump(), emu.config["data_source_id"])
    return {d["document_id"] for d in ds["documents"]} | {
        f"{t['table_id']}/{r['row_id']}" for t in ds["tables"] for r in t["rows"]
    }


def _expected_id(writer: Writer, key: StreamKey, data: dict[str, Any]) -> str | None:
    sink = writer.sinks[key]
    if isinstance(sink, DocumentSink):
        return sink.renderer.document_id(data)
    if isinstance(sink, TableSink):
        return f"{sink.mapper.table.table_id}/{sink.mapper.row_id(data)}"
    return None


@pytest.mark.timeout(150)  # a hang fails the test
@FUZZ
@given(fuzz_syncs())
def test_the_writer_processes_odd_input_or_fails_with_one_clear_error(
    emu: EmulatorThread, sync: tuple[dict[str, Any], list[bytes], dict[str, str]]
) -> None:
    raw_catalog, input_lines, formats = sync
    emu.reset()
    config = parse_config(
        {
            **emu.config,
            "stream_formats": formats,
            "document_upserts_per_minute": 0,
            "retry_deadline_seconds": 2,
            "request_timeout_seconds": 10,
        }
    )
    try:
        streams = parse_catalog(raw_catalog, config.format_for)
    except DestinationError as exc:  # an unusable catalog: a clear config error, nothing sent
        assert exc.failure_type == "config_error" and exc.message
        return
    stdout = io.BytesIO()
    writer = Writer(config, streams, Output(stdout))
    error: DestinationError | None = None
    try:
        writer.run(io.BytesIO(b"\n".join(input_lines) + b"\n"))
    except DestinationError as exc:
        error = exc
    emitted = [orjson.loads(line) for line in stdout.getvalue().splitlines()]
    states = [m for m in emitted if m["type"] == "STATE"]
    parsed = _messages(input_lines)
    sent_seqs = [b["state"]["stream"]["stream_state"]["seq"] for b in parsed if b["type"] == "STATE"]
    seqs = [s["state"]["stream"]["stream_state"]["seq"] for s in states]
    assert seqs == sent_seqs[: len(seqs)]  # in order, none invented, none skipped
    if error is None:
        assert seqs == sent_seqs  # a successful run honours every state
    else:
        assert error.message and error.failure_type in {"config_error", "system_error", "transient_error"}
    # every record before an emitted state of its stream is stored
    stored = _stored_ids(emu)
    last_state_of: dict[str, int] = {}
    for position, body in enumerate(parsed):
        if body["type"] == "STATE" and body["state"]["stream"]["stream_state"]["seq"] in seqs:
            last_state_of[body["state"]["stream"]["stream_descriptor"]["name"]] = position
    for position, body in enumerate(parsed):
        record = body.get("record") if body["type"] == "RECORD" else None
        if not isinstance(record, dict) or not isinstance(record.get("data"), dict):
            continue
        if position > last_state_of.get(record["stream"], -1):
            continue
        data = record["data"]
        key = StreamKey(None, record["stream"])
        if key not in writer.sinks or writer.sinks[key].is_deletion(data):
            continue
        if writer.streams[key].destination_sync_mode == "overwrite":
            continue  # an overwrite sweep after COMPLETE may remove it legitimately (no COMPLETE sent here)
        expected = _expected_id(writer, key, data)
        later = [
            b["record"]["data"]
            for b in parsed[position + 1 :]
            if b["type"] == "RECORD"
            and isinstance(b.get("record"), dict)
            and b["record"].get("stream") == record["stream"]
            and isinstance(b["record"].get("data"), dict)
        ]
        if any(writer.sinks[key].is_deletion(d) and _expected_id(writer, key, d) == expected for d in later):
            continue
        assert expected in stored, (
            f"record at line {position} ({expected!r}) vouched for by a state, not stored"
        )


# -- configs --------------------------------------------------------------------------------------------

fast_failing_urls = st.one_of(
    st.sampled_from(
        [
            "https://dust.invalid",
            "http://127.0.0.1:1",
            "http://localhost:1/",
            "http://dust.tt",
            "ftp://x",
            "",
            "not a url",
            "https://",
            "http://[::1",
            "https://x.invalid:99999",
            "https://x.invalid:abc/",
            "https://user:pw@x.invalid",
            "https://x.invalid/?q=1",
            "https://x.invalid/#f",
            "http://127.0.0.1:1/" + "a" * 5000,
        ]
    ),
    st.text(max_size=30),
)
wrong_types = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.booleans(),
)
config_fields = [
    "api_key",
    "workspace_id",
    "space_id",
    "data_source_id",
    "data_format",
    "stream_formats",
    "table_batch_max_rows",
    "max_concurrent_requests",
    "request_timeout_seconds",
    "retry_deadline_seconds",
    "document_upserts_per_minute",
    "text_fields",
    "tag_fields",
]


@st.composite
def odd_configs(draw: st.DrawFn) -> Any:
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(json_values)  # not even an object
    config: dict[str, Any] = {
        "api_key": FAKE_KEY,
        "workspace_id": "w",
        "space_id": "s",
        "data_source_id": "d",
        "base_url": draw(fast_failing_urls),
        "request_timeout_seconds": 3,
        "retry_deadline_seconds": 1,
    }
    for name in draw(st.lists(st.sampled_from(config_fields), max_size=3, unique=True)):
        config[name] = draw(wrong_types)
    return config


@pytest.mark.timeout(150)
@FUZZ
@given(odd_configs())
def test_odd_configs_give_one_clear_answer(tmp_path_factory: pytest.TempPathFactory, raw: Any) -> None:
    directory = tmp_path_factory.mktemp("cfg")
    path = directory / "config.json"
    path.write_text(json.dumps(raw, allow_nan=True))
    stdout = io.BytesIO()
    assert cli_main(["check", "--config", str(path)], Output(stdout)) == 0
    (status,) = [orjson.loads(line) for line in stdout.getvalue().splitlines()]
    answer = status["connectionStatus"]
    assert answer["status"] in {"SUCCEEDED", "FAILED"}
    if answer["status"] == "FAILED":
        assert answer["message"] and "Traceback" not in answer["message"]
    assert FAKE_KEY not in stdout.getvalue().decode()
    catalog_path = write_json(directory, "catalog.json", {"streams": []})
    with pytest.raises(DestinationError) as info:  # write never starts against these servers
        cli_main(["write", "--config", str(path), "--catalog", catalog_path], Output(io.BytesIO()))
    assert info.value.message and FAKE_KEY not in info.value.message


# -- the CLI with the nastiest inputs ---------------------------------------------------------------------


def _record_line(stream: str, data_json: bytes) -> bytes:
    return (
        b'{"type":"RECORD","record":{"stream":"'
        + stream.encode()
        + b'","emitted_at":1,"data":'
        + data_json
        + b"}}"
    )


NASTY = {
    "20MB_string": _record_line(
        "s", b'{"id":1,"text":"' + b"lorem ipsum " * (20 * 1024 * 1024 // 12) + b'"}'
    ),
    "deep_1000": _record_line("s", b'{"id":2,"deep":' + _deep(1000).encode() + b"}"),
    "invalid_utf8": _record_line("s", b'{"id":3,"text":"caf\xe9 \xff\xfe \xc3"}'),
    "lone_surrogates": _record_line("s", b'{"id":4,"text":"\\ud800 and \\udfff","\\udc00key":1}'),
    "nan_inf_bigint": _record_line(
        "s", b'{"id":5,"n":NaN,"i":Infinity,"m":-Infinity,"big":' + b"9" * 40 + b"}"
    ),
    "garbage": b"\x00\xff\xfe{{{[[[not json at all" + bytes(range(256)).replace(b"\n", b""),
    "huge_int_pk": _record_line("s", b'{"id":' + b"1" * 60 + b',"text":"x"}'),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("data_format", ["documents", "tables"])
def test_the_cli_survives_the_nastiest_lines(tmp_path: Path, emu: EmulatorThread, data_format: str) -> None:
    emu.reset()
    config = write_json(
        tmp_path,
        "config.json",
        {
            **emu.config,
            "data_format": data_format,
            "document_upserts_per_minute": 0,
            "max_document_size_mb": 1,
        },
    )
    cat = write_json(
        tmp_path,
        "catalog.json",
        {
            "streams": [
                {
                    "stream": {
                        "name": "s",
                        "json_schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
                        "supported_sync_modes": ["incremental"],
                    },
                    "sync_mode": "incremental",
                    "destination_sync_mode": "append_dedup",
                    "primary_key": [["id"]],
                    "cursor_field": [],
                }
            ]
        },
    )
    state = b'{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"s"},"stream_state":{"n":1}}}}'
    stdin = b"\n".join([*NASTY.values(), state]) + b"\n"
    result = run_cli(["write", "--config", config, "--catalog", cat], stdin, timeout=110)
    assert result.stderr == b""
    errors = result.traces
    if result.returncode == 0:
        assert not errors and len(result.states) == 1
        ds = data_source(emu.dump(), emu.config["data_source_id"])
        held = (
            len(ds["documents"]) if data_format == "documents" else sum(len(t["rows"]) for t in ds["tables"])
        )
        assert held == 6  # every line that is a record of stream s (all but the garbage)
    else:
        (error,) = errors
        assert error["trace"]["error"]["message"] and not result.states
    for message in result.messages:  # no bare traceback, every line an Airbyte message
        assert message["type"] in {"LOG", "TRACE", "STATE"}
        if message["type"] == "LOG":
            assert not message["log"]["message"].startswith("Traceback")


def test_nan_and_huge_numbers_are_exact_in_the_reader() -> None:
    """The odd numbers survive parsing as values (not strings), so ids stay deterministic across runs."""
    _, (message,) = _read(NASTY["nan_inf_bigint"] + b"\n")
    data = message.body["record"]["data"]
    assert math.isnan(data["n"]) and data["i"] == math.inf and data["big"] == int("9" * 40)
