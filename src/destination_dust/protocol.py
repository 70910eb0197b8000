"""Airbyte messages in and out: a streaming stdin reader and a thread-safe, redacting stdout writer."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
from typing import IO, Any, ClassVar

import msgspec
import orjson

from destination_dust.redact import REDACT

logger = logging.getLogger("destination_dust")

KNOWN_TYPES = frozenset(
    {
        "RECORD",
        "STATE",
        "LOG",
        "TRACE",
        "CONTROL",
        "SPEC",
        "CONNECTION_STATUS",
        "CATALOG",
        "DESTINATION_CATALOG",
    }
)


class Message:
    """One input line that is not a record the reader hands over raw: its type, parsed body and raw bytes."""

    __slots__ = ("body", "raw", "type")

    def __init__(self, kind: str, body: dict[str, Any], raw: bytes) -> None:
        self.type = kind
        self.body = body  # the whole parsed message
        self.raw = raw  # the line as received (STATE lines are echoed from it)


def message_of(line: bytes, body: Any, number: int, warned: set[str]) -> Message | None:
    """The message of input line `number`, given `parse_line(line)`; None (with a warning once per kind, in
    `warned`) for a line to skip."""
    stripped = line.strip()
    if not stripped:
        return None
    if body is None and len(stripped) != len(line):  # whitespace JSON does not allow (\f, \v) was around it
        body = parse_line(stripped)
    line = stripped
    if body is None:
        _warn_once(warned, "json", f"skipped input line {number}: not JSON (further ones not reported)")
        return None
    kind = body.get("type") if type(body) is dict else None
    if type(kind) is not str or kind not in KNOWN_TYPES:
        _warn_once(
            warned, "type", f"skipped input line {number}: not an Airbyte message (further ones not reported)"
        )
        return None
    return Message(kind, body, line)


# Input lines are decoded with msgspec: it reads integers past 64 bits exactly, where orjson gives a float
# without a word. The lines it refuses fall back to orjson when no long digit run can be in them (msgspec
# stops at the interpreter's recursion limit, orjson at 1,024 levels), else to the stdlib parser, which also
# takes the NaN and Infinity Python sources emit. Output is encoded with orjson (see tables.encode_row).
_decode = msgspec.json.Decoder().decode
# what msgspec raises on a line it refuses: its DecodeError (and ValidationError) and UnicodeDecodeError are
# ValueErrors; nesting past the interpreter's recursion limit raises RecursionError
DECODE_ERRORS = (ValueError, RecursionError)
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19  # an integer outside [-2**63, 2**64) has at least 19 digits


def parse_line(line: bytes) -> Any:
    """One JSON line, exactly; None when it is not JSON (or blank). Surrounding whitespace is allowed."""
    try:
        return _decode(line)
    except DECODE_ERRORS:
        pass
    if _LONG_RUN not in line.translate(_DIGITS_TO_ZERO):
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    try:
        # invalid UTF-8 becomes U+FFFD: the record is kept, with the bad bytes marked
        return json.loads(line.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None


class RecordBody(msgspec.Struct):
    """The fields of a RECORD's `record` object the reader uses, as they came (types are checked after). The
    data stays raw JSON: its stream's sink decodes it (a tables sink straight into a row: row_encoder.py)."""

    stream: Any = None
    # msgspec takes no Raw in a union: a null or missing data comes as raw `null` or nothing, and the sink
    # finds it is not an object when it decodes it
    data: msgspec.Raw = msgspec.Raw(b"")
    namespace: Any = None
    emitted_at: Any = None


class RecordLine(msgspec.Struct):
    """A line read for its `type` and `record` only: no dict is made for the envelope or the record object,
    the reader's commonest line. Any other line is parsed again whole (`parse_line`). Decoding into it checks
    the JSON syntax of the data but not all of its text (invalid UTF-8 inside it passes): the sink's decoding
    does, and the line takes `parse_line` when it fails."""

    type: Any = None
    record: RecordBody | None = None


# raises one of DECODE_ERRORS where parse_line would fall back
decode_record_line = msgspec.json.Decoder(RecordLine).decode
decode_json = _decode  # any JSON value, exactly (the record data of a RecordLine)


def _warn_once(seen: set[str], key: str, text: str) -> None:
    if key not in seen:
        seen.add(key)
        logger.warning(text)


class Output:
    """Writes Airbyte messages to stdout, one JSON line each, under a lock (worker threads log too).
    Every line goes through the redactor; STATE lines are flushed at once (the platform commits on them)."""

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._lock = threading.Lock()

    def write_line(self, line: bytes, *, flush: bool = False) -> None:
        line = REDACT.bytes(line)
        with self._lock:
            self._stream.write(line + b"\n")
            if flush:
                self._stream.flush()

    def message(self, message: dict[str, Any], *, flush: bool = False) -> None:
        # mask the strings before they are JSON-escaped (after, a key holding `"` or `\` no longer matches)
        self.write_line(orjson.dumps(_redacted(message), default=str), flush=flush)

    def log(self, level: str, text: str) -> None:
        self.message({"type": "LOG", "log": {"level": level, "message": REDACT(text)}}, flush=True)

    def trace_error(self, text: str, failure_type: str, internal: str | None = None) -> None:
        error: dict[str, Any] = {"message": REDACT(text), "failure_type": failure_type}
        if internal:
            error["internal_message"] = REDACT(internal)
        self.message(
            {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": time.time() * 1000, "error": error}},
            flush=True,
        )

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return REDACT(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


class AirbyteLogHandler(logging.Handler):
    """Routes `logging` records to Airbyte LOG messages (stderr is not read by every platform)."""

    LEVELS: ClassVar[dict[str, str]] = {
        "DEBUG": "DEBUG",
        "INFO": "INFO",
        "WARNING": "WARN",
        "ERROR": "ERROR",
        "CRITICAL": "FATAL",
    }

    def __init__(self, output: Output) -> None:
        super().__init__()
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.levelno >= logging.ERROR:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            self.output.log(self.LEVELS.get(record.levelname, "INFO"), text)
        except Exception:
            self.handleError(record)


def setup_logging(output: Output) -> None:
    root = logging.getLogger()
    root.handlers[:] = [AirbyteLogHandler(output)]
    root.setLevel(logging.INFO)
    # httpx logs every request at INFO: too chatty for a sync of 100k rows
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


# -- STATE echo --------------------------------------------------------------------------------------


def _object_members(text: str, start: int) -> tuple[dict[str, tuple[int, int]], int, int]:
    """Spans of the members of the JSON object that starts at `start` (whitespace skipped).
    Returns ({key: (value_start, value_end)}, position after '{', position of '}')."""
    decoder = json.JSONDecoder()
    ws = " \t\r\n"
    i = start
    while text[i] in ws:
        i += 1
    if text[i] != "{":
        raise ValueError("not an object")
    open_end = i + 1
    i += 1
    members: dict[str, tuple[int, int]] = {}
    while True:
        while text[i] in ws:
            i += 1
        if text[i] == "}":
            return members, open_end, i
        if text[i] == ",":
            i += 1
            continue
        key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        while text[i] in ws:
            i += 1
        i += 1  # ':'
        while text[i] in ws:
            i += 1
        _, end = decoder.raw_decode(text, i)
        members[key] = (i, end)
        i = end


def with_destination_stats(raw: bytes, record_count: int | None) -> bytes:
    """The STATE line as received, byte for byte, with `state.destinationStats` set when a count is given.
    Only the stats member is touched, so unknown fields (the platform's `id`) and formatting survive."""
    if record_count is None:
        return raw
    try:
        text = raw.decode("utf-8")
        top, _, _ = _object_members(text, 0)
        if "state" not in top:
            return raw
        state_start, _ = top["state"]
        members, open_end, _ = _object_members(text, state_start)
    except (ValueError, IndexError, UnicodeDecodeError):
        return raw  # cannot add it exactly: leave the line untouched
    stats = '{"recordCount":' + repr(float(record_count)) + "}"
    if "destinationStats" in members:
        begin, end = members["destinationStats"]
        text = text[:begin] + stats + text[end:]
    else:
        separator = "," if members else ""
        text = text[:open_end] + '"destinationStats":' + stats + separator + text[open_end:]
    return text.encode("utf-8")
