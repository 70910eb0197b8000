"""Text rules shared by documents and tables: text Dust can store, and what a scalar value reads as.

Dust stores text in Postgres (no NUL character), and no UTF-8 encoder takes a lone UTF-16 surrogate (what a
JSON `\\ud800` escape decodes to), so both go before text leaves the connector. The one difference between
the two modes is what a lone surrogate becomes, `lone_surrogate` below: a document is read, so it shows
U+FFFD where a character was lost (`REPLACEMENT`); a table cell is a value that SQL compares and the agent
quotes back in queries, so it keeps only the characters it had (`""`, the default).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

REPLACEMENT = "\ufffd"  # what a lone surrogate becomes in a document
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str a surrogate code point is always alone
_LONE_SURROGATE_OR_NUL = re.compile("[\ud800-\udfff\x00]")
_WHITESPACE = re.compile(r"\s+")
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS

# orjson refuses nesting deeper than 255; a record 1,000 levels deep must not exhaust Python's stack either
MAX_JSON_DEPTH = 100
TOO_DEEP = "[nested deeper than 100 levels: cut]"


def clean_text(text: str, lone_surrogate: str = "") -> str:
    """`text` without NUL characters, each lone surrogate replaced by `lone_surrogate` (module doc)."""
    if text.isascii():
        return text.replace("\x00", "") if "\x00" in text else text
    if lone_surrogate:
        return _LONE_SURROGATE.sub(lone_surrogate, text.replace("\x00", ""))
    return _LONE_SURROGATE_OR_NUL.sub("", text)


def single_line(text: str) -> str:
    """Document text on one line: cleaned, whitespace runs (newlines included) collapsed to one space, trimmed."""
    return _WHITESPACE.sub(" ", clean_text(text, REPLACEMENT)).strip()


def non_finite_text(value: float) -> str:
    """NaN and ±Infinity as JavaScript spells them (JSON has no number for them)."""
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def scalar_text(value: Any, lone_surrogate: str = "") -> str:
    """Any value as text: strings cleaned, bools as true/false, numbers as JSON spells them, dates in ISO-8601;
    objects, arrays and anything else as compact JSON (`json_text`)."""
    if isinstance(value, str):
        return clean_text(value, lone_surrogate)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # past Python's 4,300-digit limit for str(int)
            return f"(an integer of about {int(value.bit_length() * math.log10(2))} digits)"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else non_finite_text(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return json_text(value)


_INT_TEXT = re.compile(r"^[+-]?\d+$")


def number_in_text(text: str) -> int | float | None:
    """The finite number a text spells (`" 42 "`, `"-1.5e3"`), integers exactly; None when it spells none."""
    text = text.strip()
    try:
        if _INT_TEXT.match(text):
            return int(text)  # ValueError beyond Python's 4,300-digit limit: then not a number for us
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# --- compact JSON (table cells of objects and arrays)


def json_text(value: Any) -> str:
    """Compact JSON for objects and arrays (what an agent can read with SQLite's json_extract)."""
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS, default=str).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        # lone surrogates, integers beyond 64 bits, too deep: clean, spell big numbers as strings, cut the depth
        return orjson.dumps(_clean_deep(value), option=_JSON_OPTIONS, default=str).decode("utf-8")


def plain_json_text(value: Any) -> str:
    """`json_text` without orjson's options, for an object or array as JSON decoding gives them (string keys,
    JSON values only), the common case; anything else is handed to `json_text`."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:  # a non-string key, a value orjson cannot write: json_text's cases
        return json_text(value)


def _clean_deep(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, (Mapping, list, tuple)) and depth >= MAX_JSON_DEPTH:
        return TOO_DEEP
    if isinstance(value, Mapping):
        return {clean_text(str(k)): _clean_deep(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_deep(v, depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)  # orjson stops at 64 bits
    if isinstance(value, float) and not math.isfinite(value):
        return non_finite_text(value)
    return value


def lone_surrogate_fields(data: Mapping[Any, Any]) -> list[str]:
    """The top-level fields whose value (or a key inside it) holds a lone surrogate, for the loss notices of
    both modes. One orjson pass when there is none (the usual case)."""
    try:
        orjson.dumps(data, option=_JSON_OPTIONS, default=str)
        return []
    except (TypeError, orjson.JSONEncodeError):  # or an integer beyond 64 bits, or too deep: look closer
        pass
    return [
        str(field)
        for field, value in data.items()
        if _has_lone_surrogate(field) or _has_lone_surrogate(value)
    ]


def _has_lone_surrogate(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return _LONE_SURROGATE.search(value) is not None
    if depth >= MAX_JSON_DEPTH:
        return False
    if isinstance(value, Mapping):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_lone_surrogate(v, depth + 1) for v in value)
    return False
