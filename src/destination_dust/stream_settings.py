"""Per-stream settings (`streams`): one entry per stream, overriding the connection-wide defaults.

An entry is keyed by `name` (the stream's name, or `namespace.stream`). Its other properties are those of the
spec's entry schema (`streams.items`): the ones named like a DustConfig field (`data_format`, the document
rendering fields) override that field for the stream; the others compose the stream into its parent's
documents (`parent_stream`, `parent_key`, `order_by`, `section_title`; compose.py) or group its records
(`group_by`, `group_period`). The deprecated `stream_formats` object is read as entries holding only
`data_format`.

Each entry is checked here against that schema, before the whole config is, so that a malformed one is
reported by its name with the fix (the schema's messages would only say `streams.2`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import jsonschema

from destination_dust.errors import ConfigError


@dataclass(frozen=True)
class StreamSettings:
    """One `streams` entry: how it composes or groups the stream, and the connection-wide settings it
    overrides. None means "not set here"."""

    name: str
    parent_stream: str | None = None
    parent_key: tuple[str, ...] = ()
    order_by: str | None = None
    section_title: str | None = None
    group_by: tuple[str, ...] = ()
    group_period: str | None = None
    # every other property of the spec's entry schema (data_format, the document fields): DustConfig fields
    # by the same name, applied by DustConfig.for_stream
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def data_format(self) -> str | None:
        value = self.overrides.get("data_format")
        return str(value) if value is not None else None

    @property
    def composed(self) -> bool:
        """Its records are sections of other documents (a parent's, or a group's), not documents."""
        return bool(self.parent_stream or self.group_by)


# the entry properties a StreamSettings holds as attributes; the others go to `overrides`
OWN_SETTINGS = tuple(f.name for f in fields(StreamSettings) if f.name not in {"name", "overrides"})
COMPOSITION = ("parent_stream", "parent_key", "order_by", "section_title")


def _fail(label: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"streams entry {label}: {problem}. {fix}")


def one_of(values: list[Any]) -> str:
    """Allowed values as a message says them: 'a', 'b' or 'c'."""
    quoted = [repr(v) for v in values]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)


def _malformed(key: str, prop: Mapping[str, Any], label: str) -> ConfigError:
    if prop.get("type") == "array":
        return _fail(
            label,
            f"'{key}' must be a list of field paths",
            f'Write it as e.g. "{key}": ["status", "author.name"]',
        )
    return _fail(label, f"'{key}' must be a non-empty string", 'Give a field\'s dot path, e.g. "author.name"')


def _explain(
    error: jsonschema.ValidationError, entry: Mapping[str, Any], props: Mapping[str, Any], label: str
) -> ConfigError:
    """A schema error in an entry as the problem and its fix, with the limits the spec gives."""
    key = str(error.absolute_path[0])
    if error.validator == "enum":
        return _fail(label, f"{key} {entry[key]!r} is not supported", f"Use {one_of(props[key]['enum'])}")
    if error.validator == "maxItems":
        return _fail(label, f"{len(entry[key])} {key}", f"Keep at most {props[key]['maxItems']}")
    return _malformed(key, props[key], label)


def _stripped(key: str, value: Any, prop: Mapping[str, Any], label: str) -> Any:
    """A validated value without surrounding spaces; lists become tuples. Blank paths are refused."""
    items = value if isinstance(value, list) else [value]
    stripped = tuple(item.strip() if isinstance(item, str) else item for item in items)
    if any(item == "" for item in stripped):
        raise _malformed(key, prop, label)
    return stripped if isinstance(value, list) else stripped[0]


def parse_entry(entry: Any, index: int, schema: Mapping[str, Any]) -> StreamSettings:
    """One entry, checked against `schema` (the spec's `streams.items`)."""
    if not isinstance(entry, dict):
        raise _fail(f"#{index + 1}", "is not an object", 'Write each entry as {"name": "<stream>", ...}')
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(
            f"#{index + 1}", "has no 'name'", 'Add the stream\'s name (or namespace.stream) as "name"'
        )
    label = repr(name.strip())
    props: Mapping[str, Any] = schema["properties"]
    unknown = sorted(str(k) for k in entry if k not in props)
    if unknown:
        raise _fail(label, f"unknown setting {', '.join(map(repr, unknown))}", f"Use only {', '.join(props)}")
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(entry), key=lambda e: list(e.absolute_path)
    )
    if errors:
        raise _explain(errors[0], entry, props, label)
    values = {key: _stripped(key, value, props[key], label) for key, value in entry.items() if key != "name"}
    settings = StreamSettings(
        name=name.strip(),
        overrides={k: v for k, v in values.items() if k not in OWN_SETTINGS},
        **{k: v for k, v in values.items() if k in OWN_SETTINGS},
    )
    _check_grouping(settings, label)
    _check_composition(settings, label)
    return settings


def _check_grouping(settings: StreamSettings, label: str) -> None:
    if settings.group_period is not None and not settings.group_by:
        raise _fail(
            label, "group_period without group_by", 'Add "group_by": the fields whose values make a group'
        )
    if settings.group_by and settings.parent_stream is not None:
        raise _fail(label, "both group_by and parent_stream", "A stream is grouped or composed: keep one")
    if settings.group_by and settings.data_format == "tables":
        raise _fail(label, "a grouped stream (group_by) cannot be written as a table", "Remove data_format")


def _check_composition(settings: StreamSettings, label: str) -> None:
    if settings.parent_stream is None:
        # order_by and section_title also shape a grouped stream's sections; parent_key needs a parent
        needs_parent = ("parent_key",) if settings.group_by else COMPOSITION[1:]
        others = [k for k in needs_parent if getattr(settings, k)]
        if others:
            raise _fail(
                label,
                f"{', '.join(others)} without parent_stream",
                'Add "parent_stream": the stream whose documents receive these records, or remove them',
            )
        return
    if settings.parent_stream == settings.name:
        raise _fail(label, "parent_stream is the stream itself", "Name another stream as parent_stream")
    if not settings.parent_key:
        raise _fail(
            label,
            "parent_stream without parent_key",
            "Add \"parent_key\": the field paths in this stream's records that hold the parent's primary key, "
            'e.g. ["ticket_id"]',
        )
    if settings.data_format == "tables":
        raise _fail(
            label, "a composed stream (parent_stream) cannot be written as a table", "Remove data_format"
        )


def parse_streams(raw: Any, legacy_formats: Any, schema: Mapping[str, Any]) -> dict[str, StreamSettings]:
    """`streams` (a list of entries, each checked against `schema`, the spec's `streams.items`) plus the
    deprecated `stream_formats`, by name. ConfigError names the entry and the fix."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ConfigError(
            "'streams' must be a list of objects, one per stream, e.g. "
            '[{"name": "users", "title_field": "name"}]'
        )
    settings: dict[str, StreamSettings] = {}
    for index, entry in enumerate(raw):
        parsed = parse_entry(entry, index, schema)
        if parsed.name in settings:
            raise _fail(repr(parsed.name), "appears twice", "Merge the two entries into one")
        settings[parsed.name] = parsed
    for name, data_format in (legacy_formats or {}).items() if isinstance(legacy_formats, dict) else ():
        entry = settings.get(name, StreamSettings(name=name))
        # an entry in `streams` wins over the deprecated key
        settings[name] = replace(entry, overrides={"data_format": data_format, **entry.overrides})
    _check_parents(settings)
    return settings


def _check_parents(settings: Mapping[str, StreamSettings]) -> None:
    for name, entry in settings.items():
        parent = settings.get(entry.parent_stream or "")
        if parent is None:
            continue
        if parent.parent_stream is not None:
            raise _fail(
                repr(name),
                f"its parent_stream {parent.name!r} is itself composed into {parent.parent_stream!r}",
                "Compose both streams into the same top-level parent",
            )
        if parent.data_format == "tables":
            raise _fail(
                repr(name),
                f"its parent_stream {parent.name!r} is written as a table",
                "Write the parent stream as documents",
            )


def settings_for(
    settings: Mapping[str, StreamSettings], namespace: str | None, stream: str
) -> StreamSettings | None:
    """The entry of a stream: `namespace.stream` first, then the bare name."""
    if namespace and f"{namespace}.{stream}" in settings:
        return settings[f"{namespace}.{stream}"]
    return settings.get(stream)


def not_in_catalog(
    settings: Mapping[str, StreamSettings], catalog: list[tuple[str | None, str]]
) -> list[str]:
    """Names of `streams` entries that match no stream of the configured catalog (a typo, or a stream left out
    of the connection): their settings do nothing."""
    known = {name for namespace, name in catalog} | {f"{ns}.{name}" for ns, name in catalog if ns}
    return sorted(name for name in settings if name not in known)


def unmatched_message(names: list[str]) -> str:
    return (
        f"streams settings for {', '.join(map(repr, names))} match no stream of the configured catalog, so they "
        "do nothing: check the names (a stream's name, or namespace.stream)"
    )
