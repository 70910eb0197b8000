"""Per-stream settings (`streams`): one entry per stream, overriding the connection-wide defaults.

An entry is keyed by `name` (the stream's name, or `namespace.stream`). It may override `data_format` and every
document rendering field (`text_fields`, `title_field`, `url_field`, `timestamp_field`, `tag_fields`), and may
compose the stream into its parent's documents (`parent_stream`, `parent_key`, `order_by`, `section_title`;
compose.py). The deprecated `stream_formats` object is read as entries holding only `data_format`.

Entries are checked here, before the spec's own validation, so that a malformed one is reported by its name
with the fix (the schema's messages would only say `streams.2`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from destination_dust.errors import ConfigError

FORMATS = ("documents", "tables")
RENDERING_FIELDS = ("title_field", "url_field", "timestamp_field")
RENDERING_LISTS = ("text_fields", "tag_fields")
COMPOSITION = ("parent_stream", "parent_key", "order_by", "section_title")
GROUPING = ("group_by", "group_period")
GROUP_PERIODS = ("day", "week", "month")
KNOWN = ("name", "data_format", *RENDERING_LISTS, *RENDERING_FIELDS, *COMPOSITION, *GROUPING)
MAX_TAG_FIELDS = 16


@dataclass(frozen=True)
class StreamSettings:
    """One `streams` entry. None means "not set here": the connection-wide value applies."""

    name: str
    data_format: str | None = None
    text_fields: tuple[str, ...] | None = None
    title_field: str | None = None
    url_field: str | None = None
    timestamp_field: str | None = None
    tag_fields: tuple[str, ...] | None = None
    parent_stream: str | None = None
    parent_key: tuple[str, ...] = ()
    order_by: str | None = None
    section_title: str | None = None
    group_by: tuple[str, ...] = ()
    group_period: str | None = None

    @property
    def composed(self) -> bool:
        """Its records are sections of other documents (a parent's, or a group's), not documents."""
        return bool(self.parent_stream or self.group_by)

    def overrides(self) -> dict[str, Any]:
        """The DustConfig fields this entry sets (for dataclasses.replace)."""
        names = ("data_format", *RENDERING_LISTS, *RENDERING_FIELDS)
        values = {name: getattr(self, name) for name in names}
        return {name: value for name, value in values.items() if value is not None}


def _fail(label: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"streams entry {label}: {problem}. {fix}")


def _path(entry: Mapping[str, Any], key: str, label: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(
            label, f"'{key}' must be a non-empty string", 'Give a field\'s dot path, e.g. "author.name"'
        )
    return value.strip()


def _paths(entry: Mapping[str, Any], key: str, label: str) -> tuple[str, ...] | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise _fail(
            label,
            f"'{key}' must be a list of field paths",
            f'Write it as e.g. "{key}": ["status", "author.name"]',
        )
    return tuple(p.strip() for p in value)


def parse_entry(entry: Any, index: int) -> StreamSettings:
    if not isinstance(entry, dict):
        raise _fail(f"#{index + 1}", "is not an object", 'Write each entry as {"name": "<stream>", ...}')
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(
            f"#{index + 1}", "has no 'name'", 'Add the stream\'s name (or namespace.stream) as "name"'
        )
    label = repr(name.strip())
    unknown = sorted(str(k) for k in entry if k not in KNOWN)
    if unknown:
        raise _fail(label, f"unknown setting {', '.join(map(repr, unknown))}", f"Use only {', '.join(KNOWN)}")
    data_format = entry.get("data_format")
    if data_format is not None and data_format not in FORMATS:
        raise _fail(label, f"data_format {data_format!r} is not supported", "Use 'documents' or 'tables'")
    tag_fields = _paths(entry, "tag_fields", label)
    if tag_fields is not None and len(tag_fields) > MAX_TAG_FIELDS:
        raise _fail(label, f"{len(tag_fields)} tag_fields", f"Keep at most {MAX_TAG_FIELDS}")
    settings = StreamSettings(
        name=name.strip(),
        data_format=data_format,
        text_fields=_paths(entry, "text_fields", label),
        title_field=_path(entry, "title_field", label),
        url_field=_path(entry, "url_field", label),
        timestamp_field=_path(entry, "timestamp_field", label),
        tag_fields=tag_fields,
        parent_stream=_path(entry, "parent_stream", label),
        parent_key=_paths(entry, "parent_key", label) or (),
        order_by=_path(entry, "order_by", label),
        section_title=_path(entry, "section_title", label),
        group_by=_paths(entry, "group_by", label) or (),
        group_period=_path(entry, "group_period", label),
    )
    _check_grouping(settings, label)
    _check_composition(settings, label)
    return settings


def _check_grouping(settings: StreamSettings, label: str) -> None:
    if settings.group_period is not None and settings.group_period not in GROUP_PERIODS:
        raise _fail(
            label, f"group_period {settings.group_period!r} is not supported", "Use day, week or month"
        )
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


def parse_streams(raw: Any, legacy_formats: Any = None) -> dict[str, StreamSettings]:
    """`streams` (a list of entries) plus the deprecated `stream_formats`, by name. ConfigError names the entry
    and the fix."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ConfigError(
            "'streams' must be a list of objects, one per stream, e.g. "
            '[{"name": "users", "title_field": "name"}]'
        )
    settings: dict[str, StreamSettings] = {}
    for index, entry in enumerate(raw):
        parsed = parse_entry(entry, index)
        if parsed.name in settings:
            raise _fail(repr(parsed.name), "appears twice", "Merge the two entries into one")
        settings[parsed.name] = parsed
    for name, data_format in (legacy_formats or {}).items() if isinstance(legacy_formats, dict) else ():
        if name not in settings:  # an entry in `streams` wins over the deprecated key
            settings[name] = StreamSettings(name=name, data_format=data_format)
        elif settings[name].data_format is None:
            settings[name] = StreamSettings(**{**settings[name].__dict__, "data_format": data_format})
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
