"""Deterministic, injective ids for documents and rows.

Shape: `[<namespace>~]<stream>-<key part>-<key part>...`, e.g. `users-42`, `public~orders-7-2`.
Each name and key part is escaped so that the separators `-` and `~` never appear inside it: characters
outside `[A-Za-z0-9_.]` become `%XX` (UTF-8 bytes). An empty string is `~e`, a null is `~n`. So distinct
(namespace, stream, key) always give distinct ids, and simple keys stay readable.

Ids longer than MAX_ID_LENGTH keep a readable head and end with `~h<sha256>`: distinct inputs then
collide only if SHA-256 does.

Key values are compared by their text, on purpose (sources drift between types): 42, 42.0 and "42" are one
key, and so are true and "true", and an object and its canonical JSON text. Every other pair of distinct
(namespace, stream, key) gets distinct ids (property-tested in tests/unit/test_ids.py).

Records without a primary key get `<stream>-~c<sha256 of the record>`, so resending the same record is
idempotent.
"""

from __future__ import annotations

import hashlib
import json
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
    if isinstance(value, int):
        return _int_text(value)
    return escape(str(value))


_PLAIN_INT_LIMIT = 10**18  # str() of a smaller non-negative int is digits only, well under MAX_ID_LENGTH


def plain_key_part(value: Any) -> str | None:
    """`row_id([value], ...)` for the commonest key values, cheaply: a non-negative int below 10^18, or a
    non-empty ASCII alphanumeric string of at most MAX_ID_LENGTH characters (nothing to escape or shorten).
    None for any other value: then take the general path."""
    if type(value) is int:
        return str(value) if 0 <= value < _PLAIN_INT_LIMIT else None
    if type(value) is str and value.isalnum() and value.isascii() and len(value) <= MAX_ID_LENGTH:
        return value
    return None


def _int_text(value: int) -> str:
    """Decimal digits (`-` escaped), or `~x<hex>` past Python's 4,300-digit str() limit (`~` never comes out
    of escape(), so this cannot meet a string key)."""
    try:
        return escape(str(value))
    except ValueError:
        return "~x" + escape(format(value, "x"))


def canonical_json(value: Any) -> bytes:
    """Stable bytes for hashing: sorted keys, non-string keys allowed. Values orjson refuses (lone surrogates,
    integers past 64 bits, nesting deeper than 254) take a slower exact path instead of failing the sync."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _canonical_slow(value).encode("ascii")


def _canonical_slow(value: Any) -> str:
    """JSON-like text with sorted keys, ASCII only, built with an explicit stack (any depth)."""
    out: list[str] = []
    stack: list[tuple[bool, Any]] = [(False, value)]  # (is raw text, item)
    while stack:
        is_raw, item = stack.pop()
        if is_raw:
            out.append(item)
        elif isinstance(item, Mapping):
            pairs = sorted(((str(k), v) for k, v in item.items()), key=lambda pair: pair[0])
            pending: list[tuple[bool, Any]] = [(True, "{")]
            for index, (key, child) in enumerate(pairs):
                pending += [(True, ("," if index else "") + _ascii_json_string(key) + ":"), (False, child)]
            stack.extend(reversed([*pending, (True, "}")]))
        elif isinstance(item, (list, tuple)):
            pending = [(True, "[")]
            for index, child in enumerate(item):
                pending += [(True, ",")] if index else []
                pending.append((False, child))
            stack.extend(reversed([*pending, (True, "]")]))
        else:
            out.append(_scalar_json(item))
    return "".join(out)


def _ascii_json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)  # lone surrogates become \udXXX escapes


def _scalar_json(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:
            return "0x" + format(value, "x")
    if isinstance(value, float):
        return repr(value)  # nan/inf included: this text is hashed, never parsed
    return _ascii_json_string(value if isinstance(value, str) else str(value))


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
