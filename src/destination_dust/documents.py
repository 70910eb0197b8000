"""Documents mode: one Airbyte record -> one Dust document upsert body. Pure: no HTTP, no clock.

What a record becomes (see render.py for the text itself):

- **id**: `ids.document_id` from the stream's primary-key paths; a content hash without a primary key.
- **section**: the root prefix is a small metadata header, repeated by Dust in every chunk:
  `$title`, `$updatedAt` (or `$createdAt`, ISO like JavaScript's toISOString), `$stream`, then the primary key
  fields and the tag fields while they fit. It is capped at ROOT_PREFIX_MAX_BYTES UTF-8 bytes, and a child
  prefix at 40 bytes: a token is at least one byte, so inherited prefixes stay under Dust's 256-token limit
  whatever the script. The content is the record's fields (render.py).
- **field order**: the catalog's (json_schema `properties`), then fields the schema does not list in the
  record's order: stable across syncs even when a source reorders keys, so unchanged records keep their
  fingerprint. With `text_fields`, their configured order. Without it, Airbyte's own columns (`_airbyte_*`,
  `_ab_*`, e.g. CDC metadata) are left out.
- **title**: `title_field`, else the first non-blank of name/title/subject/summary, else `<stream> <key>`
  followed by up to 3 foreign keys (`*_id` fields) and the record's date; one line, at most 512 UTF-16 units
  (Dust's limit). No `title:` tag: Dust adds it when missing.
- **timestamp** (integer ms, what agents' time filters use): `timestamp_field`, else the cursor field, else an
  updated_at-like field, else a created_at-like one, else an event time (occurred_at, timestamp...), else the
  record's `emitted_at`. ISO-8601 (naive = UTC),
  dates, RFC 2822, epoch seconds/ms numbers or numeric strings. Guessed fields must look like a date after
  2000 (an integer cursor such as an id is not a time); pre-1970 values are never sent (Dust multiplies
  negative timestamps by 1000).
- **source_url**: only from `url_field` (a guessed `url` is often an API endpoint, not a page), and only when
  Dust would accept it (http/https, a host, no `//` in the path); else dropped with a warning.
- **tags**: `field:value` for each tag field (lists give one tag per item; values over 64 characters and
  objects skipped), then `airbyte:stream:`, `airbyte:namespace:`, `airbyte:generation:`, `airbyte:fp:`.
  At most 32 (user tags give way first). `airbyte:fp:` is the first 16 hex digits of the fingerprint, a
  SHA-256 of the body without the generation and fingerprint tags (nor a timestamp taken from emitted_at,
  which changes every sync): the sink skips documents Dust already holds with the same fingerprint (under
  an older generation only once the generation ledger records them, ledger.py).
- **size**: a text longer than `max_document_chars` UTF-16 units is cut at a section boundary with a marker
  line (render.fit_section); `truncated` is set and a loss names the document, the sizes and the field
  where the cut starts.
- **text that cannot be encoded** (a lone UTF-16 surrogate) is replaced by U+FFFD; a loss names the fields.

Warnings never quote record content. Repeated warnings of one kind (a bad URL or timestamp in every record)
are reported once per stream. Losses (truncation, unencodable text) go to the sink's notices.StreamNotices,
which logs the first few of a stream one by one and then counts them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from destination_dust import ids
from destination_dust.catalog import StreamConfig, get_path
from destination_dust.config import DustConfig
from destination_dust.notices import first_few
from destination_dust.render import (
    build_section,
    compact_json,
    cut_bytes,
    cut_utf16,
    fit_section,
    label_text,
    render_fields,
    utf16_len,
)
from destination_dust.tags import clean_tag, is_system_tag, marker_tags, stream_tags
from destination_dust.text import REPLACEMENT, lone_surrogate_fields, scalar_text, single_line
from destination_dust.timestamps import MAX_EPOCH_MS, epoch_ms, iso_ms

MIME_TYPE = "text/markdown"
MAX_TITLE = 512  # UTF-16 units; Dust answers 400 above
MAX_TAGS = 32
MAX_TAG_VALUE = 64
ROOT_PREFIX_MAX_BYTES = 210  # with a 40-byte child prefix: < 256 tokens even at one token per byte
HEADER_TITLE_MAX_BYTES = 100
HEADER_VALUE_MAX_BYTES = 64
HEADER_STREAM_MAX_BYTES = 48  # 8+100+1 (title) + 37 (time) + 9+48+1 (stream) = 204 <= ROOT_PREFIX_MAX_BYTES
RENDER_BUDGET_FACTOR = 4  # rendering stops past 4x the size limit: the rest would be cut anyway
# `name` first: a person's `title` is an honorific ("Mr.", shared by a hundred users), their name identifies them
DEFAULT_TITLE_FIELDS = ("name", "title", "subject", "summary")
TITLE_REFERENCE_FIELDS = 3  # a fallback title names up to this many foreign keys (`user_id 7`)
_PLAUSIBLE_SINCE_MS = 946684800000  # 2000-01-01: a guessed number field older than this is not a time

# Field names (lowercased, without `_`, `-` and spaces) that hold a last-update or a creation time.
_UPDATED_NAMES = (
    "updatedat", "lastmodifieddate", "lastmodifiedat", "lastmodified", "modifiedat", "lastupdatedat",
    "lastupdated", "updatedtime", "modifiedtime", "dateupdated", "datemodified", "updatedon", "modifiedon",
    "systemmodstamp", "updated", "modified",
)  # fmt: skip
_CREATED_NAMES = (
    "createdat", "createddate", "createdtime", "datecreated", "creationdate", "createdon", "insertedat",
    "created",
)  # fmt: skip
_EVENT_TIME_NAMES = ("occurredat", "eventtime", "timestamp", "sentat", "receivedat", "time", "date")
_NAME_NOISE = re.compile(r"[_\-\s]")
_LONGEST_TIME_NAME = 24  # "last_modified_date_time"-like names; longer keys are not looked at


@dataclass(frozen=True)
class DocumentUpsert:
    document_id: str
    body: dict[str, Any]  # the exact JSON body for POST .../documents/{document_id}
    fingerprint: str  # SHA-256 hex of the body without the generation and fingerprint tags
    size: int  # approximate bytes of the body (for memory bounds)
    truncated: bool
    warnings: tuple[str, ...]  # short, never the record content
    losses: tuple[tuple[str, str], ...] = ()  # (kind, detail) for notices.StreamNotices.report


@dataclass(frozen=True)
class _Timestamp:
    epoch_ms: int
    label: str | None  # "updatedAt", "createdAt", or None when it is only the time the record was read


class DocumentRenderer:
    """Turns the records of one stream into document upserts. Holds no record: only which warnings were
    already reported for this stream."""

    def __init__(self, stream: StreamConfig, config: DustConfig) -> None:
        self.stream = stream
        self.config = config.for_stream(stream.namespace, stream.name)  # the stream's own settings win
        self._schema_fields = tuple(str(k) for k in stream.properties) if stream.properties else ()
        self._reported: set[str] = set()

    # --- identity

    def document_id(self, data: Mapping[str, Any]) -> str:
        pk_values = (
            [get_path(data, path) for path in self.stream.primary_key] if self.stream.primary_key else None
        )
        return ids.document_id(self.stream.key, pk_values, data)

    # --- the whole document

    def render(self, data: Mapping[str, Any], emitted_at: int | None = None) -> DocumentUpsert:
        document_id = self.document_id(data)
        warnings: list[str] = []
        losses: list[tuple[str, str]] = []
        timestamp = self._timestamp(data, emitted_at, document_id, warnings)
        title = self._title(data, document_id, timestamp)
        section, truncated = self._section(data, self._header(data, title, timestamp), document_id, losses)
        unencodable = lone_surrogate_fields(data)
        if unencodable:
            listed = first_few([repr(field) for field in unencodable])
            losses.append(
                (
                    "documents with text that cannot be encoded",
                    f"document {document_id!r}: text that cannot be encoded (a lone UTF-16 surrogate) was "
                    f"replaced by U+FFFD in {'field' if len(unencodable) == 1 else 'fields'} {listed}",
                )
            )
        body: dict[str, Any] = {"title": title, "section": section, "tags": self._field_tags(data)}
        body["tags"] += stream_tags(self.stream.key, one_line=True)
        if timestamp is not None:
            body["timestamp"] = timestamp.epoch_ms
        source_url = self._source_url(data, document_id, warnings)
        if source_url is not None:
            body["source_url"] = source_url
        body["mime_type"] = MIME_TYPE
        body["light_document_output"] = True
        payload = orjson.dumps(_fingerprinted(body, timestamp), option=orjson.OPT_SORT_KEYS)
        fingerprint = hashlib.sha256(payload).hexdigest()
        markers = marker_tags(self.stream.generation_id, fingerprint)
        body["tags"] = _cap_tags(body["tags"], markers)
        return DocumentUpsert(
            document_id=document_id,
            body=body,
            fingerprint=fingerprint,
            size=len(payload) + sum(len(t) + 3 for t in markers),
            truncated=truncated,
            warnings=tuple(warnings),
            losses=tuple(losses),
        )

    def _section(
        self, data: Mapping[str, Any], header: str, document_id: str, losses: list[tuple[str, str]]
    ) -> tuple[dict[str, Any], bool]:
        """The section tree within the size limit, and whether it had to be truncated."""
        limit = self.config.max_document_chars
        fields = render_fields(self._text_fields(data), budget=RENDER_BUDGET_FACTOR * limit + 4096)
        tree = build_section(header, fields)
        section, original = fit_section(tree, limit, fields.complete)
        if original <= limit:
            return section, False
        size = f"{original:,}" if fields.complete else f"over {original:,}"
        cut = _first_cut(tree, section, [label for label, _ in fields.sections])
        where = f"field {cut!r}" if cut is not None else "its short fields (every long field was left out)"
        losses.append(
            (
                "documents truncated to max_document_size_mb",
                f"document {document_id!r} was truncated from {size} to at most {limit:,} characters "
                f"(max_document_size_mb); the cut starts in {where}",
            )
        )
        return section, True

    # --- text

    def _text_fields(self, data: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
        """(label, value) pairs in rendering order (see the module docstring)."""
        if self.config.text_fields:
            for path in self.config.text_fields:
                yield label_text(path), lookup(data, path)
            return
        for name in self._schema_fields:
            if name in data and not _is_airbyte_column(name):
                yield label_text(name), data[name]
        schema_fields = set(self._schema_fields)
        for key, value in data.items():
            if key not in schema_fields and not _is_airbyte_column(key):
                yield label_text(key), value

    def _header(self, data: Mapping[str, Any], title: str, timestamp: _Timestamp | None) -> str:
        """`$key: value` lines, most useful first, while they fit ROOT_PREFIX_MAX_BYTES."""
        lines = [f"$title: {cut_bytes(title, HEADER_TITLE_MAX_BYTES)}\n"]
        if timestamp is not None and timestamp.label:
            lines.append(f"${timestamp.label}: {iso_ms(timestamp.epoch_ms)}\n")
        lines.append(f"$stream: {cut_bytes(single_line(str(self.stream.key)), HEADER_STREAM_MAX_BYTES)}\n")
        used = sum(len(line.encode("utf-8")) for line in lines)
        for name, value in self._key_fields(data):
            line = f"${cut_bytes(name, 32)}: {cut_bytes(value, HEADER_VALUE_MAX_BYTES)}\n"
            size = len(line.encode("utf-8"))
            if used + size <= ROOT_PREFIX_MAX_BYTES:
                lines.append(line)
                used += size
        return "".join(lines)

    def _key_fields(self, data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Primary-key fields, then tag fields: short scalars worth repeating in every chunk."""
        seen: set[str] = set()
        keys = [(".".join(path), _tag_texts(get_path(data, path))) for path in self.stream.primary_key]
        for name, texts in keys + self._tag_fields(data):
            text = ", ".join(t for t in texts if t)
            if text and name not in seen:
                seen.add(name)
                yield single_line(name), text

    # --- title

    def _title(self, data: Mapping[str, Any], document_id: str, timestamp: _Timestamp | None) -> str:
        candidates = ([self.config.title_field] if self.config.title_field else []) + list(
            DEFAULT_TITLE_FIELDS
        )
        for path in candidates:
            value = lookup(data, path)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                title = single_line(scalar_text(value, REPLACEMENT))
                if title:
                    return _cut_title(title)
        return _cut_title(self._fallback_title(data, document_id, timestamp))

    def _fallback_title(self, data: Mapping[str, Any], document_id: str, timestamp: _Timestamp | None) -> str:
        """`<stream> <key>`, then what the record points at and when: `purchases 106: user_id 7, product_id
        42, 2024-05-01` says more to a reader than the bare key."""
        name = self.stream.name
        keys = self.stream.primary_key
        if len(keys) == 1:
            head = f"{name} {_key_text(get_path(data, keys[0]))}"
        elif keys:
            parts = (f"{'.'.join(k)}={_key_text(get_path(data, k))}" for k in keys)
            head = f"{name} {' '.join(parts)}"
        elif timestamp is not None and timestamp.label:
            return f"{name} at {iso_ms(timestamp.epoch_ms)}"
        else:
            return f"{name} record {document_id.rsplit('~c', 1)[-1][:8]}"
        details = [f"{field} {text}" for field, text in self._references(data)]
        if timestamp is not None and timestamp.label:
            details.append(iso_ms(timestamp.epoch_ms)[:10])
        return f"{head}: {', '.join(details)}" if details else head

    def _references(self, data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Top-level `*_id` / `*Id` scalar fields other than the key (foreign keys), in the record's order."""
        key_fields = {path[0] for path in self.stream.primary_key}
        found = 0
        for field, value in data.items():
            if found >= TITLE_REFERENCE_FIELDS:
                return
            if not isinstance(field, str) or field in key_fields or not field.endswith(("_id", "Id")):
                continue
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                text = single_line(scalar_text(value, REPLACEMENT))
                if text and len(text) <= MAX_TAG_VALUE:
                    found += 1
                    yield field, text

    # --- timestamp

    def record_time(self, data: Mapping[str, Any], emitted_at: int | None) -> int | None:
        """The record's time in epoch ms, as its document's timestamp would be. Reports nothing: the warnings
        (once per stream) stay for `render`."""
        reported = set(self._reported)
        timestamp = self._timestamp(data, emitted_at, "", [])
        self._reported = reported
        return timestamp.epoch_ms if timestamp is not None else None

    def _timestamp(
        self, data: Mapping[str, Any], emitted_at: Any, document_id: str, warnings: list[str]
    ) -> _Timestamp | None:
        configured = self.config.timestamp_field
        if configured:
            value = lookup(data, configured)
            epoch = timestamp_ms(value)
            if epoch is not None:
                return _Timestamp(epoch, _time_label(configured))
            if value is not None:
                self._warn_once(
                    "timestamp",
                    warnings,
                    f"stream {self.stream.key}: timestamp_field {configured!r} of document {document_id!r} "
                    "is not a date; using the next candidate (further ones not reported)",
                )
        for path, label in self._guessed_time_fields(data):
            epoch = timestamp_ms(get_path(data, path))
            if epoch is not None and epoch >= _PLAUSIBLE_SINCE_MS:
                return _Timestamp(epoch, label)
        if (
            isinstance(emitted_at, (int, float))
            and not isinstance(emitted_at, bool)
            and math.isfinite(emitted_at)
        ):
            emitted = math.floor(emitted_at)
            if 0 <= emitted <= MAX_EPOCH_MS:
                return _Timestamp(emitted, None)
        return None

    def _guessed_time_fields(self, data: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
        """The cursor field, then top-level updated-like fields, created-like ones, event-time-like ones."""
        if self.stream.cursor_field:
            yield self.stream.cursor_field, _time_label(self.stream.cursor_field[-1])
        by_name: dict[str, str] = {}
        for key in data:
            if isinstance(key, str) and len(key) <= _LONGEST_TIME_NAME:
                by_name.setdefault(_NAME_NOISE.sub("", key).lower(), key)
        for names, label in (
            (_UPDATED_NAMES, "updatedAt"),
            (_CREATED_NAMES, "createdAt"),
            (_EVENT_TIME_NAMES, "updatedAt"),
        ):
            for name in names:
                if name in by_name:
                    yield (by_name[name],), label

    # --- source url and tags

    def _source_url(self, data: Mapping[str, Any], document_id: str, warnings: list[str]) -> str | None:
        if not self.config.url_field:
            return None
        value = lookup(data, self.config.url_field)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        url = valid_source_url(value) if isinstance(value, str) else None
        if url is None:
            self._warn_once(
                "url",
                warnings,
                f"stream {self.stream.key}: url_field {self.config.url_field!r} of document {document_id!r} "
                "is not an http(s) URL Dust accepts; sent without source_url (further ones not reported)",
            )
        return url

    def _tag_fields(self, data: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
        """Each of `tag_fields` with its values as tag text (a list gives one per item)."""
        return [(path, _tag_texts(lookup(data, path))) for path in self.config.tag_fields]

    def _field_tags(self, data: Mapping[str, Any]) -> list[str]:
        """`field:value` tags; values over MAX_TAG_VALUE characters are skipped."""
        tags: list[str] = []
        for path, texts in self._tag_fields(data):
            name = single_line(path)
            for text in texts:
                tag = f"{name}:{text}"
                if text and len(text) <= MAX_TAG_VALUE and tag not in tags:
                    tags.append(tag)
        return tags

    def _warn_once(self, kind: str, warnings: list[str], text: str) -> None:
        if kind not in self._reported:
            self._reported.add(kind)
            warnings.append(text)


# --- helpers (public where the sink or the tests use them)


def _first_cut(tree: Mapping[str, Any], fitted: Mapping[str, Any], labels: list[str]) -> str | None:
    """The label of the first long field that lost text in `fit_section`, None when the cut is in the short
    fields (the root's content). A kept section that still starts with its whole text was not cut (the marker
    may follow it)."""
    kept = fitted["sections"]
    for index, child in enumerate(kept):
        if not (child["content"] or "").startswith(tree["sections"][index]["content"] or ""):
            return labels[index]
    if not kept and not (fitted["content"] or "").startswith(tree["content"] or ""):
        return None
    return labels[len(kept)] if len(kept) < len(labels) else None


def _fingerprinted(body: dict[str, Any], timestamp: _Timestamp | None) -> dict[str, Any]:
    """What the fingerprint covers: the body, except a timestamp that is only the read time (it changes on
    every sync, so an unchanged record without a time field would otherwise never be skipped)."""
    if timestamp is None or timestamp.label is not None:
        return body
    return {key: value for key, value in body.items() if key != "timestamp"}


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """A field by dot path; a top-level key that itself contains dots wins over the path reading."""
    if path in data:
        return data[path]
    return get_path(data, path.split(".")) if "." in path else None


def created_field(data: Mapping[str, Any]) -> str | None:
    """The first top-level field of `data` named like a creation time (created_at, createdDate...)."""
    by_name = {
        _NAME_NOISE.sub("", k).lower(): k for k in data if isinstance(k, str) and len(k) <= _LONGEST_TIME_NAME
    }
    return next((by_name[name] for name in _CREATED_NAMES if name in by_name), None)


def _is_airbyte_column(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(("_airbyte_", "_ab_"))


def _tag_texts(value: Any) -> list[str]:
    """A value as tag texts: one per item of a list; '' for nulls, objects and arrays."""
    return [
        ""
        if item is None or isinstance(item, (Mapping, list, tuple))
        else clean_tag(scalar_text(item, REPLACEMENT))
        for item in (value if isinstance(value, list) else [value])
    ]


def _cap_tags(tags: list[str], marker_tags: list[str]) -> list[str]:
    """Field tags give way so that the stream and marker tags always fit in MAX_TAGS."""
    system = [t for t in tags if is_system_tag(t)]
    custom = [t for t in tags if not is_system_tag(t)]
    room = MAX_TAGS - len(system) - len(marker_tags)
    return custom[:room] + system + marker_tags


def _key_text(value: Any) -> str:
    """A key value in a fallback title; null and blank strings spelled as JSON so the title is never blank."""
    if value is None:
        return "null"
    if isinstance(value, (Mapping, list, tuple)):
        return compact_json(value)
    return single_line(scalar_text(value, REPLACEMENT)) or '""'


def _cut_title(title: str) -> str:
    if utf16_len(title) <= MAX_TITLE:
        return title
    return cut_utf16(title, MAX_TITLE - 1).rstrip() + "…"


def _time_label(field_name: str) -> str:
    last = field_name.rsplit(".", 1)[-1]
    return "createdAt" if _NAME_NOISE.sub("", last).lower() in _CREATED_NAMES else "updatedAt"


def timestamp_ms(value: Any) -> int | None:
    """A document timestamp from a field's value (timestamps.py, e-mail dates included), or None when it is
    not a date or is before 1970 (Dust multiplies a negative timestamp by 1000)."""
    epoch = epoch_ms(value.strip() if isinstance(value, str) else value, email_dates=True)
    return epoch if epoch is not None and 0 <= epoch <= MAX_EPOCH_MS else None


_FORBIDDEN_HOST = re.compile(r"[^A-Za-z0-9.\-_]")
_IPV6_AUTHORITY = re.compile(r"^\[[0-9A-Fa-f:.]+\](:\d*)?$")


def valid_source_url(value: str) -> str | None:
    """The URL when Dust's front would accept it as source_url, else None. Conservative: a URL this refuses
    might pass Dust's WHATWG parser, but one this accepts always does (http/https, a plain host, a valid port,
    no `//` in the path, no whitespace, control characters or backslashes anywhere)."""
    url = value.strip()
    if not url or len(url) > 8192 or any(ch.isspace() or ord(ch) < 0x20 or ch in "\\\x7f" for ch in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not url.lower().startswith(
        f"{parts.scheme.lower()}://"
    ):
        return None
    host = parts.hostname or ""
    if not _valid_host(host) or (port is not None and not 0 < port <= 65535):
        return None
    if ":" in host and not _IPV6_AUTHORITY.match(parts.netloc.rsplit("@", 1)[-1]):
        return None
    if "//" in parts.path:
        return None
    return url


def _valid_host(host: str) -> bool:
    if not host:
        return False
    if ":" in host:  # urlsplit strips the brackets of an IPv6 literal
        return all(ch in "0123456789abcdefABCDEF:." for ch in host)
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    if _FORBIDDEN_HOST.search(host) or host.startswith(".") or ".." in host:
        return False
    last_label = host.rstrip(".").rsplit(".", 1)[-1]
    if last_label.isdigit() or last_label.lower().startswith("0x"):
        # WHATWG parses such a host as an IPv4 address and refuses it unless it is one
        try:
            ipaddress.IPv4Address(host.rstrip("."))
        except ValueError:
            return False
    return True
