"""A tables stream's records to rows: one `RowEncoder` per stream, the only place that chooses how.

    record data as it came (msgspec.Raw) -> RowEncoder.encode -> typed fast path (typed_rows.py) -> row
                                                               -> None: the sink decodes the record itself
    record data as a dict -> RowEncoder.encode_data -> TableMapper.encode (tables.py, the reference) -> row

The reference plans each record shape it meets; when it has planned new ones, the encoder rebuilds its fast
path from them (at most `MAX_BUILDS` times: a stream whose shapes keep changing stays on the reference).
"""

from __future__ import annotations

from typing import Any

import msgspec

from destination_dust.cells import Cell
from destination_dust.tables import TableMapper
from destination_dust.typed_rows import TypedRows

MAX_BUILDS = 16


class RowEncoder:
    """Encodes one stream's records into (row id, row bytes). With `fast=False` every record takes the
    reference (a stream that deduplicates by cursor needs each record itself; tests compare both ways)."""

    def __init__(
        self, mapper: TableMapper, max_row_bytes: int, deleted_field: str, *, fast: bool = True
    ) -> None:
        self.mapper = mapper
        self._max_row_bytes = max_row_bytes  # the fast path declines longer rows: the sink cuts them to fit
        self._deleted_field = deleted_field  # the fast path declines records with it set: they are deletions
        self._typed: TypedRows | None = None
        self._built_from = 0  # the mapper's plan count the fast path was built from
        self._builds_left = MAX_BUILDS if fast and mapper.key_field is not None else 0

    def encode(self, raw: msgspec.Raw) -> tuple[str, bytes] | None:
        """The row of a record's data as it came, when the fast path serves it; None (nothing done) when the
        record must be decoded and given to `encode_data`, or is not a row at all (a deletion)."""
        typed = self._typed
        return None if typed is None else typed.encode(raw)

    def encode_data(self, data: dict[str, Any]) -> tuple[str, dict[str, Cell], bytes]:
        """Row id, cells and bytes of a decoded record, by the reference (which also makes any new column)."""
        row = self.mapper.encode(data)
        if self._builds_left and self.mapper.plan_count != self._built_from:
            self._rebuild()
        return row

    def _rebuild(self) -> None:
        """The reference planned a new shape: let the fast path take it too."""
        self._builds_left -= 1
        self._built_from = self.mapper.plan_count
        fields = self.mapper.typed_fields()
        key = self.mapper.key_field
        self._typed = (
            None
            if fields is None or key is None
            else TypedRows(fields, key, self._deleted_field, self._max_row_bytes, self.mapper.count_coerced)
        )
