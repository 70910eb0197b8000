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

Datetime cells: integer epoch milliseconds (Dust rejects fractional ones) of a value read as timestamps.py
says; a negative epoch is floored to a whole second because Dust's core cannot render negative epochs with a
millisecond part. Text loses NUL characters and lone surrogates (text.py says why they are dropped here).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from destination_dust.text import clean_text, json_text, non_finite_text, number_in_text, scalar_text
from destination_dust.timestamps import MAX_EPOCH_MS, MIN_EPOCH_MS, epoch_ms

DatetimeCell = dict[str, str | int]
Cell = str | int | float | bool | None | DatetimeCell

MAX_SAFE_INTEGER = 2**53  # beyond this a JSON number no longer survives Dust's JavaScript front intact
NUL_ESCAPE = (
    b"\\u0000"  # how orjson and msgspec write a NUL: an encoded row holding it needs its cells cleaned
)


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


# --- numbers


def _safe_int(value: int) -> Cell | Coerced:
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    return Coerced(str(value))  # keep every digit: an id must not be rounded


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
        parsed = number_in_text(value)
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


def datetime_cell(epoch: int) -> DatetimeCell | Coerced:
    """A Dust datetime cell, or null (counted) when the instant is outside years 1..9999."""
    if not MIN_EPOCH_MS <= epoch <= MAX_EPOCH_MS:
        return Coerced(None)
    if epoch < 0:
        epoch = (epoch // 1000) * 1000  # Dust core cannot render a negative epoch with a ms part
    return {"type": "datetime", "epoch": epoch}


def to_datetime(value: Any) -> Cell | Coerced:
    """DATETIME/DATE cells from ISO strings, numeric epochs (also as strings) and Python dates."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    epoch = epoch_ms(value)
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
        return value if math.isfinite(value) else Coerced(non_finite_text(value))
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
