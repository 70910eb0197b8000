"""The rows upsert body, validated, normalised and typed column by column (the hot path).

``validation.rows_body`` (zod's checks, row by row) and ``schema.from_values`` (core's inference)
are the reference; they do Python work per cell. This module handles the usual batch in bulk
instead: every row a ``{row_id: str, value: dict}``, every value with the same keys in the same
order. The batch is transposed into columns once (``zip(*values)``), and each column is checked with
operations that loop in C (``map``, ``set``, ``min``/``max``, ``dict.fromkeys``) instead of a Python
loop per cell.

Anything else (a body to refuse, rows with different keys, an integer-like key, a cell that zod
would reshape in an unusual way) makes ``parse`` use the reference path, so every answer (status,
error text, stored values, schema) stays the reference's by construction; the fast path only has
to agree with the reference on the batches it accepts. ``tests/emulator/test_logic.py`` checks
that on random batches.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import schema, validation
from .errors import InvalidCell
from .jsvalues import js_number
from .schema import Column

_SAFE_INT = 2**53  # JSON.parse keeps integers exactly up to here
_NONE = type(None)
_CELL_KINDS = frozenset({str, bool, _NONE, int, float, dict})
_row_id = operator.itemgetter("row_id")
_value = operator.itemgetter("value")
_not_none = functools.partial(operator.is_not, None)
_is_none = functools.partial(operator.is_, None)
_PEEK = 64  # cells read first when settling possible_values


@dataclass
class RowsBatch:
    row_ids: list[str]
    values: list[dict[str, Any]]  # as core receives them (numbers and datetimes normalised)
    truncate: bool
    infer: Callable[[], list[Column]]  # the batch's schema; raises InvalidCell like core's from_rows


class _Unusual(Exception):
    """The fast path does not handle this batch; the reference path will."""


@dataclass
class _Cells:
    """One column of a batch, checked and normalised."""

    key: str
    kinds: set[type]  # of the non-null cells
    present: Sequence[Any]  # the non-null cells, in row order
    first: int  # index of the first row with a non-null cell (core creates the column there)
    epochs: list[int] | None = None  # datetime columns: every cell's epoch
    changes: dict[int, Any] | None = None  # normalised cells by row index, to write in the values


def parse(raw: Any) -> RowsBatch:
    """The validated rows body (``DustApiError`` 400 like ``validation.rows_body``).

    On the fast path the request's value dicts are returned, normalised in place (the parsed body
    belongs to this request and is not read again).
    """
    try:
        return _parse_uniform(raw)
    except _Unusual:
        pass
    rows, truncate = validation.rows_body(raw)
    values = [value for _, value in rows]
    return RowsBatch([row_id for row_id, _ in rows], values, truncate, lambda: schema.from_values(values))


# ---- validation and normalisation ---------------------------------------------------------------


def _parse_uniform(raw: Any) -> RowsBatch:
    if type(raw) is not dict:
        raise _Unusual
    truncate = raw.get("truncate", False)
    rows = raw.get("rows")
    if type(truncate) is not bool or type(rows) is not list or not rows:
        raise _Unusual
    if set(map(type, rows)) != {dict}:
        raise _Unusual
    try:
        row_ids = list(map(_row_id, rows))
        values = list(map(_value, rows))
    except KeyError:
        raise _Unusual from None
    if set(map(type, row_ids)) != {str} or set(map(type, values)) != {dict}:
        raise _Unusual
    keys = list(values[0])
    # Same number of keys and every key of the first row found in each row: the same key set.
    if not keys or set(map(len, values)) != {len(keys)}:
        raise _Unusual
    # Bad keys are a 400 and integer-like keys reorder the values (js_key_order): reference path.
    if not all(validation.ROW_KEY.match(key) and not key.isdigit() for key in keys):
        raise _Unusual
    try:
        columns = [_column_cells(key, values) for key in keys]
    except KeyError:
        raise _Unusual from None
    checked = [column for column in columns if column is not None]
    # Written only once the whole batch passed: a batch left to the reference path stays as sent.
    for column in checked:
        for index, cell in (column.changes or {}).items():
            values[index][column.key] = cell
    return RowsBatch(row_ids, values, truncate, lambda: _infer(values, checked))


def _column_cells(key: str, values: list[dict[str, Any]]) -> _Cells | None:
    """Check one column like zod (``validation._clean_value``) and normalise its cells in the
    values; ``None`` when it holds only nulls (core never creates such a column)."""
    cells = list(map(operator.itemgetter(key), values))
    kinds = set(map(type, cells))
    if not kinds <= _CELL_KINDS:
        raise _Unusual  # an array (or another object): the reference reports "Invalid input"
    present: Sequence[Any] = cells
    first = 0
    if _NONE in kinds:
        kinds.discard(_NONE)
        if not kinds:
            return None
        present = list(filter(_not_none, cells))
        first = len(list(itertools.takewhile(_is_none, cells)))
    if dict in kinds:
        if kinds != {dict}:
            raise _Unusual
        return _Cells(key, kinds, present, first, _datetime_epochs(present))
    if float in kinds and (kinds != {float} or any(map(float.is_integer, present))):
        # Integral floats arrive at core as integers (JSON.parse, then serde's is_i64).
        return _normalise_numbers(key, cells, first)
    if int in kinds:
        ints = present if kinds == {int} else [cell for cell in present if type(cell) is int]
        if not (min(ints) >= -_SAFE_INT and max(ints) <= _SAFE_INT):
            return _normalise_numbers(key, cells, first)  # JSON.parse rounds them
    return _Cells(key, kinds, present, first)


def _datetime_epochs(cells: Sequence[dict[str, Any]]) -> list[int]:
    """The epochs, when every cell is exactly ``{"type": "datetime", "epoch": <int within 2^53>}``
    (what zod passes on unchanged); anything else takes the reference path."""
    if set(map(len, cells)) != {2}:
        raise _Unusual
    types = list(map(operator.itemgetter("type"), cells))
    if types.count("datetime") != len(types):  # count compares with ==: no hashing of odd values
        raise _Unusual
    epochs = list(map(operator.itemgetter("epoch"), cells))
    if set(map(type, epochs)) != {int} or not (min(epochs) >= -_SAFE_INT and max(epochs) <= _SAFE_INT):
        raise _Unusual
    return epochs


def _normalise_numbers(key: str, cells: list[Any], first: int) -> _Cells:
    """The numbers a JS double changes, replaced by what core receives (``js_number``)."""
    changes: dict[int, Any] = {}
    for index, cell in enumerate(cells):
        kind = type(cell)
        if (kind is int and not -_SAFE_INT <= cell <= _SAFE_INT) or (kind is float and cell.is_integer()):
            changes[index] = cells[index] = js_number(cell)
    present = list(filter(_not_none, cells))
    return _Cells(key, set(map(type, present)), present, first, changes=changes)


# ---- schema inference ---------------------------------------------------------------------------


def _infer(values: list[dict[str, Any]], columns: list[_Cells]) -> list[Column]:
    """``schema.from_values`` over the batch, one column at a time.

    Core creates a column at its first non-null cell, reading row by row and each row key by key:
    columns come in the order of (first non-null row, key position in that row).
    """
    order = {}
    for column in columns:
        order[column.key] = (column.first, list(values[column.first]).index(column.key))
    return [_infer_column(column) for column in sorted(columns, key=lambda column: order[column.key])]


def _infer_column(cells: _Cells) -> Column:
    kinds, present = cells.kinds, cells.present
    type_names = [schema.TYPE_NAMES[kind] for kind in kinds]
    value_type = type_names[0]
    for other in type_names[1:]:
        value_type = schema.widen(value_type, other)
    column: Column = {"name": cells.key, "value_type": value_type, "possible_values": []}
    if cells.epochs is not None:
        epochs = cells.epochs
        if not min(epochs) >= schema.MIN_EPOCH_MS or not max(epochs) <= schema.MAX_EPOCH_MS:
            raise InvalidCell("datetime epoch must be an integer number of milliseconds")
    if len(kinds) > 1:
        # True == 1 would merge distinct values in a dict: go cell by cell, like core.
        for cell in present:
            schema.accumulate(column, schema.render(cell, schema.TYPE_NAMES[type(cell)]))
            if column["possible_values"] is None:
                break
        return column
    # One kind: distinct values render to distinct texts (datetimes: distinct seconds), in
    # first-seen order. Past 16 of them core gives up whatever their length, so a column of
    # mostly distinct values is settled from its first cells.
    keys: Sequence[Any] = present
    if cells.epochs is not None:
        keys = list(map(operator.floordiv, cells.epochs, itertools.repeat(1000)))
    distinct = dict.fromkeys(keys[:_PEEK])
    if len(distinct) <= schema.POSSIBLE_VALUES_MAX_COUNT:
        distinct = dict.fromkeys(keys)
        if len(distinct) <= schema.POSSIBLE_VALUES_MAX_COUNT:
            texts = (
                (schema.datetime_text(second * 1000) for second in distinct)
                if cells.epochs is not None
                else (schema.render(cell, value_type) for cell in distinct)
            )
            for text in texts:
                schema.accumulate(column, text)
                if column["possible_values"] is None:
                    break
            return column
    column["possible_values"] = None
    return column
