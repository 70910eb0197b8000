"""Tables mode's fast path: a record's data, as it came on its line, decoded by msgspec into a struct typed by
the shapes its stream has shown so far, and encoded into its row, with no dict in between. `row_encoder`
builds it and falls back to the reference (`TableMapper.encode`) for any record it declines.

The struct comes from the record shapes the reference has planned (`TableMapper.typed_fields`):
- one struct field per field of any plan, in order of first appearance, typed by the union of the JSON types
  seen in it (plus "missing"), so msgspec checks in C what the reference checks with a tuple per record;
- unknown fields are refused, integers are bounded to ±2^53, and every field with a type its column does not
  take as it is (an object in a text column, a float) is converted per record with the column's converter.

Anything else is declined (None): a new field or type, an integer beyond 2^53, a NUL in a string (msgspec
escapes it as \\u0000), a lone surrogate or invalid UTF-8 (msgspec refuses them), a key that is not plain, a
CDC deletion, a row too long for one request.

The row is the same JSON value as the reference's. The bytes can differ in two ways that no JSON reader sees:
fields come in the struct's order (the first shape's order; a record with the same fields in another order is
reordered), and msgspec spells some float exponents without a "+" (`1e16` where orjson writes `1e+16`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union

import msgspec

from destination_dust.cells import MAX_SAFE_INTEGER, NUL_ESCAPE, Coerced, Converter
from destination_dust.ids import plain_key_part
from destination_dust.protocol import DECODE_ERRORS

_NONE = type(None)
_SAFE_INT = Annotated[int, msgspec.Meta(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
# the struct type of each JSON type a decoded value can have; a float field also takes integers as they are
# (a `float` field alone would turn 5 into 5.0)
_FIELD_TYPES: dict[type, tuple[Any, ...]] = {
    str: (str,),
    int: (_SAFE_INT,),
    float: (_SAFE_INT, float),
    bool: (bool,),
    _NONE: (None,),
    dict: (dict[str, Any],),
    list: (list[Any],),
}


@dataclass(frozen=True)
class TypedField:
    """One field of the struct: what the stream's plans showed for it and what its column does with it."""

    field: str  # the record's field name
    column: str  # the Dust column
    types: frozenset[type]  # the JSON types seen in it
    convert: Converter  # the column's converter, for the types it does not take as they are
    passthrough: frozenset[type]  # the types the column takes as they are (cells.PASSTHROUGH)


class _Row(msgspec.Struct):
    """A row as the rows endpoint takes it."""

    row_id: str
    value: Any


class TypedRows:
    """Decodes one stream's records into rows, from the fields `TableMapper.typed_fields` gives (see the
    module docstring); `row_encoder.RowEncoder` builds it and falls back to the mapper when it declines."""

    def __init__(
        self,
        fields: Sequence[TypedField],
        key_field: str,
        deleted_field: str,
        max_row_bytes: int,
        count_coerced: Callable[[list[str]], None],
    ) -> None:
        attrs = [f"f{index}" for index in range(len(fields))]  # struct attributes: any field name is allowed
        by_field = {typed.field: attr for typed, attr in zip(fields, attrs, strict=True)}
        record = msgspec.defstruct(
            "Record",
            [(attr, _union(typed.types), msgspec.UNSET) for typed, attr in zip(fields, attrs, strict=True)],
            rename={attr: typed.field for typed, attr in zip(fields, attrs, strict=True)},
            forbid_unknown_fields=True,
        )
        self._decode = msgspec.json.Decoder(record).decode
        renamed = any(typed.column != typed.field for typed in fields)
        # a second struct with the column names when any differs (the record struct decodes the field names)
        self._value: Any = (
            msgspec.defstruct(
                "Value",
                [(attr, Any, msgspec.UNSET) for attr in attrs],
                rename={attr: typed.column for typed, attr in zip(fields, attrs, strict=True)},
            )
            if renamed
            else None
        )
        self._key = operator.attrgetter(by_field[key_field])
        self._deleted = operator.attrgetter(by_field[deleted_field]) if deleted_field in by_field else None
        # the fields that may hold a value their column converts: (attribute, converter, types taken as they are)
        self._converts = [
            (attr, typed.convert, typed.passthrough | {msgspec.UnsetType}, typed.column)
            for typed, attr in zip(fields, attrs, strict=True)
            if not typed.types <= typed.passthrough
        ]
        self._max_row_bytes = max_row_bytes
        self._count_coerced = count_coerced
        self._encode = msgspec.json.Encoder().encode

    def encode(self, raw: bytes | msgspec.Raw) -> tuple[str, bytes] | None:
        """The row id and row bytes of a record's data; None when it must take the reference (nothing counted
        then). The bytes are exact-size (msgspec shrinks its buffer, unlike orjson: see tables.encode_row)."""
        try:
            record = self._decode(raw)
        except DECODE_ERRORS:
            return None
        row_id = plain_key_part(self._key(record))
        if row_id is None or (self._deleted is not None and self._deleted(record)):
            return None
        value = record if self._value is None else self._value(*msgspec.structs.astuple(record))
        coerced: list[str] = []
        for attr, convert, passthrough, column in self._converts:
            cell = getattr(value, attr)
            if type(cell) not in passthrough:
                cell = convert(cell)
                if type(cell) is Coerced:
                    coerced.append(column)
                    cell = cell.value
                setattr(value, attr, cell)
        try:
            encoded = self._encode(_Row(row_id, value))
        # never seen (converters give cells): the reference copes
        except (TypeError, ValueError, OverflowError):
            return None
        # a NUL to drop (or a text spelling \u0000), or a row to shrink (fit_row): the reference decides
        if NUL_ESCAPE in encoded or len(encoded) > self._max_row_bytes:
            return None
        if coerced:  # counted only now: a record handed to the reference is counted there
            self._count_coerced(coerced)
        return row_id, encoded


def _union(types: frozenset[type]) -> Any:
    members: dict[Any, None] = {}
    for kind in sorted(types, key=lambda t: t.__name__):  # a stable order: the same plans, the same struct
        members.update(dict.fromkeys(_FIELD_TYPES[kind]))
    args = (*members, msgspec.UnsetType)
    return Union[args]  # noqa: UP007 - built at run time from a tuple


def typeable(types: frozenset[type]) -> bool:
    """Can a struct field hold these types (the JSON ones)?"""
    return all(kind in _FIELD_TYPES for kind in types)


def nameable(field: str) -> bool:
    """Can msgspec decode a field of this name? It refuses backslashes, quotes and control characters."""
    return not any(char in '\\"' or char < " " for char in field)
