"""What the tables-sync unit tests share: a config, a configured stream, and a Dust client that keeps the calls
of a tables sync instead of sending them."""

from __future__ import annotations

from typing import Any

import orjson

from destination_dust.client import DustClient
from destination_dust.config import DustConfig, parse_config

API_KEY = "sk-tables-sync-test-key-that-is-long-and-entirely-fake-0123456789"


def tables_config(**overrides: Any) -> DustConfig:
    return parse_config(
        {
            "api_key": API_KEY,
            "workspace_id": "w",
            "space_id": "s",
            "data_source_id": "d",
            "data_format": "tables",
            **overrides,
        }
    )


def configured_stream(
    properties: dict[str, Any],
    *,
    name: str = "users",
    namespace: str | None = None,
    mode: str = "append",
    key: list[list[str]] | None = None,
    cursor: list[str] | None = None,
) -> dict[str, Any]:
    stream: dict[str, Any] = {"name": name, "json_schema": {"type": "object", "properties": properties}}
    if namespace is not None:
        stream["namespace"] = namespace
    configured: dict[str, Any] = {
        "stream": stream,
        "sync_mode": "full_refresh",
        "destination_sync_mode": mode,
    }
    if key is not None:
        configured["primary_key"] = key
    if cursor is not None:
        configured["cursor_field"] = cursor
    return configured


class RecordingDust(DustClient):
    """The calls of a tables sync, kept instead of sent: no table and no document exists before, every upsert
    succeeds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bodies: list[bytes] = []
        self.deleted: list[str] = []
        self.table_reads = 0
        self.tables: dict[str, set[str]] = {}  # table_id -> row ids received

    def get_table(self, table_id: str, *, retry: bool = True) -> dict[str, Any] | None:
        self.table_reads += 1
        return None

    def list_tables(self) -> list[dict[str, Any]]:
        return []

    def upsert_table(self, body: Any) -> dict[str, Any]:
        return {}

    def upsert_rows_raw(self, table_id: str, body: bytes, count: int) -> None:
        self.bodies.append(body)
        self.tables.setdefault(table_id, set()).update(row["row_id"] for row in orjson.loads(body)["rows"])

    def delete_row(self, table_id: str, row_id: str) -> None:
        self.deleted.append(row_id)

    def list_documents(self, *, limit: int = 500, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        return [], 0  # the data source holds no documents (an overwrite stream's clean-up looks for some)

    def search_tagged(self, tag: str, *, top_k: int = 10) -> list[dict[str, Any]]:
        return []  # ...nor does an append stream's look-up for old documents find any

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [row for body in self.bodies for row in orjson.loads(body)["rows"]]
