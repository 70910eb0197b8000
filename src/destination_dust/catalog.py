"""The configured catalog, read into small typed objects (one per stream the platform asked us to write)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from destination_dust.errors import ConfigError

SYNC_MODES = ("append", "append_dedup", "overwrite")


class StreamKey(NamedTuple):
    """A stream is identified by (namespace, name); an empty namespace is the same as none.

    A named tuple, so it hashes in C and equals the plain `(namespace, name)` tuple the writer builds from a
    record's own strings: the record hot path finds its sink without making a StreamKey."""

    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class StreamConfig:
    key: StreamKey
    json_schema: dict[str, Any]
    destination_sync_mode: str
    primary_key: tuple[tuple[str, ...], ...] = ()
    cursor_field: tuple[str, ...] = ()
    generation_id: int | None = None
    minimum_generation_id: int | None = None
    sync_id: int | None = None
    data_format: str = "documents"
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def namespace(self) -> str | None:
        return self.key.namespace


def _paths(value: Any, what: str, stream: str) -> tuple[tuple[str, ...], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(p, list) and p and all(isinstance(s, str) for s in p) for p in value
    ):
        raise ConfigError(
            f"catalog stream {stream!r}: {what} must be a list of field paths (lists of strings)"
        )
    return tuple(tuple(p) for p in value)


def _optional_int(value: Any, what: str, stream: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ConfigError(f"catalog stream {stream!r}: {what} must be an integer or null")
    return int(value)


def parse_catalog(raw: Any, formats: Any = None) -> dict[StreamKey, StreamConfig]:
    """Parse a ConfiguredAirbyteCatalog dict. `formats(namespace, name) -> str` picks each stream's format."""
    if not isinstance(raw, dict) or not isinstance(raw.get("streams"), list):
        raise ConfigError(
            "the catalog must be a JSON object with a 'streams' list (a ConfiguredAirbyteCatalog)"
        )
    streams: dict[StreamKey, StreamConfig] = {}
    for entry in raw["streams"]:
        stream = entry.get("stream") if isinstance(entry, dict) else None
        if not isinstance(stream, dict) or not isinstance(stream.get("name"), str) or not stream["name"]:
            raise ConfigError("every catalog entry needs a 'stream' object with a non-empty 'name'")
        name = stream["name"]
        key = StreamKey(stream.get("namespace") or None, name)
        mode = entry.get("destination_sync_mode") or "append"
        if mode not in SYNC_MODES:
            raise ConfigError(
                f"catalog stream {name!r}: destination_sync_mode {mode!r} is not supported "
                f"(use one of {', '.join(SYNC_MODES)})"
            )
        raw_schema = stream.get("json_schema")
        schema: dict[str, Any] = raw_schema if isinstance(raw_schema, dict) else {}
        primary_key = _paths(entry.get("primary_key"), "primary_key", name) or _paths(
            stream.get("source_defined_primary_key"), "source_defined_primary_key", name
        )
        cursor = entry.get("cursor_field") or stream.get("default_cursor_field") or []
        if not isinstance(cursor, list) or not all(isinstance(c, str) for c in cursor):
            raise ConfigError(f"catalog stream {name!r}: cursor_field must be a list of strings")
        raw_properties = schema.get("properties")
        properties: dict[str, Any] = raw_properties if isinstance(raw_properties, dict) else {}
        streams[key] = StreamConfig(
            key=key,
            json_schema=schema,
            destination_sync_mode=mode,
            primary_key=primary_key,
            cursor_field=tuple(cursor),
            generation_id=_optional_int(entry.get("generation_id"), "generation_id", name),
            minimum_generation_id=_optional_int(
                entry.get("minimum_generation_id"), "minimum_generation_id", name
            ),
            sync_id=_optional_int(entry.get("sync_id"), "sync_id", name),
            data_format=formats(key.namespace, name) if formats else "documents",
            properties=properties,
        )
    return streams


def get_path(data: Any, path: tuple[str, ...] | list[str]) -> Any:
    """The value at a field path in a record, or None when any step is missing."""
    for step in path:
        if not isinstance(data, dict):
            return None
        data = data.get(step)
    return data
