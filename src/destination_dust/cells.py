"""JSON values -> Dust table cells, driven by the type the catalog declares for the column.

Dust accepts a cell that is a string, a number, a boolean, null or `{"type": "datetime", "epoch": <int ms>}`;
it infers each column's type from the cells and widens on conflict (int + float -> float, any other mix ->
text, for good). So the aim is that every cell of a column has the column's declared type:

| declared (Kind)     | cell sent                                                                       |
|---------------------|---------------------------------------------------------------------------------|
| INTEGER, NUMBER     | the number; numeric strings parsed; bools as 1/0                                |
| BOOLEAN             | the bool; `true/false/t/f/yes/no/1/0` strings and 0/1 numbers parsed            |
| DATETIME, DATE      | a datetime cell: ISO-8601 (naive = UTC), a date (midnight UTC), or epoch s/ms/us |
| STRING, JSON        | text; numbers and bools as their JSON spelling; objects and arrays as compact JSON |
| ANY (undeclared)    | as is; objects and arrays as compact JSON; non-finite floats as text            |

Coercion policy, for a value that contradicts its declared type (`"abc"` in an integer column, an unparseable
date, an object in a boolean column): the cell is **null** and the column's coercion counter goes up, so the
column keeps its Dust type and the batch never fails. NaN and ±Infinity in a numeric column are such values
too (Dust has no cell for them). Kept as **text** instead, and counted because they can widen the column to
text in Dust: integers beyond ±2^53 in any column (Dust's front parses JSON with doubles: sent as numbers they
would silently become another id), and NaN/±Infinity in undeclared columns (`"NaN"`, `"Infinity"`).

Datetime notes: epochs are integer milliseconds (Dust rejects fractional ones); a negative epoch is floored to
a whole second because Dust's core cannot render negative epochs with a millisecond part. Numbers in a
datetime column are read as seconds below 1e11 (before year 5138), milliseconds below 1e14, microseconds
below 1e17, nanoseconds above.

Strings lose lone surrogates (orjson cannot encode them) and NUL characters (Dust stores text in Postgres).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

DatetimeCell = dict[str, str | int]
Cell = str | int | float | bool | None | DatetimeCell

MAX_SAFE_INTEGER = 2**53  # beyond this a JSON number no longer survives Dust's JavaScript front intact
_MIN_EPOCH_MS = -62135596800000  # 0001-01-01T00:00:00Z
_MAX_EPOCH_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_BAD_CHARS = re.compile("[\ud800-\udfff\x00]")
NUL_ESCAPE = (
    b"\\u0000"  # how orjson and msgspec write a NUL: an encoded row holding it needs its cells cleaned
)
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


class Kind(enum.Enum):
    """What a column holds, as declared by the catalog; `dust_type` is the type Dust should infer."""

    INTEGER = ("integer", "int")
    NUMBER = ("number", "float")
    BOOLEAN = ("boolean", "bool")
    DATETIME = ("date-time", "datetime")
    DATE = ("date", "datetime")
    STRING = ("string", "text")
    JSON = ("JSON text", "text")  # objects, arrays, and declared unions of unrelated types
    ANY = ("any", "any")  # no usable declaration: Dust infers from the values

    def __init__(self, label: str, dust_type: str) -> None:
        self.label = label
        self.dust_type = dust_type


class Coerced:
    """A marker returned by converters when the value did not fit its column (the cell is `value`)."""

    __slots__ = ("value",)

    def __init__(self, value: Cell) -> None:
        self.value = value


Converter = Callable[[Any], Cell | Coerced]


# --- schema -> Kind


def kind_of(schema: Any) -> Kind:
    """The Kind of one JSON-schema property: `type` (string or list, "null" ignored), `anyOf`/`oneOf`,
    `format` and Airbyte's `airbyte_type`."""
    if not isinstance(schema, Mapping):
        return Kind.ANY
    airbyte_type = schema.get("airbyte_type")
    if airbyte_type in ("timestamp_with_timezone", "timestamp_without_timezone"):
        return Kind.DATETIME
    if airbyte_type == "big_integer":
        return Kind.STRING  # usually beyond 2^53: text keeps every digit and the column type stable
    if airbyte_type == "integer":
        return Kind.INTEGER
    for union in ("anyOf", "oneOf"):
        options = schema.get(union)
        if isinstance(options, list) and options:
            return _merge([kind_of(option) for option in options if not _is_null_schema(option)])
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else declared if isinstance(declared, list) else []
    kinds = [_kind_of_type(t, schema.get("format")) for t in types if t != "null"]
    if not kinds:
        return Kind.ANY
    return _merge(kinds)


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") in ("null", ["null"])


def _kind_of_type(json_type: Any, fmt: Any) -> Kind:
    if json_type == "string":
        if fmt == "date-time":
            return Kind.DATETIME
        if fmt == "date":
            return Kind.DATE
        return Kind.STRING  # including format: time (a time of day is not a point in time)
    return {
        "integer": Kind.INTEGER,
        "number": Kind.NUMBER,
        "boolean": Kind.BOOLEAN,
        "object": Kind.JSON,
        "array": Kind.JSON,
    }.get(json_type, Kind.ANY)


def _merge(kinds: list[Kind]) -> Kind:
    """One Kind for a union, widened as Dust widens: int + number -> number, dates -> datetime, else text."""
    distinct = set(kinds)
    if not distinct:
        return Kind.ANY
    if len(distinct) == 1:
        return kinds[0]
    if Kind.ANY in distinct:
        return Kind.ANY
    if distinct <= {Kind.INTEGER, Kind.NUMBER}:
        return Kind.NUMBER
    if distinct <= {Kind.DATETIME, Kind.DATE}:
        return Kind.DATETIME
    if distinct <= {Kind.JSON}:
        return Kind.JSON
    return Kind.STRING


# --- text helpers


def clean_text(text: str) -> str:
    """Drop lone surrogates and NUL characters (the only strings orjson or Dust refuse)."""
    if text.isascii():
        return text.replace("\x00", "") if "\x00" in text else text
    return _BAD_CHARS.sub("", text)


# orjson refuses nesting deeper than 255; a record 1,000 levels deep must not exhaust Python's stack either
MAX_JSON_DEPTH = 100
TOO_DEEP = "[nested deeper than 100 levels: cut]"


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
        return _non_finite_text(value)
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str a surrogate code point is always alone


def lone_surrogate_fields(data: Mapping[Any, Any]) -> list[str]:
    """The top-level fields whose value (or a key inside it) holds a lone surrogate: text no UTF-8 encoder
    takes, so cells drop it and documents replace it. One orjson pass when there is none (the usual case)."""
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


def json_text(value: Any) -> str:
    """Compact JSON for objects and arrays (what an agent can read with SQLite's json_extract)."""
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS, default=str).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        # lone surrogates, integers beyond 64 bits, too deep: clean, spell big numbers as strings, cut the depth
        return orjson.dumps(_clean_deep(value), option=_JSON_OPTIONS, default=str).decode("utf-8")


def plain_json_text(value: Any) -> str:
    """`json_text`, sooner for an object or array as JSON decoding gives them (string keys, JSON values only):
    orjson's keyword arguments are ~30% of such a call. Anything else is handed to `json_text`."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:  # a non-string key, a value orjson cannot write: json_text's cases
        return json_text(value)


def _non_finite_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def scalar_text(value: Any) -> str:
    """Any value as text: strings cleaned, bools as true/false, numbers as JSON spells them."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else _non_finite_text(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return json_text(value)


# --- numbers


def _safe_int(value: int) -> Cell | Coerced:
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    return Coerced(str(value))  # keep every digit: an id must not be rounded


_INT_TEXT = re.compile(r"^[+-]?\d+$")


def _parse_number_text(text: str) -> int | float | None:
    text = text.strip()
    try:
        if _INT_TEXT.match(text):
            return int(text)  # ValueError beyond Python's 4,300-digit limit: then not a number for us
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def to_number(value: Any, integral: bool) -> Cell | Coerced:
    """INTEGER/NUMBER cells. `integral` turns whole floats (3.0) into ints so an integer column stays int."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return _safe_int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return Coerced(None)
        if integral and value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
            return int(value)
        return value
    if isinstance(value, Decimal):
        return to_number(str(value), integral)
    if isinstance(value, str):
        if not value.strip():
            return None  # an empty string is how many sources say "no value"
        parsed = _parse_number_text(value)
        if parsed is None:
            return Coerced(None)
        return to_number(parsed, integral)
    return Coerced(None)


# --- booleans

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def to_boolean(value: Any) -> Cell | Coerced:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        if not word:
            return None
    return Coerced(None)


# --- datetimes

_ISO = re.compile(
    r"^\s*(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[Tt ](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?)?"
    r"\s*(?P<zone>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$"
)


def datetime_cell(epoch_ms: int) -> DatetimeCell | Coerced:
    """A Dust datetime cell, or null (counted) when the instant is outside years 1..9999."""
    if not _MIN_EPOCH_MS <= epoch_ms <= _MAX_EPOCH_MS:
        return Coerced(None)
    if epoch_ms < 0:
        epoch_ms = (epoch_ms // 1000) * 1000  # Dust core cannot render a negative epoch with a ms part
    return {"type": "datetime", "epoch": epoch_ms}


def parse_iso_epoch_ms(text: str) -> int | None:
    """Epoch milliseconds of an ISO-8601 date or date-time; naive times are UTC. None when unparseable."""
    try:  # the C parser handles the common shapes fast; the regex below covers the rest (and Python 3.10)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return parse_iso_fallback(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    return _timedelta_ms(moment - _EPOCH)


def parse_iso_fallback(text: str) -> int | None:
    """The regex parser: spaces around, `UTC`/`GMT`, leap seconds, and all of ISO on Python 3.10."""
    match = _ISO.match(text)
    if not match:
        return None
    parts = match.groupdict()
    fraction = (parts["fraction"] or "")[:6].ljust(6, "0")
    second = int(parts["second"] or 0)
    try:
        moment = dt.datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            min(second, 59),  # a leap second (:60) is one second after :59
            int(fraction),
            tzinfo=_UTC,
        )
    except ValueError:
        return None
    delta = moment - _EPOCH + dt.timedelta(seconds=second - min(second, 59)) - _zone_offset(parts["zone"])
    return _timedelta_ms(delta)


def _zone_offset(zone: str | None) -> dt.timedelta:
    if not zone or zone in ("Z", "z", "UTC", "GMT"):
        return dt.timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return sign * dt.timedelta(hours=hours, minutes=minutes)


def _timedelta_ms(delta: dt.timedelta) -> int:
    # floor division keeps pre-1970 instants on the right millisecond
    return (delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds) // 1000


def epoch_number_ms(number: float) -> int | None:
    """Epoch seconds, ms, us or ns (by magnitude) as integer milliseconds."""
    if not math.isfinite(number) or abs(number) >= 1e21:
        return None  # beyond any epoch in years 1..9999 (and beyond float range for huge ints)
    size = abs(number)
    if size < 1e11:
        return math.floor(number * 1000)
    if size < 1e14:
        return math.floor(number)
    if size < 1e17:
        return math.floor(number / 1000)
    return math.floor(number / 1_000_000)


def to_datetime(value: Any) -> Cell | Coerced:
    """DATETIME/DATE cells from ISO strings, numeric epochs (also as strings) and Python dates."""
    if value is None:
        return None
    epoch: int | None
    if isinstance(value, bool):
        epoch = None
    elif isinstance(value, (int, float)):
        epoch = epoch_number_ms(value)
    elif isinstance(value, str):
        if not value.strip():
            return None
        epoch = parse_iso_epoch_ms(value)
        if epoch is None:
            number = _parse_number_text(value)
            epoch = epoch_number_ms(number) if number is not None else None
    elif isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=_UTC)
        epoch = _timedelta_ms(moment - _EPOCH)
    elif isinstance(value, dt.date):
        epoch = _timedelta_ms(dt.datetime(value.year, value.month, value.day, tzinfo=_UTC) - _EPOCH)
    else:
        epoch = None
    if epoch is None:
        return Coerced(None)
    return datetime_cell(epoch)


# --- text and any


def to_text(value: Any) -> Cell | Coerced:
    """STRING/JSON cells: always text, so the column never flips type in Dust."""
    if type(value) is str:
        return clean_text(value)
    if value is None:
        return None
    if type(value) is dict or type(value) is list:  # nested objects: common, and the last case below
        return json_text(value)
    return scalar_text(value)


def to_any(value: Any) -> Cell | Coerced:
    """Undeclared columns: the natural cell for each JSON value."""
    if type(value) is dict or type(value) is list:  # nested objects: common, and scalar_text's last case
        return json_text(value)
    if value is None or isinstance(value, (bool, str)):
        return clean_text(value) if isinstance(value, str) else value
    if isinstance(value, int):
        return _safe_int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else Coerced(_non_finite_text(value))
    return scalar_text(value)


# Values of these types are their own cell in a column of the Kind, with two exceptions that the hot path
# (`TableMapper.encode`) detects on the encoded row instead of testing every value: a string with a NUL or a
# lone surrogate (orjson escapes the first as \u0000 and refuses the second) and an integer beyond 2^53
# (refused under orjson's 53-bit option). Floats are not listed: orjson writes NaN as null without a word.
PASSTHROUGH: dict[Kind, frozenset[type]] = {
    Kind.INTEGER: frozenset({int, type(None)}),
    Kind.NUMBER: frozenset({int, type(None)}),
    Kind.BOOLEAN: frozenset({bool, type(None)}),
    Kind.DATETIME: frozenset({type(None)}),
    Kind.DATE: frozenset({type(None)}),
    Kind.STRING: frozenset({str, type(None)}),
    Kind.JSON: frozenset({str, type(None)}),
    Kind.ANY: frozenset({str, int, bool, type(None)}),
}


def converter_for(kind: Kind) -> Converter:
    """The converter a column of this Kind uses for every value (picked once per column, not per cell)."""
    if kind is Kind.INTEGER:
        return lambda value: to_number(value, integral=True)
    if kind is Kind.NUMBER:
        return lambda value: to_number(value, integral=False)
    if kind is Kind.BOOLEAN:
        return to_boolean
    if kind in (Kind.DATETIME, Kind.DATE):
        return to_datetime
    if kind in (Kind.STRING, Kind.JSON):
        return to_text
    return to_any


def is_valid_cell(cell: Any) -> bool:
    """What Dust's rows endpoint and core accept (used by tests and as a last line of defence)."""
    if cell is None or isinstance(cell, (str, bool)):
        return not isinstance(cell, str) or not _BAD_CHARS.search(cell)
    if isinstance(cell, int):
        return -MAX_SAFE_INTEGER <= cell <= MAX_SAFE_INTEGER
    if isinstance(cell, float):
        return math.isfinite(cell)
    if isinstance(cell, dict):
        epoch = cell.get("epoch")
        return (
            set(cell) == {"type", "epoch"}
            and cell.get("type") == "datetime"
            and isinstance(epoch, int)
            and not isinstance(epoch, bool)
            and _MIN_EPOCH_MS <= epoch <= _MAX_EPOCH_MS
            and (epoch >= 0 or epoch % 1000 == 0)
        )
    return False
