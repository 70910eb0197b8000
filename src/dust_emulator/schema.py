"""Table schema inference, as Dust core does it (``core/src/databases/table_schema.rs``).

* A column's type comes from its values: bool, int (i64), float, text, datetime; nulls are
  skipped (a column that is only ever null does not exist).
* Within a batch and when merging: int + float -> float, any other mix -> text.
* ``possible_values`` are kept while a column has at most 16 distinct rendered values of at most
  32 bytes each (strings quoted, bools TRUE/FALSE, numbers as serde prints them, datetimes as
  ``%Y-%m-%d %H:%M:%S``); otherwise null.
* ``truncate:false`` upserts merge the cached schema with the batch's schema (core's ``merge``,
  including its quirk of treating a given-up ``possible_values`` as empty); ``truncate:true``
  rebuilds it from the batch alone. The public API returns this cached schema.

Columns keep first-seen order (core's serde_json is built with ``preserve_order``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

from .errors import InvalidCell
from .jsvalues import rust_number_text

POSSIBLE_VALUES_MAX_LEN = 32
POSSIBLE_VALUES_MAX_COUNT = 16
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class Column(TypedDict):
    name: str
    value_type: str
    possible_values: list[str] | None


# Python's datetime covers years 1..9999; core (chrono) covers more, but an epoch outside this range
# is far beyond anything a real sync sends, so the emulator refuses it like an invalid date.
MIN_EPOCH_MS = -62135596800000
MAX_EPOCH_MS = 253402300799999


def check_epoch(epoch_ms: Any) -> int:
    """Core accepts a datetime cell only with an integer (i64) epoch; anything else fails the upsert."""
    if type(epoch_ms) is not int or not MIN_EPOCH_MS <= epoch_ms <= MAX_EPOCH_MS:
        raise InvalidCell("datetime epoch must be an integer number of milliseconds")
    return epoch_ms


def datetime_text(epoch_ms: Any) -> str:
    seconds, millis = divmod(check_epoch(epoch_ms), 1000)
    return (_EPOCH + dt.timedelta(seconds=seconds, milliseconds=millis)).strftime("%Y-%m-%d %H:%M:%S")


TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "text", dict: "datetime"}


def render(value: Any, value_type: str) -> str:
    """How core renders a value in ``possible_values``."""
    if value_type == "bool":
        return "TRUE" if value else "FALSE"
    if value_type == "text":
        return f'"{value}"'
    if value_type == "datetime":
        return datetime_text(value.get("epoch"))
    return rust_number_text(value)


def widen(current: str, incoming: str) -> str:
    if current == incoming:
        return current
    if {current, incoming} == {"int", "float"}:
        return "float"
    return "text"


def from_values(rows: Sequence[dict[str, Any]]) -> list[Column]:
    """Core's ``TableSchema::from_rows`` over row values.

    This is the hot path of row upserts, so it avoids per-cell Python work where it can:

    * types come from row *shapes*: rows of a batch nearly always share their keys and cell
      types, and widening does not depend on order, so each distinct (keys, types) shape is typed
      once (columns keep first-seen order);
    * ``possible_values`` are then collected column by column. Columns are independent and core
      accumulates a column's values in row order, so the distinct values in first-seen order
      (``dict.fromkeys``) give the same list; a column mixing kinds (where ``True == 1`` would
      merge keys) takes the cell-by-cell path.

    Every datetime cell's epoch is checked, since one bad epoch fails the whole upsert in core.
    """
    columns: dict[str, Column] = {}
    kinds_by_column: dict[str, set[type]] = {}
    seen_shapes: set[tuple[tuple[str, ...], tuple[type, ...]]] = set()
    for value in rows:
        shape = (tuple(value), tuple(map(type, value.values())))
        if shape in seen_shapes:
            continue
        seen_shapes.add(shape)
        for key, kind in zip(*shape, strict=True):
            if kind is type(None):
                continue
            value_type = TYPE_NAMES.get(kind)
            if value_type is None:
                raise InvalidCell(f"unsupported cell value {kind.__name__}")
            column = columns.get(key)
            if column is None:
                columns[key] = {"name": key, "value_type": value_type, "possible_values": []}
                kinds_by_column[key] = {kind}
            else:
                kinds_by_column[key].add(kind)
                if column["value_type"] != value_type:
                    column["value_type"] = widen(column["value_type"], value_type)

    for key, column in columns.items():
        kinds = kinds_by_column[key]
        cells = [value.get(key) for value in rows]
        if dict in kinds:
            for cell in cells:
                if type(cell) is dict:
                    check_epoch(cell.get("epoch"))
        if len(kinds) == 1:
            (kind,) = kinds
            value_type = TYPE_NAMES[kind]
            if kind is dict:
                distinct: Iterable[Any] = dict.fromkeys(
                    c["epoch"] // 1000 for c in cells if c is not None
                )  # one rendered value per second
                texts = (render({"epoch": second * 1000}, value_type) for second in distinct)
            else:
                distinct = dict.fromkeys(c for c in cells if c is not None)
                texts = (render(cell, value_type) for cell in distinct)
            for text in texts:
                accumulate(column, text)
                if column["possible_values"] is None:
                    break
        else:
            for cell in cells:
                if cell is None:
                    continue
                accumulate(column, render(cell, TYPE_NAMES[type(cell)]))
                if column["possible_values"] is None:
                    break
    return list(columns.values())


def accumulate(column: Column, text: str) -> None:
    possible = column["possible_values"]
    if possible is None:
        return
    if len(text.encode()) > POSSIBLE_VALUES_MAX_LEN:
        column["possible_values"] = None
        return
    if text not in possible:
        possible.append(text)
    if len(possible) > POSSIBLE_VALUES_MAX_COUNT:
        column["possible_values"] = None


def merge(ours: list[Column], other: list[Column]) -> list[Column]:
    """Core's ``TableSchema::merge``: our columns (widened) then the other's new columns."""
    other_by_name = {column["name"]: column for column in other}
    merged: list[Column] = []
    for our in ours:
        column: Column = {
            "name": our["name"],
            "value_type": our["value_type"],
            "possible_values": our["possible_values"],
        }
        theirs = other_by_name.get(our["name"])
        if theirs is not None:
            column["value_type"] = widen(our["value_type"], theirs["value_type"])
            column["possible_values"] = _merge_possible_values(
                our["possible_values"] or [], theirs["possible_values"] or []
            )
        merged.append(column)
    known = {column["name"] for column in ours}
    merged.extend(dict(column) for column in other if column["name"] not in known)  # type: ignore[misc]
    return merged


def _merge_possible_values(left: list[str], right: list[str]) -> list[str] | None:
    unique: list[str] = []
    for value in [*left, *right]:
        if value not in unique:
            unique.append(value)
    for index, value in enumerate(unique):
        if len(value.encode()) > POSSIBLE_VALUES_MAX_LEN or index >= POSSIBLE_VALUES_MAX_COUNT:
            return None
    return unique or None


def next_schema(cached: list[Column] | None, batch_schema: list[Column], truncate: bool) -> list[Column]:
    """The schema core caches after a rows upsert, from the batch's own (``from_values``)."""
    if truncate or cached is None:
        return batch_schema
    return merge(cached, batch_schema)
