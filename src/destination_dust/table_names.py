"""The SQL name of each stream's table: chosen once, then kept for as long as the stream is synced.

A stream's table is found by its `table_id`, which depends on (table_id_prefix, namespace, stream) alone
(`table_id_for`). The connector keeps nothing between syncs: at the start of each sync it lists the data
source's tables once, and `assign_table_names` decides against that listing:

- a stream whose table exists keeps the name that table has now, whatever else changed (streams added,
  dropped or renamed, a second namespace), including a name a user gave it in Dust;
- a new stream gets the first free name of: `{prefix}{stream}` (skipped when a stream of another namespace
  in the catalog has the same name), `{prefix}{namespace}_{stream}` (streams with a namespace), then the
  last of those with `_2`, `_3`, ... A name is free when no table of the data source holds it (ours or
  not, compared without case: SQL names are case-insensitive) and no other stream of this sync took it.
  New streams are named in (namespace, stream) order, so one catalog against one listing gives one result;
- a table found under a stream's table_id that lacks the stream's `airbyte:stream:` tag was made by
  another tool: the sync stops with a config error instead of writing into it.

Names are slugs (slug.slugify). Table ids keep the shape of version 0.1: the plain `{prefix}{stream}` when
that is a slug of at most MAX_TABLE_ID_LENGTH characters and there is no namespace, otherwise its legacy slug
(namespace included) plus `-` and a hash of (prefix, namespace, stream); slugs never contain `-`, so the two
shapes cannot meet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from destination_dust.catalog import StreamKey
from destination_dust.errors import ConfigError
from destination_dust.slug import NameRegistry, is_slug, legacy_slugify, slugify
from destination_dust.tags import stream_tag

MAX_TABLE_ID_LENGTH = 128
_ID_HASH_CHARS = 12


@dataclass(frozen=True)
class TableName:
    name: str  # the SQL identifier the agent queries; unique in the data source
    table_id: str  # Dust's upsert key: stable across runs
    title: str  # shown in Dust's UI
    is_new: bool = True  # no table had this table_id when the sync started
    columns: frozenset[str] = frozenset()  # the columns the existing table has (its schema at the start)


def table_id_for(key: StreamKey, prefix: str) -> str:
    """Deterministic and injective over (prefix, namespace, stream); readable when the name is simple."""
    plain = prefix + key.name
    if key.namespace is None and is_slug(plain) and len(plain) <= MAX_TABLE_ID_LENGTH:
        return plain
    readable = legacy_slugify(
        prefix + (f"{key.namespace}_" if key.namespace else "") + key.name, fallback="table"
    )
    identity = orjson.dumps([prefix, key.namespace, key.name])
    digest = hashlib.sha256(identity).hexdigest()[:_ID_HASH_CHARS]
    head = readable[: MAX_TABLE_ID_LENGTH - _ID_HASH_CHARS - 1]
    return f"{head}-{digest}"


def assign_table_names(
    streams: Iterable[StreamKey], prefix: str, listing: Iterable[Mapping[str, Any]]
) -> dict[StreamKey, TableName]:
    """A name, the table_id and a title for each stream, given the data source's tables as Dust lists them
    (`{name, table_id, tags, schema}`; rules in the module docstring)."""
    keys = sorted(set(streams), key=lambda key: (key.namespace or "", key.name))
    tables = {
        table["table_id"]: table
        for table in listing
        if isinstance(table.get("table_id"), str) and isinstance(table.get("name"), str)
    }
    names: dict[StreamKey, TableName] = {}
    new: list[StreamKey] = []
    for key in keys:
        table_id = table_id_for(key, prefix)
        table = tables.get(table_id)
        if table is None:
            new.append(key)
            continue
        _check_ours(table, key)
        names[key] = TableName(table["name"], table_id, str(key), False, _columns(table))
    namespaces_by_slug: dict[str, set[str | None]] = {}
    for key in keys:
        namespaces_by_slug.setdefault(slugify(key.name), set()).add(key.namespace)
    candidates = {
        key: _candidates(key, prefix, len(namespaces_by_slug[slugify(key.name)]) > 1) for key in new
    }
    taken = NameRegistry(
        reserved=[str(table["name"]).lower() for table in tables.values()],
        avoid=[
            wanted[0] for wanted in candidates.values()
        ],  # a suffix never takes a name another new stream wants
    )
    for key in new:
        *first, last = candidates[key]
        name = next((c for c in first if c not in taken), None)
        names[key] = TableName(taken.claim(name or last), table_id_for(key, prefix), str(key))
    return names


def _candidates(key: StreamKey, prefix: str, namespace_shares_the_name: bool) -> list[str]:
    fallback = slugify(prefix, fallback="table")
    plain = slugify(prefix + key.name, fallback=fallback)
    if key.namespace is None:
        return [plain]
    qualified = slugify(f"{prefix}{key.namespace}_{key.name}", fallback=fallback)
    return [qualified] if namespace_shares_the_name else [plain, qualified]


def _check_ours(table: Mapping[str, Any], key: StreamKey) -> None:
    tags = table.get("tags")
    if isinstance(tags, list) and stream_tag(key.name) in tags:
        return
    raise ConfigError(
        f"stream {key}: the data source has a table with table_id {table['table_id']!r} (named "
        f"{table['name']!r}) that was not created by this connector (it lacks the tag "
        f"'{stream_tag(key.name)}'), and this stream's table would be written into it. Change "
        "table_id_prefix, or delete that table in Dust."
    )


def _columns(table: Mapping[str, Any]) -> frozenset[str]:
    schema = table.get("schema")
    if not isinstance(schema, list):
        return frozenset()
    return frozenset(
        str(column["name"]) for column in schema if isinstance(column, dict) and "name" in column
    )
