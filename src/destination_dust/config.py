"""The connector's configuration: spec.json is the single source of truth, validated with jsonschema."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from destination_dust.errors import ConfigError
from destination_dust.stream_settings import StreamSettings, parse_streams, settings_for

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def load_spec() -> dict[str, Any]:
    """The ConnectorSpecification printed by `spec` (package data, so the Docker image has it too)."""
    text = resources.files("destination_dust").joinpath("spec.json").read_text(encoding="utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec


def connection_schema() -> dict[str, Any]:
    schema: dict[str, Any] = load_spec()["connectionSpecification"]
    return schema


def secret_fields() -> list[str]:
    """Names of the properties marked `airbyte_secret` in the spec."""
    props = connection_schema()["properties"]
    return [name for name, prop in props.items() if prop.get("airbyte_secret")]


@dataclass(frozen=True)
class DustConfig:
    api_key: str
    workspace_id: str
    space_id: str
    data_source_id: str
    base_url: str = "https://dust.tt"
    data_format: str = "documents"
    stream_formats: dict[str, str] = field(default_factory=dict)
    table_id_prefix: str = "airbyte_"
    text_fields: tuple[str, ...] = ()
    title_field: str | None = None
    url_field: str | None = None
    timestamp_field: str | None = None
    tag_fields: tuple[str, ...] = ()
    max_document_size_mb: float = 2.0
    table_batch_max_rows: int = 2000
    table_batch_max_bytes: int = 900_000
    document_upserts_per_minute: int = 120
    max_concurrent_requests: int = 8
    request_timeout_seconds: float = 120.0
    retry_deadline_seconds: float = 900.0
    generation_ledger: bool = True
    # the `streams` entries (and the deprecated `stream_formats`), by name
    streams: dict[str, StreamSettings] = field(default_factory=dict)

    @property
    def max_document_chars(self) -> int:
        """Dust compares the text length (UTF-16 units) to sizeMb * 1024 * 1024."""
        return int(self.max_document_size_mb * 1024 * 1024)

    def settings(self, namespace: str | None, stream: str) -> StreamSettings | None:
        """The `streams` entry of a stream (`namespace.stream` first, then the bare name), if any."""
        return settings_for(self.streams, namespace, stream)

    def format_for(self, namespace: str | None, stream: str) -> str:
        """The data format of one stream: its entry's, else the connection's default. Composed streams and
        their parents (and grouped streams) are documents."""
        entry = self.settings(namespace, stream)
        if entry is not None and entry.data_format is not None:
            return entry.data_format
        if (entry is not None and entry.composed) or self.is_parent(namespace, stream):
            return "documents"
        return self.data_format

    def is_parent(self, namespace: str | None, stream: str) -> bool:
        names = {stream, f"{namespace}.{stream}"} if namespace else {stream}
        return any(s.parent_stream in names for s in self.streams.values())

    def for_stream(self, namespace: str | None, stream: str) -> DustConfig:
        """This config with the stream's own settings in place of the connection-wide ones."""
        entry = self.settings(namespace, stream)
        return replace(self, **entry.overrides()) if entry is not None else self

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback's locals
        return f"DustConfig(workspace_id={self.workspace_id!r}, base_url={self.base_url!r}, ...)"


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "config"
    if error.validator == "required":
        return f"{error.message} (add it to the config)"
    if error.validator in {"pattern", "type", "enum", "minimum", "maximum", "exclusiveMinimum", "minLength"}:
        # the message would quote the value itself, which may be the secret: name the field and the rule only
        rule = error.schema.get(error.validator) if isinstance(error.schema, dict) else None
        return f"'{where}' is invalid: it must satisfy {error.validator} {rule!r}"
    return f"'{where}': {error.message}"


def validate_base_url(url: str) -> str:
    """https only, except the local emulator; no credentials, query or fragment. Returns the URL without a
    trailing slash."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError:  # e.g. "http://[::1" (unclosed IPv6 bracket) or "https://dust.tt:99999"
        parts = None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"base_url {url!r} is not a URL: use https://dust.tt (US) or https://eu.dust.tt (EU)"
        )
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise ConfigError(
            f"base_url {url!r} must use https (plain http is only allowed for localhost, e.g. the dust-emulator)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("base_url must not contain credentials, a query or a fragment: use https://dust.tt")
    return url.rstrip("/")


def parse_config(raw: Any) -> DustConfig:
    """Validate a config dict against the spec and return it typed; ConfigError names the field and the fix."""
    if not isinstance(raw, dict):
        raise ConfigError(
            "the config must be a JSON object with api_key, workspace_id, space_id, data_source_id"
        )
    # before the schema, whose messages would say `streams.2` where this names the entry
    streams = parse_streams(raw.get("streams"), raw.get("stream_formats"))
    validator = jsonschema.Draft7Validator(connection_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("Config is invalid: " + "; ".join(_describe(e) for e in errors[:5]))
    props = connection_schema()["properties"]
    values = {name: raw.get(name, prop.get("default")) for name, prop in props.items()}
    values["base_url"] = validate_base_url(str(values["base_url"]))
    for name in ("title_field", "url_field", "timestamp_field"):
        values[name] = values[name] or None
    return DustConfig(
        api_key=values["api_key"].strip(),
        workspace_id=values["workspace_id"].strip(),
        space_id=values["space_id"].strip(),
        data_source_id=values["data_source_id"].strip(),
        base_url=values["base_url"],
        data_format=values["data_format"],
        stream_formats=dict(values["stream_formats"] or {}),
        table_id_prefix=values["table_id_prefix"],
        text_fields=tuple(values["text_fields"] or ()),
        title_field=values["title_field"],
        url_field=values["url_field"],
        timestamp_field=values["timestamp_field"],
        tag_fields=tuple(values["tag_fields"] or ()),
        max_document_size_mb=float(values["max_document_size_mb"]),
        table_batch_max_rows=int(values["table_batch_max_rows"]),
        table_batch_max_bytes=int(values["table_batch_max_bytes"]),
        document_upserts_per_minute=int(values["document_upserts_per_minute"]),
        max_concurrent_requests=int(values["max_concurrent_requests"]),
        request_timeout_seconds=float(values["request_timeout_seconds"]),
        retry_deadline_seconds=float(values["retry_deadline_seconds"]),
        generation_ledger=bool(values["generation_ledger"]),
        streams=streams,
    )
