"""Deterministic, injective ids for documents and rows.

Shape: `[<namespace>~]<stream>-<key part>-<key part>...`, e.g. `users-42`, `public~orders-7-2`.
Each name and key part is escaped so that the separators `-` and `~` never appear inside it: characters
outside `[A-Za-z0-9_.]` become `%XX` (UTF-8 bytes). An empty string is `~e`, a null is `~n`. So distinct
(namespace, stream, key) always give distinct ids, and simple keys stay readable.

Ids longer than MAX_ID_LENGTH keep a readable head and end with `~h<sha256>`: distinct inputs then
collide only if SHA-256 does. Records without a primary key get `<stream>-~c<sha256 of the record>`, so
resending the same record is idempotent.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from destination_dust.catalog import StreamKey

MAX_ID_LENGTH = 200
_HASH_CHARS = 40
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")


def escape(part: str) -> str:
    """Escape one component so it contains neither `-` nor `~` (both are separators)."""
    if part == "":
        return "~e"
    if all(ch in _SAFE for ch in part):
        return part
    out: list[str] = []
    for ch in part:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def key_part(value: Any) -> str:
    """One primary-key value as an id component. 42 and "42" are the same key on purpose: sources drift
    between int and string ids, and that must not duplicate the document."""
    if value is None:
        return "~n"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, (dict, list)):
        return escape(canonical_json(value).decode("utf-8"))
    return escape(str(value))


def canonical_json(value: Any) -> bytes:
    """Stable bytes for hashing: sorted keys, non-string keys allowed."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)


def content_hash(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


def _bounded(text: str) -> str:
    if len(text) <= MAX_ID_LENGTH:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    head = text[: MAX_ID_LENGTH - _HASH_CHARS - 2]
    return f"{head}~h{digest}"


def stream_prefix(stream: StreamKey) -> str:
    """Every id of a stream starts with this prefix (followed by `-`): how we recognise our own documents."""
    name = escape(stream.name)
    return f"{escape(stream.namespace)}~{name}" if stream.namespace else name


def key_suffix(pk_values: Sequence[Any] | None, data: Mapping[str, Any]) -> str:
    """The key part of an id: escaped primary-key values, or a content hash without a primary key."""
    if pk_values is None:
        return "~c" + content_hash(data)[:_HASH_CHARS]
    return "-".join(key_part(v) for v in pk_values)


def document_id(stream: StreamKey, pk_values: Sequence[Any] | None, data: Mapping[str, Any]) -> str:
    return _bounded(f"{stream_prefix(stream)}-{key_suffix(pk_values, data)}")


def row_id(pk_values: Sequence[Any] | None, data: Mapping[str, Any]) -> str:
    """Rows live in one table per stream, so the stream is not part of the row id."""
    return _bounded(key_suffix(pk_values, data))
