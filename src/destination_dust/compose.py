"""Composed documents: a parent record and its child records (a ticket and its comments) as one Dust document.
Pure: no HTTP, no threads (compose_sink.py schedules the writes).

The document Dust stores is also our only memory between syncs (a sync runs in a fresh container), so its
text is built to be read back exactly. The root section's prefix is the header (`$title`, `$updatedAt`, the
parent's key and tag fields), repeated by Dust in every chunk; then one section without a prefix per part,
each opening with a one-line machine-readable marker:

    <!--airbyte:parent ts=1732178400000-->        the parent's own rendering (empty until the parent arrives)
    <!--airbyte:omitted n=12-->                   only when the size cap left older children out
    <!--airbyte:child id=3f2a9c1b0d4e5f66 src=9a1b2c3d order=t001732178400000 ts=1732178400000-->
    ### Ada Lovelace at 2024-11-21T08:40:00Z      one per child, in order: its heading, then its fields

Dust's GET answer flattens the sections into `text` (prefixes and contents, depth first). The markers survive
any flattening that keeps the text's order, so a later sync rebuilds the document from that text without
parsing free text: the header is what precedes the parent marker, each part is what lies between two
markers. Record text that happens to contain a marker's opening is defanged (`<!--airbyte:` -> `<!-- airbyte:`).
Trailing blank lines of a part are normalised, so a flattening that adds separators changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from destination_dust.documents import MIME_TYPE, ROOT_PREFIX_MAX_BYTES
from destination_dust.render import cut_utf16, utf16_len
from destination_dust.tags import is_system_tag
from destination_dust.timestamps import iso_ms

MARK = "<!--airbyte:"
_DEFANGED = "<!-- airbyte:"
_MARKER = re.compile(r"<!--airbyte:(parent|child|omitted)((?: [a-z]+=[A-Za-z0-9_.\-]*)*)-->\n?")
TIME_LINES = ("$updatedAt: ", "$createdAt: ")


def defang(text: str) -> str:
    """Record text with any marker opening broken, so only our markers split a stored document."""
    return text.replace(MARK, _DEFANGED) if MARK in text else text


def short_hash(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def order_token(value: Any, epoch: int | None, arrival: int | None) -> str:
    """A string whose plain sort is the children's order. One stream's values are usually all of one kind:
    numbers (`n`), text (`s` + hex of its UTF-8, which sorts like the bytes), times (`t` + 15 digits of epoch
    ms); children without a value come last, by arrival (emitted_at)."""
    if epoch is not None:
        return f"t{epoch:015d}"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 2**62:
        return f"n{int(value) + 2**62:019d}"
    if isinstance(value, str) and value:
        return "s" + value.encode("utf-8", "surrogatepass")[:24].hex()
    return f"z{max(0, arrival or 0):015d}"


@dataclass(frozen=True)
class Child:
    """One child's part: `key` (a hash of the child's own document id), `source` (a hash of its stream),
    `order` (order_token), `timestamp` (ms of its own time field, None without one) and `text` (heading and
    fields, ending in one newline)."""

    key: str
    source: str
    order: str
    timestamp: int | None
    text: str

    def marker(self) -> str:
        ts = "-" if self.timestamp is None else str(self.timestamp)
        return f"{MARK}child id={self.key} src={self.source} order={self.order} ts={ts}-->\n"


@dataclass(frozen=True)
class ParentPart:
    """What the parent record contributes: title, header lines (without the time line), its rendered text,
    its own time, its field tags and its source_url."""

    title: str
    header: tuple[str, ...]
    text: str
    timestamp: int | None
    field_tags: tuple[str, ...] = ()
    source_url: str | None = None


@dataclass
class ComposedDocument:
    document_id: str
    parent: ParentPart
    children: dict[str, Child] = field(default_factory=dict)
    omitted: int = 0
    placeholder: bool = False  # the parent record was never seen: titled from the parent stream and key

    @property
    def timestamp(self) -> int | None:
        """The latest of the parent's and the children's times."""
        times = [c.timestamp for c in self.children.values() if c.timestamp is not None]
        if self.parent.timestamp is not None:
            times.append(self.parent.timestamp)
        return max(times) if times else None

    def ordered(self) -> list[Child]:
        return sorted(self.children.values(), key=lambda c: (c.order, c.key))


def placeholder(document_id: str, title: str, stream_line: str) -> ComposedDocument:
    header = (f"$title: {title}\n", stream_line)
    return ComposedDocument(document_id, ParentPart(title, header, "", None), placeholder=True)


def parent_part(body: Mapping[str, Any], timestamp: int | None) -> ParentPart:
    """The parent's contribution, from the upsert body its stream's DocumentRenderer made."""
    section = body["section"]
    header = tuple(line for line in _lines(section["prefix"] or "") if not line.startswith(TIME_LINES))
    text = section_text(section)[len(section["prefix"] or "") :]
    tags = tuple(t for t in body.get("tags") or () if not is_system_tag(t))
    return ParentPart(body["title"], header, _normal(text), timestamp, tags, body.get("source_url"))


def section_text(section: Mapping[str, Any]) -> str:
    """Dust's sectionFullText: prefixes and contents, depth first, nothing in between."""
    parts = [(section.get("prefix") or "") + (section.get("content") or "")]
    parts += [section_text(child) for child in section.get("sections") or ()]
    return "".join(parts)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _header_lines(text: str) -> tuple[str, ...]:
    """The header's lines without the time line (rebuilt from the parts) and blank separator lines."""
    return tuple(line for line in _lines(text) if line.strip() and not line.startswith(TIME_LINES))


def _normal(text: str) -> str:
    """One trailing newline (none for an empty part): what a part is, whatever separators were added."""
    stripped = text.rstrip("\n")
    return stripped + "\n" if stripped else ""


def _attributes(raw: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in raw.split())


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "-") else None
    except ValueError:
        return None


def stored_text(stored: Mapping[str, Any]) -> str | None:
    """The flattened text of a document as Dust's GET returns it; from `section` when `text` is missing."""
    text = stored.get("text")
    if isinstance(text, str):
        return text
    section = stored.get("section")
    return section_text(section) if isinstance(section, dict) else None


def parse_stored(stored: Mapping[str, Any], tags_of_ours: Callable[[str], bool]) -> ComposedDocument | None:
    """A document as Dust holds it, read back into parts. A stored document without our markers (written by
    an earlier, uncomposed sync of the parent stream) becomes its parent part: the `$` header lines, then
    the rest. None when there is no text to read."""
    text = stored_text(stored)
    if text is None:
        return None
    title = str(stored.get("title") or "")
    tags = [t for t in stored.get("tags") or () if isinstance(t, str)]
    if f"title:{title}" in tags:
        tags.remove(f"title:{title}")  # Dust adds it when the upsert sent none
    field_tags = tuple(t for t in tags if not tags_of_ours(t))
    source_url = stored.get("source_url") if isinstance(stored.get("source_url"), str) else None
    matches = list(_MARKER.finditer(text))
    if not matches or matches[0].group(1) != "parent":
        lines = _lines(text)
        count = next((i for i, line in enumerate(lines) if not line.startswith("$")), len(lines))
        header = _header_lines("".join(lines[:count]))
        part = ParentPart(
            title, header, _normal(defang("".join(lines[count:]))), None, field_tags, source_url
        )
        return ComposedDocument(str(stored.get("document_id")), part)
    header = _header_lines(text[: matches[0].start()])
    document = ComposedDocument(str(stored.get("document_id")), ParentPart(title, header, "", None))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = _normal(text[match.end() : end])
        attributes = _attributes(match.group(2))
        kind = match.group(1)
        if kind == "parent":
            timestamp = _int_or_none(attributes.get("ts"))
            document.parent = ParentPart(title, header, body, timestamp, field_tags, source_url)
            document.placeholder = attributes.get("placeholder") == "1"
        elif kind == "omitted":
            document.omitted = _int_or_none(attributes.get("n")) or 0
        elif "id" in attributes:
            child = Child(
                attributes["id"],
                attributes.get("src", ""),
                attributes.get("order", "z"),
                _int_or_none(attributes.get("ts")),
                body,
            )
            document.children[child.key] = child
    return document


@dataclass(frozen=True)
class ComposedBody:
    body: dict[str, Any]
    fingerprint: str
    kept: int  # children in the text
    left_out: int  # children the size cap left out in this build


def build_body(
    document: ComposedDocument,
    system_tags: Iterable[str],
    marker_tags: Callable[[str], list[str]],
    limit: int,
    child_label: str = "records",
) -> ComposedBody:
    """The upsert body: header, parent part, then children, newest first until `limit` UTF-16 units are
    used, with a visible note of how many older ones were left out (the cap never fails a sync)."""
    timestamp = document.timestamp
    header = defang(_header(document.parent.header, timestamp))
    parent_marker = (
        f"{MARK}parent ts={'-' if document.parent.timestamp is None else document.parent.timestamp}"
    )
    parent_marker += " placeholder=1-->\n" if document.placeholder else "-->\n"
    children = document.ordered()
    fixed = utf16_len(header) + utf16_len(parent_marker)
    parent_text = defang(document.parent.text)
    if fixed + utf16_len(parent_text) > limit:
        parent_text = _normal(cut_utf16(parent_text, max(0, limit - fixed - 200)))
    used = fixed + utf16_len(parent_text)
    texts = [child.marker() + defang(child.text) for child in children]
    sizes = [utf16_len(text) for text in texts]
    if used + sum(sizes) <= limit:
        count = len(children)
    else:  # the newest that fit, with room for the note saying how many older ones were left out
        room, count = limit - used - 200, 0
        while count < len(children) and sizes[-1 - count] <= room:
            room -= sizes[-1 - count]
            count += 1
    kept = texts[len(texts) - count :]
    left_out = len(children) - count
    omitted = document.omitted + left_out
    sections = [_part(parent_marker + parent_text)]
    if omitted:
        note = (
            f"{MARK}omitted n={omitted}-->\n[{omitted:,} older {child_label} left out: this document reached "
            "max_document_size_mb]\n"
        )
        sections.append(_part(note))
    sections += [_part(text) for text in kept]
    body: dict[str, Any] = {
        "title": document.parent.title,
        "section": {"prefix": header, "content": None, "sections": sections},
        "tags": [*document.parent.field_tags, *system_tags],
    }
    if timestamp is not None:
        body["timestamp"] = timestamp
    if document.parent.source_url:
        body["source_url"] = document.parent.source_url
    body["mime_type"] = MIME_TYPE
    body["light_document_output"] = True
    fingerprint = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    body["tags"] = [*body["tags"], *marker_tags(fingerprint)]
    return ComposedBody(body, fingerprint, count, left_out)


def _part(content: str) -> dict[str, Any]:
    return {"prefix": None, "content": content, "sections": []}


def _header(lines: tuple[str, ...], timestamp: int | None) -> str:
    """The title line, the document's time, then the other header lines while they fit the prefix budget."""
    head = list(lines[:1])
    if timestamp is not None:
        head.append(f"$updatedAt: {iso_ms(timestamp)}\n")
    used = sum(len(line.encode("utf-8")) for line in head)
    for line in lines[1:]:
        size = len(line.encode("utf-8"))
        if used + size <= ROOT_PREFIX_MAX_BYTES:
            head.append(line)
            used += size
    return "".join(head)


def without_children_of(document: ComposedDocument, source: str, keep: set[str]) -> ComposedDocument:
    """The document without the children of stream `source` whose keys are not in `keep` (overwrite)."""
    children = {k: c for k, c in document.children.items() if c.source != source or k in keep}
    return replace(document, children=children)
