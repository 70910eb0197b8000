"""The connector's own tags on Dust documents and tables (all start with `airbyte:`), built and read here.

- `airbyte:stream:{name}`, `airbyte:namespace:{namespace}`: which stream a document or table belongs to (the
  clean-up deletes only what carries them, sweep.py);
- `airbyte:generation:{id}`: the sync generation that wrote it (refresh clean-ups);
- `airbyte:fp:{16 hex}`: the start of the document's fingerprint (an unchanged document is not sent again).

Document tags are one line each (`clean_tag`), like every tag a document carries; a table's tags keep its
stream's names as they are: the tables already in Dust carry them so, and `owns_table` must still know them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from destination_dust.catalog import StreamKey
from destination_dust.text import single_line

SYSTEM = "airbyte:"  # every tag below; a document's field tags are `field:value`
STREAM = "airbyte:stream:"
NAMESPACE = "airbyte:namespace:"
GENERATION = "airbyte:generation:"
FINGERPRINT = "airbyte:fp:"
FINGERPRINT_CHARS = 16


def clean_tag(text: str) -> str:
    """A document tag's text: one line, without characters Dust cannot store."""
    return single_line(text)


def is_system_tag(tag: str) -> bool:
    """Ours (stream, namespace, generation, fingerprint), not a field tag."""
    return tag.startswith(SYSTEM)


def stream_tag(name: str) -> str:
    return STREAM + name


def stream_tags(key: StreamKey, one_line: bool) -> list[str]:
    """The stream tag, and the namespace tag when the stream has one: `one_line` for documents (module doc)."""
    spell = clean_tag if one_line else str
    tags = [stream_tag(spell(key.name))]
    if key.namespace:
        tags.append(NAMESPACE + spell(key.namespace))
    return tags


def names_stream(tags: Any, key: StreamKey, one_line: bool) -> bool:
    """Do `tags` name the stream and exactly its namespace (none for a stream without one)?"""
    tag_set = {t for t in tags if isinstance(t, str)} if isinstance(tags, list) else set()
    ours = stream_tags(key, one_line)
    return ours[0] in tag_set and {t for t in tag_set if t.startswith(NAMESPACE)} == set(ours[1:])


def generation_tag(generation: int) -> str:
    return f"{GENERATION}{generation}"


def generation_of(tags: Iterable[str]) -> int | None:
    """The generation a document (or table) was written with; None when untagged or unreadable."""
    found = None
    for tag in tags:
        if isinstance(tag, str) and tag.startswith(GENERATION):
            try:
                value = int(tag[len(GENERATION) :])
            except ValueError:
                return None
            if found is not None and found != value:
                return None  # two different generations: not ours to judge
            found = value
    return found


def marker_tags(generation: int | None, fingerprint: str) -> list[str]:
    """A document's last tags: its generation (when the stream has one), then its fingerprint."""
    tags = [] if generation is None else [generation_tag(generation)]
    return [*tags, FINGERPRINT + fingerprint[:FINGERPRINT_CHARS]]


def fingerprint_tags(tags: Iterable[str]) -> set[str]:
    return {t for t in tags if t.startswith(FINGERPRINT)}
