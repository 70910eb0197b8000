"""Tables mode: one Dust table per stream, one row per record. Pure code: the sink does the HTTP.

- Each stream's table name and table_id come from `table_names` (names that last across syncs).
- `TableMapper` turns records into rows (`to_row`) and describes the table for the agent (`table_body`).
  Columns come from the catalog's JSON schema first (order and types), then from fields found in the data,
  appended in order of first appearance. A field already named like a Dust column keeps its name; others
  are slugified (`FirstName` -> `first_name`, rules in slug.py), except that a table which already has the
  column version 0.1 made for a field (`address_2` for `address2`) keeps writing it there. Names are made
  unique with `_2`, `_3`: catalog fields before fields found in the data, and among catalog fields one
  already named like its slug first (`phone` keeps `phone`, `Phone #` becomes `phone_2`). Dust takes at
  most 512 columns: past 511, fields are folded into one JSON text column, `_airbyte_extra`, keyed by field
  name. Cells follow the column's declared type (see `cells` for the coercion policy).
- `encode_row` / `fit_row`: a row's bytes on the wire, and a row shrunk (longest text cut, with a marker)
  until it fits one request. The sink (`sinks.TableSink`) batches them by rows and bytes.

Row ids come from `ids.row_id`: the escaped primary key, or without a key a hash of the record's content.
So in a stream without a primary key, identical records get the same row id and become **one row** (resending
a record is idempotent, but true duplicates are not counted twice), and a record that changes becomes a new
row next to the old one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from destination_dust.catalog import StreamConfig, get_path
from destination_dust.cells import (
    NUL_ESCAPE,
    PASSTHROUGH,
    Cell,
    Coerced,
    Converter,
    Kind,
    converter_for,
    kind_of,
    to_any,
    to_text,
)
from destination_dust.config import DustConfig
from destination_dust.ids import plain_key_part
from destination_dust.ids import row_id as make_row_id
from destination_dust.notices import StreamNotices, first_few
from destination_dust.slug import NameRegistry, legacy_slugify, resolve_collisions, slugify
from destination_dust.table_names import TableName
from destination_dust.table_names import (
    table_id_for as table_id_for,
)  # re-exported: tests and tools import it here
from destination_dust.tags import stream_tags
from destination_dust.text import json_text, lone_surrogate_fields, plain_json_text
from destination_dust.typed_rows import TypedField, nameable, typeable

MAX_COLUMNS = 512  # Dust core's MAX_TABLE_COLUMNS
EXTRA_COLUMN = "_airbyte_extra"
MAX_DESCRIPTION_CHARS = 4000  # the description is in every prompt that uses the table: keep it short
_FIELD_NOTE_CHARS = 120
_RENAMES_LISTED = 40  # renames named in the log line; the description lists them all
TRUNCATION_MARKER = " …[truncated by Airbyte: {} more characters]"
_MIN_CUTTABLE_CHARS = 2 * len(TRUNCATION_MARKER)


# --- rows -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    row_id: str
    value: dict[str, Cell]


@dataclass(frozen=True)
class Column:
    name: str  # the Dust column (a slug)
    field: str  # the record's field name
    kind: Kind
    label: str  # the type as the description shows it ("integer", "date-time", "JSON text", ...)
    note: str | None = None  # the JSON schema's description of the field, cut short


# a record shape's plan: the column names in field order (None: the field names themselves), and the
# (column, converter) of the fields whose value is not already its cell
_ShapePlan = tuple[tuple[str, ...] | None, tuple[tuple[str, Converter], ...]]
_MAX_SHAPE_PLANS = 256
_NESTED = (dict, list)
_TEXT_CONVERTERS = (to_text, to_any)  # what STRING/JSON and ANY columns use: both give json_text for _NESTED


class TableMapper:
    """Maps one stream's records to rows of its table and describes that table. Not thread-safe: one sink
    calls it. Columns only ever grow; `revision` counts them so the sink knows when to re-upsert the table
    (the description lists the columns)."""

    def __init__(self, stream: StreamConfig, config: DustConfig, table: TableName) -> None:
        self.stream = stream
        self.config = config
        self.table = table
        self.coercions: Counter[str] = Counter()  # column -> values sent as null or text against their type
        self._columns: dict[str, Column] = {}  # by field name
        # field -> (column name, converter, types whose value is already the cell: see cells.PASSTHROUGH)
        self._slots: dict[str, tuple[str, Converter, frozenset[type]]] = {}
        self._folded: dict[str, None] = {}  # fields beyond the column limit, in order of appearance
        # (*field names, *value types) of a record -> what `_cells` would do with it (see `_shape_plan`)
        self._plans: dict[tuple[Any, ...], _ShapePlan] = {}
        self._names = NameRegistry(reserved=[EXTRA_COLUMN])
        self.notices = StreamNotices(stream.key)  # text a row lost (cut to fit, or not encodable)
        self._notes: list[str] = []
        # (field, column) of the fields found in the data since the last notes
        self._new_columns: list[tuple[str, str]] = []
        self._description: tuple[int, str] | None = None
        key = stream.primary_key
        self._key_field = key[0][0] if len(key) == 1 and len(key[0]) == 1 else None  # a one-field key
        self._add_catalog_columns()

    # columns

    @property
    def columns(self) -> list[Column]:
        return list(self._columns.values())

    @property
    def revision(self) -> int:
        """Grows whenever a column (or a folded field) is added: re-upsert the table when it changed."""
        return len(self._columns) + len(self._folded)

    def pop_notes(self) -> list[str]:
        """Renames and warnings since the last call, for the sink to log once (fields found in the data: one
        line with their count and the first few)."""
        notes, self._notes = self._notes, []
        if self._new_columns:
            found, self._new_columns = self._new_columns, []
            listed = first_few([repr(f) if f == name else f"{f!r} -> {name}" for f, name in found])
            count = f"{len(found)} new fields" if len(found) > 1 else "a new field"
            notes.append(f"stream {self.stream.key}: {count} found in the data: {listed}")
        return notes

    def _column_slug(self, field: str) -> str:
        """The column a field wants: its slug, or the column version 0.1 made for it when the existing table
        has that one (the field's earlier values are there: a new column would split them)."""
        name = slugify(field)
        existing = self.table.columns
        if existing and name not in existing:
            old = legacy_slugify(field)
            if old in existing:
                return old
        return name

    def _add_catalog_columns(self) -> None:
        properties = self.stream.properties or {}
        fields = [str(field) for field in properties]
        wanted = [self._column_slug(field) for field in fields]
        # A field already named like its slug keeps it (`phone` beats `Phone #`); otherwise schema order.
        # Resolving them all at once also keeps a suffix from taking a name that comes later (`a_2`).
        order = sorted(range(len(fields)), key=lambda i: wanted[i] != fields[i])
        resolved = resolve_collisions([wanted[i] for i in order], reserved=[EXTRA_COLUMN])
        names = dict(zip(order, resolved, strict=True))
        renames = []
        for index, (field, schema) in enumerate(properties.items()):
            name = self._add_column(str(field), names[index], schema, from_catalog=True)
            if name is not None and name != field:
                renames.append(f"{field!r} -> {name}")
        if renames:  # one line for the whole schema: a wide stream must not flood the log
            listed = first_few(renames, _RENAMES_LISTED)
            self._notes.append(f"stream {self.stream.key}: fields renamed to columns: {listed}")

    def _add_column(self, field: str, wanted: str, schema: Any, from_catalog: bool) -> str | None:
        """Make `field` a column and return its name, or fold it (None) when the table is full."""
        if len(self._columns) >= MAX_COLUMNS - 1:  # the last slot is kept for the folded fields
            if not self._folded:
                self._notes.append(
                    f"stream {self.stream.key}: more than {MAX_COLUMNS - 1} fields; field {field!r} and "
                    f"later ones go into the JSON column {EXTRA_COLUMN} (Dust allows {MAX_COLUMNS} columns)"
                )
            self._folded[field] = None
            return None
        name = self._names.claim(wanted)
        kind = kind_of(schema) if from_catalog else Kind.ANY
        self._columns[field] = Column(
            name, field, kind, _type_label(kind, schema, from_catalog), _field_note(schema)
        )
        self._slots[field] = (name, converter_for(kind), PASSTHROUGH[kind])
        return name

    def _slot_for_new_field(self, raw_field: Any) -> tuple[str, Converter, frozenset[type]] | None:
        """The slot of a field not seen yet (it becomes a column), or None when it is folded."""
        field = str(raw_field)
        if field not in self._slots and field not in self._folded:
            name = self._add_column(field, self._column_slug(field), None, from_catalog=False)
            if name is not None:  # folded fields are covered by the one warning (they can be countless)
                self._new_columns.append((field, name))
        return self._slots.get(field)

    # rows

    def row_id(self, data: Mapping[str, Any]) -> str:
        """From the primary key; a content hash without one (or when every key value is missing)."""
        if self._key_field is not None:  # the common case first: one top-level key field, a plain value
            plain = plain_key_part(data.get(self._key_field))
            if plain is not None:
                return plain
        if not self.stream.primary_key:
            return make_row_id(None, data)
        values = [get_path(data, path) for path in self.stream.primary_key]
        if all(value is None for value in values):
            return make_row_id(None, data)
        return make_row_id(values, data)

    def to_row(self, data: Mapping[str, Any]) -> Row:
        """The row of a record, every cell converted (the reference `encode` must agree with)."""
        value, coerced = self._cells(data, exact=True)
        self.count_coerced(coerced)
        return Row(self.row_id(data), value)

    def encode(self, data: dict[str, Any]) -> tuple[str, dict[str, Cell], bytes]:
        """Row id, cells and `encode_row` bytes of a record: what `to_row` + `encode_row` give, faster. Values
        whose type is already their column's cell (cells.PASSTHROUGH) are taken as they are, and the encoded
        row is checked for the rare values that still need converting (a NUL or a lone surrogate in a string,
        an integer beyond 2^53); only then is the row converted cell by cell.

        It runs once per record, so the row id of a plain one-field key and the encoding are written out here
        rather than in helpers."""
        key = self._key_field
        row_id = plain_key_part(data.get(key)) if key is not None else None
        if row_id is None:
            row_id = self.row_id(data)
        value, coerced = self._planned_cells(data)
        try:
            encoded: bytes | None = orjson.dumps(
                {"row_id": row_id, "value": value}, option=orjson.OPT_STRICT_INTEGER
            )
        except orjson.JSONEncodeError:  # a lone surrogate, or an integer beyond 2^53
            encoded = None
        # orjson escapes NUL as \u0000; a text spelling `\u0000` literally also takes the slow path (same result)
        if encoded is None or NUL_ESCAPE in encoded:
            if encoded is None:
                self._report_unencodable(row_id, data)
            value, coerced = self._cells(data, exact=True)
            encoded = encode_row(Row(row_id, value))
        else:
            encoded = memoryview(encoded).tobytes()  # an exact-size copy (see encode_row)
        if coerced:  # rarely: no call for the empty list
            self.count_coerced(coerced)
        return row_id, value, encoded

    def _cells(self, data: Mapping[str, Any], exact: bool) -> tuple[dict[str, Cell], list[str]]:
        """The cells of a record and the columns whose value was coerced (not counted yet)."""
        value: dict[str, Cell] = {}
        coerced: list[str] = []
        extra: dict[str, Any] = {}
        slots = self._slots  # the hot loop: a dict lookup and a type test per field, a call when converting
        for field, raw in data.items():
            slot = slots.get(field) or self._slot_for_new_field(field)
            if slot is None:
                extra[str(field)] = raw
                continue
            name, convert, passthrough = slot
            if not exact and type(raw) in passthrough:
                value[name] = raw
                continue
            cell = convert(raw)
            if isinstance(cell, Coerced):
                coerced.append(name)
                value[name] = cell.value
            else:
                value[name] = cell
        if extra:
            value[EXTRA_COLUMN] = json_text(extra)
        return value, coerced

    def _planned_cells(self, data: dict[str, Any]) -> tuple[dict[str, Cell], list[str]]:
        """`_cells(data, exact=False)`, decided once per record shape instead of field by field. Records of a
        stream nearly always share their field names and value types, so one tuple of the names then the
        types, built and hashed in C, finds a plan: the column names (None when every field is already its
        column's name) and the few fields whose type is not their column's cell (a nested object in a text
        column). The record is never changed: `data` itself is the value only when nothing is renamed or
        converted."""
        shape = (*data, *map(type, data.values()))  # one flat tuple: the names, then the types
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._shape_plan(shape)
            if plan is None:
                return self._cells(data, exact=False)
        names, converts = plan
        if names is not None:
            value = dict(zip(names, data.values(), strict=True))
        elif converts:
            value = dict(data)
        else:
            return data, []
        coerced: list[str] = []
        for name, convert in converts:
            cell = convert(value[name])
            if isinstance(cell, Coerced):
                coerced.append(name)
                cell = cell.value
            value[name] = cell
        return value, coerced

    def _shape_plan(self, shape: tuple[Any, ...]) -> _ShapePlan | None:
        """The plan of a record shape, remembered; None when `_cells` must take it field by field: a field
        with no column yet (`_cells` makes it one, so the next record of the shape gets a plan), a folded
        field, or more shapes than are worth remembering (a stream of sparse records)."""
        fields, types = _split(shape)
        if len(self._plans) >= _MAX_SHAPE_PLANS or any(type(field) is not str for field in fields):
            return None
        names: list[str] = []
        converts: list[tuple[str, Converter]] = []
        for field, kind in zip(fields, types, strict=True):
            slot = self._slots.get(field)
            if slot is None:
                return None
            name, convert, passthrough = slot
            names.append(name)
            if kind not in passthrough:
                converts.append((name, _converter(convert, {kind})))
        plan = (None if names == list(fields) else tuple(names), tuple(converts))
        self._plans[shape] = plan
        return plan

    @property
    def plan_count(self) -> int:
        """How many record shapes have a plan: the typed fast path is worth rebuilding when it grew."""
        return len(self._plans)

    def typed_fields(self) -> list[TypedField] | None:
        """The fields of the typed fast path for records shaped like the planned ones (typed_rows.py). None
        when it cannot serve them: no plan yet, no one-field key, a folded field (more than 511), a value no
        struct can hold."""
        if self._key_field is None or not self._plans or self._folded:
            return None
        seen: dict[str, set[type]] = {}
        for shape in self._plans:
            for field, kind in zip(*_split(shape), strict=True):
                seen.setdefault(field, set()).add(kind)
        if self._key_field not in seen or not all(
            typeable(frozenset(types)) and nameable(field) for field, types in seen.items()
        ):
            return None
        fields = []
        for field, types in seen.items():
            name, convert, passthrough = self._slots[field]
            fields.append(
                TypedField(
                    field, name, frozenset(types), _converter(convert, types - passthrough), passthrough
                )
            )
        return fields

    @property
    def key_field(self) -> str | None:
        """The field of a one-field primary key (None: no key, or a composite or nested one)."""
        return self._key_field

    def count_coerced(self, coerced: list[str]) -> None:
        """Count values sent as null or text against their column's type (`coerced`: their columns)."""
        for name in coerced:
            self.coercions[name] += 1

    # what a row lost (logged through `notices`)

    def describe_field(self, column: str) -> str:
        """`'Field' (column field)` for a log line (the folded fields' column says so)."""
        if column == EXTRA_COLUMN:
            return f"the fields beyond {MAX_COLUMNS - 1} columns (column {EXTRA_COLUMN})"
        field = next((c.field for c in self._columns.values() if c.name == column), column)
        return repr(field) if field == column else f"{field!r} (column {column})"

    def _report_unencodable(self, row_id: str, data: Mapping[str, Any]) -> None:
        fields = lone_surrogate_fields(data)
        if fields:
            listed = first_few([repr(field) for field in fields])
            self.notices.report(
                "rows with text that cannot be encoded",
                f"row {row_id!r}: text that cannot be encoded (a lone UTF-16 surrogate) was removed from "
                f"{'field' if len(fields) == 1 else 'fields'} {listed}",
            )

    def report_fit(self, row_id: str, size: int, limit: int, cuts: Mapping[str, int | None]) -> None:
        """One notice for a row `fit_row` shrank: which fields lost how many characters, which were left out."""
        lost = [
            f"{self.describe_field(column)} cut by {chars:,} characters"
            if chars is not None
            else f"{self.describe_field(column)} left out"
            for column, chars in cuts.items()
        ]
        self.notices.report(
            "rows cut to fit one request",
            f"row {row_id!r} was {size:,} bytes, more than one request takes ({limit:,}, table_batch_max_bytes): "
            + "; ".join(lost),
        )

    # the table

    def table_body(self) -> dict[str, Any]:
        """The POST .../tables body. Deterministic for the same catalog and the same columns seen."""
        tags = stream_tags(self.stream.key, one_line=False)
        return {
            "name": self.table.name,
            "table_id": self.table.table_id,
            "title": self.table.title,
            "description": self.description(),
            "tags": tags,
        }

    def description(self) -> str:
        """What the agent reads next to the DBML: the stream, its key and cursor, and the columns."""
        if self._description is None or self._description[0] != self.revision:
            self._description = (self.revision, self._render_description())
        return self._description[1]

    def _render_description(self) -> str:
        key = self.stream.key
        where = f' (namespace "{key.namespace}")' if key.namespace else ""
        lines = [f'Rows synced by Airbyte from stream "{key.name}"{where}, sync mode {_mode(self.stream)}.']
        schema_note = _field_note(self.stream.json_schema)
        if schema_note:
            lines.append(f"Stream: {schema_note}")
        if self.stream.primary_key:
            lines.append(f"One row per primary key: {self._describe_paths(self.stream.primary_key)}.")
        else:
            lines.append("No primary key: identical records are stored once.")
        if self.stream.cursor_field:
            lines.append(f"Cursor (last update): {self._describe_paths((self.stream.cursor_field,))}.")
        lines.append(
            "Datetimes are UTC; JSON text columns hold objects or arrays (use json_extract). "
            "Fields that never had a value are absent from the SQL schema."
        )
        lines.append("Columns (type, original field):")
        footer = self._folded_line()
        budget = MAX_DESCRIPTION_CHARS - sum(len(line) + 1 for line in lines) - len(footer) - 40
        columns = list(self._columns.values())
        for index, column in enumerate(columns):
            line = _column_line(column)
            if len(line) + 1 > budget:
                lines.append(f"- and {len(columns) - index} more columns")
                break
            budget -= len(line) + 1
            lines.append(line)
        if footer:
            lines.append(footer)
        return "\n".join(lines)

    def _describe_paths(self, paths: Sequence[Sequence[str]]) -> str:
        described = []
        for path in paths:
            column = self._columns.get(path[0])
            name = column.name if column else slugify(path[0])
            inside = f" -> {'.'.join(path[1:])} (inside the JSON)" if len(path) > 1 else ""
            described.append(name + inside)
        return ", ".join(described)

    def _folded_line(self) -> str:
        if not self._folded:
            return ""
        return (
            f"- {EXTRA_COLUMN}: JSON text with {len(self._folded)} more fields "
            f"(Dust allows {MAX_COLUMNS} columns), keyed by the original field name"
        )


def _split(shape: tuple[Any, ...]) -> tuple[tuple[str, ...], tuple[type, ...]]:
    """A shape key's field names and value types (`_planned_cells` puts the names first, then the types)."""
    half = len(shape) // 2
    return shape[:half], shape[half:]


def _converter(convert: Converter, converted: set[type]) -> Converter:
    """The converter a plan calls for values of the `converted` types: an object or array in a text or untyped
    column is its JSON text, so such fields skip the column converter's dispatch on every record."""
    direct = bool(converted) and converted <= set(_NESTED) and convert in _TEXT_CONVERTERS
    return plain_json_text if direct else convert


def _mode(stream: StreamConfig) -> str:
    return {
        "append": "append (rows accumulate)",
        "append_dedup": "append_dedup (latest record per key)",
        "overwrite": "overwrite (replaced on each sync)",
    }.get(stream.destination_sync_mode, stream.destination_sync_mode)


def _column_line(column: Column) -> str:
    original = f', from "{column.field}"' if column.field != column.name else ""
    note = f": {column.note}" if column.note else ""
    return f"- {column.name} ({column.label}{original}){note}"


def _type_label(kind: Kind, schema: Any, from_catalog: bool) -> str:
    if not from_catalog:
        return "found in the data"
    airbyte_type = schema.get("airbyte_type") if isinstance(schema, Mapping) else None
    if airbyte_type == "big_integer":
        return "big integer as text"
    if kind is Kind.STRING and isinstance(schema, Mapping) and schema.get("format") == "time":
        return "time of day as text"
    return "untyped" if kind is Kind.ANY else kind.label


def _field_note(schema: Any) -> str | None:
    """The schema's description (or title), on one line and cut short."""
    if not isinstance(schema, Mapping):
        return None
    text = schema.get("description") or schema.get("title")
    if not isinstance(text, str) or not text.strip():
        return None
    text = " ".join(text.split())
    return text if len(text) <= _FIELD_NOTE_CHARS else text[: _FIELD_NOTE_CHARS - 1] + "…"


# --- rows on the wire ----------------------------------------------------------------------------------------------


def encode_row(row: Row) -> bytes:
    """A row as the rows endpoint takes it; the sink measures batches with these bytes.

    Copied to an exact-size bytes: orjson returns its growth buffer (several times the row), and thousands of
    rows wait behind the pipeline's byte bound, which counts their length."""
    return memoryview(orjson.dumps({"row_id": row.row_id, "value": row.value})).tobytes()


def fit_row(row: Row, max_row_bytes: int) -> tuple[Row, bytes, dict[str, int | None]]:
    """Shrink a row until its encoding is at most max_row_bytes: cut the longest text cell first (ending it
    with a marker that says how much was cut), then, if text alone cannot make it fit, drop the largest cells
    (a missing cell reads as null in Dust). Also returns what each changed column lost: the characters cut,
    or None when it was left out. Raises ValueError only when even an empty row is too big."""
    value = dict(row.value)
    originals = {name: cell for name, cell in value.items() if isinstance(cell, str)}
    # characters kept of each text worth cutting (a short one would only grow by the marker)
    kept = {name: len(text) for name, text in originals.items() if len(text) > _MIN_CUTTABLE_CHARS}
    dropped: list[str] = []
    encoded = encode_row(Row(row.row_id, value))
    while len(encoded) > max_row_bytes:
        excess = len(encoded) - max_row_bytes
        cuttable = [(len(str(value[name])), name) for name, keep in kept.items() if keep > 0]
        if cuttable:
            _, name = max(cuttable)
            kept[name] = _keep_after_cut(originals[name], kept[name], excess)
            value[name] = _with_marker(originals[name], kept[name])
        else:
            sized = [(len(orjson.dumps(cell)) + len(name), name) for name, cell in value.items()]
            if not sized:
                raise ValueError(f"row {row.row_id!r} cannot fit in {max_row_bytes} bytes")
            _, name = max(sized)
            del value[name]
            dropped.append(name)
        encoded = encode_row(Row(row.row_id, value))
    cuts: dict[str, int | None] = {
        name: len(originals[name]) - keep
        for name, keep in kept.items()
        if keep < len(originals[name]) and name not in dropped
    }
    cuts.update(dict.fromkeys(dropped))
    return Row(row.row_id, value), encoded, cuts


def _keep_after_cut(original: str, keep: int, excess_bytes: int) -> int:
    """How many characters of `original` to keep so that about excess_bytes (plus the marker) go away.
    Always fewer than before, so fit_row ends."""
    head = original[:keep]
    bytes_per_char = max(1.0, len(orjson.dumps(head)) / max(1, keep))
    marker_bytes = len(TRUNCATION_MARKER.encode("utf-8")) + 12
    drop = math.ceil((excess_bytes + marker_bytes) / bytes_per_char)
    return max(0, min(keep - 1, keep - drop))


def _with_marker(original: str, keep: int) -> str:
    return original[:keep] + TRUNCATION_MARKER.format(len(original) - keep)
