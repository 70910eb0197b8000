"""The connector's configuration: spec.json is the single source of truth, validated with jsonschema."""

from __future__ import annotations

import json
from collections.abc import Callable
from copy import copy
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from functools import partial
from importlib import resources
from types import UnionType
from typing import Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

import jsonschema

from destination_dust.errors import ConfigError
from destination_dust.stream_settings import StreamSettings, one_of, parse_streams, settings_for

T = TypeVar("T")

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


FROM_SPEC: Any = object()
"""A DustConfig default: replaced, when the class is built, by the spec property's `default` parsed."""

Parse = Callable[[Any], Any]


def parsed_by(parse: Parse) -> dict[str, Parse]:
    """Field metadata: how a validated JSON value becomes the attribute."""
    return {"parse": parse}


def _or_none(value: str | None) -> str | None:
    return value or None  # an empty dot path means "not set", like leaving the field out


def _streams(entries: Any, legacy_formats: Any = None) -> dict[str, StreamSettings]:
    return parse_streams(entries, legacy_formats, connection_schema()["properties"]["streams"]["items"])


def _parse_for(name: str, hint: Any) -> Parse:
    """The default parse of an attribute type: JSON arrays become tuples (the config is immutable)."""
    origin = get_origin(hint) or hint
    if origin in (str, int, float, bool, dict):
        return cast(Parse, origin)
    if origin is tuple:
        return tuple
    if origin in (Union, UnionType) and set(get_args(hint)) == {str, type(None)}:
        return _or_none
    raise TypeError(f"DustConfig.{name}: no parse for {hint!r}, give one with parsed_by()")


def fields_from_spec(cls: type[T]) -> type[T]:
    """Makes the class's fields exactly the spec's properties: each default comes from the spec (a literal
    default here is refused), each field gets its parse. Runs before @dataclass reads the fields."""
    spec = connection_schema()
    props: dict[str, dict[str, Any]] = spec["properties"]
    hints = get_type_hints(cls)
    if list(hints) != list(props):
        missing, extra = [p for p in props if p not in hints], [h for h in hints if h not in props]
        raise TypeError(
            f"{cls.__name__} needs one field per spec property, in the spec's order "
            f"(missing: {missing}, not in the spec: {extra})"
        )
    for name, hint in hints.items():
        declared = cls.__dict__.get(name, MISSING)
        metadata = dict(declared.metadata) if isinstance(declared, Field) else {}
        default = declared.default if isinstance(declared, Field) else declared
        parse = metadata.setdefault("parse", _parse_for(name, hint))
        if name in spec.get("required", ()):
            if default is not MISSING:
                raise TypeError(f"{cls.__name__}.{name} is required by the spec: give it no default")
            setattr(cls, name, field(metadata=metadata))
            continue
        if default is not FROM_SPEC:
            raise TypeError(f"{cls.__name__}.{name}: write its default in spec.json, and FROM_SPEC here")
        value = parse(props[name]["default"]) if "default" in props[name] else None
        if isinstance(value, (dict, list, set)):
            setattr(cls, name, field(default_factory=partial(copy, value), metadata=metadata))
        else:
            setattr(cls, name, field(default=value, metadata=metadata))
    return cls


@dataclass(frozen=True, kw_only=True)
@fields_from_spec
class DustConfig:
    """One typed attribute per spec property, in the spec's order. A default is written as FROM_SPEC and
    filled from the property's `default` (None where it has none); `parse` turns the validated JSON value
    into the attribute (by the attribute's type unless given here)."""

    api_key: str = field(metadata=parsed_by(str.strip))
    workspace_id: str = field(metadata=parsed_by(str.strip))
    space_id: str = field(metadata=parsed_by(str.strip))
    data_source_id: str = field(metadata=parsed_by(str.strip))
    base_url: str = field(default=FROM_SPEC, metadata=parsed_by(validate_base_url))
    data_format: str = FROM_SPEC
    stream_formats: dict[str, str] = FROM_SPEC
    table_id_prefix: str = FROM_SPEC
    text_fields: tuple[str, ...] = FROM_SPEC
    title_field: str | None = FROM_SPEC
    url_field: str | None = FROM_SPEC
    timestamp_field: str | None = FROM_SPEC
    tag_fields: tuple[str, ...] = FROM_SPEC
    max_document_size_mb: float = FROM_SPEC
    table_batch_max_rows: int = FROM_SPEC
    table_batch_max_bytes: int = FROM_SPEC
    document_upserts_per_minute: int = FROM_SPEC
    max_concurrent_requests: int = FROM_SPEC
    request_timeout_seconds: float = FROM_SPEC
    retry_deadline_seconds: float = FROM_SPEC
    # the `streams` entries (and the deprecated `stream_formats`), by name
    streams: dict[str, StreamSettings] = field(default=FROM_SPEC, metadata=parsed_by(_streams))
    generation_ledger: bool = FROM_SPEC

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
        return replace(self, **entry.overrides) if entry is not None else self

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback's locals
        return f"DustConfig(workspace_id={self.workspace_id!r}, base_url={self.base_url!r}, ...)"


# what a failed schema rule asks of the value, e.g. "at least 1"
_RULES: dict[str, Callable[[Any], str]] = {
    "minimum": "at least {}".format,
    "maximum": "at most {}".format,
    "exclusiveMinimum": "greater than {}".format,
    "exclusiveMaximum": "less than {}".format,
    "minLength": lambda n: "non-empty" if n == 1 else f"at least {n} characters long",
    "maxItems": "a list of at most {} items".format,
    "pattern": "text matching the pattern {}".format,
    "type": "of type {}".format,
    "enum": one_of,
}


def _describe(error: jsonschema.ValidationError) -> str:
    """The field and what it must be; never the value, which may be the secret."""
    where = ".".join(str(p) for p in error.absolute_path) or "config"
    rule = _RULES.get(str(error.validator))
    if error.validator == "required":
        return f"{error.message}: add it to the config"
    if rule is not None:
        return f"'{where}' is invalid: it must be {rule(error.validator_value)}"
    if error.absolute_path and error.absolute_path[0] in secret_fields():
        return f"'{where}' is invalid: check its value"
    return f"'{where}': {error.message}"


def parse_config(raw: Any) -> DustConfig:
    """Validate a config dict against the spec and return it typed; ConfigError names the field and the fix."""
    if not isinstance(raw, dict):
        raise ConfigError(
            "the config must be a JSON object with api_key, workspace_id, space_id, data_source_id"
        )
    # first: its messages name the entry (the schema's would say `streams.2`), and it folds in the
    # deprecated stream_formats
    values: dict[str, Any] = {"streams": _streams(raw.get("streams"), raw.get("stream_formats"))}
    schema = connection_schema()
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("Config is invalid: " + "; ".join(_describe(e) for e in errors[:5]))
    for attribute in fields(DustConfig):
        if attribute.name not in values and attribute.name in raw:
            values[attribute.name] = attribute.metadata["parse"](raw[attribute.name])
    return DustConfig(**values)
