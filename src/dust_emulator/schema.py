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
from collections.abc import Iterable
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


def datetime_text(epoch_ms: Any) -> str:
    """Render a datetime cell like core, or raise ``InvalidCell`` (core then fails the upsert)."""
    if isinstance(epoch_ms, bool) or not isinstance(epoch_ms, int):
        raise InvalidCell("datetime epoch must be an integer number of milliseconds")
    seconds, millis = divmod(epoch_ms, 1000)
    try:
        moment = _EPOCH + dt.timedelta(seconds=seconds, milliseconds=millis)
    except OverflowError as exc:
        raise InvalidCell("datetime epoch out of range") from exc
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _type_and_text(value: Any) -> tuple[str, str]:
    if value is True:
        return "bool", "TRUE"
    if value is False:
        return "bool", "FALSE"
    if isinstance(value, int):
        return "int", rust_number_text(value)
    if isinstance(value, float):
        return "float", rust_number_text(value)
    if isinstance(value, str):
        return "text", f'"{value}"'
    if isinstance(value, dict):
        return "datetime", datetime_text(value.get("epoch"))
    raise InvalidCell(f"unsupported cell value {type(value).__name__}")


def _widen(current: str, incoming: str) -> str:
    if current == incoming:
        return current
    if {current, incoming} == {"int", "float"}:
        return "float"
    return "text"


def from_values(rows: Iterable[dict[str, Any]]) -> list[Column]:
    """Core's ``TableSchema::from_rows`` over row values."""
    columns: dict[str, Column] = {}
    for value in rows:
        for key, cell in value.items():
            if cell is None:
                continue
            value_type, text = _type_and_text(cell)
            column = columns.get(key)
            if column is None:
                column = {"name": key, "value_type": value_type, "possible_values": []}
                columns[key] = column
            else:
                column["value_type"] = _widen(column["value_type"], value_type)
            _accumulate(column, text)
    return list(columns.values())


def _accumulate(column: Column, text: str) -> None:
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
            column["value_type"] = _widen(our["value_type"], theirs["value_type"])
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


def next_schema(cached: list[Column] | None, batch: list[dict[str, Any]], truncate: bool) -> list[Column]:
    """The schema core caches after a rows upsert."""
    batch_schema = from_values(batch)
    if truncate or cached is None:
        return batch_schema
    return merge(cached, batch_schema)
