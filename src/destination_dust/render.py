"""Record fields -> Markdown text for a Dust document: short fields as `Field: value` lines, long ones as
`## Field` sections, nested values as readable sub-lines. Pure text work; documents.py decides which fields.

Shape of the rendered text (what an agent reads in a search hit, and can grep):

    status: open                      scalar (bools true/false, numbers as JSON spells them)
    requester.name: Ada Lovelace      nested objects are flattened into dotted labels
    tags: billing, export             short arrays of scalars are comma-joined
    comments:                         arrays of objects become `- ` bullets, one indented line per field
    - author: Ada
      at: 2024-05-01T10:00:00Z

    ## description                    a text longer than LONG_TEXT (or a block that big) gets its own section,
    <the text>                        so Dust repeats `## description` in each of its chunks

Nulls, blank strings and empty arrays/objects are left out. Objects nested deeper than MAX_DEPTH are written
as compact JSON (and that JSON itself stops after JSON_DEPTH more levels). Text is cleaned as text.py says for
documents: lone surrogates become U+FFFD, NUL characters are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from destination_dust.text import REPLACEMENT, clean_text, scalar_text, single_line

LONG_TEXT = 200  # characters: longer texts (and blocks) become `## Field` sections
MAX_DEPTH = 8  # nesting levels rendered as lines; deeper values become compact JSON
JSON_DEPTH = 32  # nesting levels kept inside that compact JSON
MAX_LABEL = 120  # characters of a field label (a path of long keys must not multiply the text)
MAX_SECTION_PREFIX_BYTES = 40  # `## label\n`; with the root header's budget, prefixes stay < 256 tokens

Section = dict[str, Any]  # Dust's {"prefix": str|None, "content": str|None, "sections": [Section]}


# --- text primitives


def utf16_len(text: str) -> int:
    """JavaScript's `string.length`, which Dust compares to its size limit."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cut_utf16(text: str, units: int) -> str:
    """The longest start of `text` at most `units` UTF-16 units long, never splitting a surrogate pair."""
    if units <= 0:
        return ""
    if text.isascii():
        return text[:units]
    encoded = text.encode("utf-16-le", "surrogatepass")[: 2 * units]
    if len(encoded) >= 2 and 0xD8 <= encoded[-1] <= 0xDB:  # a high surrogate whose pair was cut off
        encoded = encoded[:-2]
    return encoded.decode("utf-16-le", "surrogatepass")


def cut_bytes(text: str, max_bytes: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `max_bytes` UTF-8 bytes (with an ellipsis when cut), on a character boundary."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return text
    room = max(0, max_bytes - len(ellipsis.encode("utf-8")))
    return encoded[:room].decode("utf-8", "ignore") + ellipsis


def label_text(key: Any) -> str:
    """A field name as a readable label: one line, at most MAX_LABEL characters."""
    if isinstance(key, str) and _is_plain_label(key):
        return key  # the common case, without the regex work
    label = single_line(key if isinstance(key, str) else scalar_text(key, REPLACEMENT)) or "(blank)"
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _is_plain_label(key: str) -> bool:
    return (
        0 < len(key) <= MAX_LABEL
        and key.isascii()
        and key.isprintable()
        and key.strip() == key
        and "  " not in key
    )


def compact_json(value: Any) -> str:
    """Compact JSON for values nested too deep to render as lines. Written for a reader, so unlike a table
    cell's JSON (text.json_text, kept whole for json_extract) keys are labels and depth is cut with `…`."""
    return orjson.dumps(_jsonable(value, JSON_DEPTH)).decode("utf-8")


def _jsonable(value: Any, depth_left: int) -> Any:
    if isinstance(value, Mapping):
        if depth_left <= 0:
            return "…"
        return {label_text(k): _jsonable(v, depth_left - 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if depth_left <= 0:
            return "…"
        return [_jsonable(v, depth_left - 1) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return clean_text(value, REPLACEMENT) if isinstance(value, str) else value
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return scalar_text(value, REPLACEMENT)  # big ints, NaN, dates...: as text


# --- values -> lines


def _is_container(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple))


def _path_label(prefix: str, key: Any) -> str:
    """A dotted label, kept to MAX_LABEL characters (the end, the most specific part, is kept)."""
    label = prefix + label_text(key)
    return label if len(label) <= MAX_LABEL else "…" + label[-(MAX_LABEL - 1) :]


def _labelled(head: str, text: str, indent: str) -> list[str]:
    """`head` + text; further lines are indented under it (blank lines kept as paragraph breaks)."""
    first, *rest = text.split("\n")
    return [head + first] + [indent + line if line.strip() else "" for line in rest]


def _scalar_list_inline(items: list[Any]) -> str | None:
    """Short arrays of scalars as `a, b, c`; None when too long, or when a comma or a newline would make
    that ambiguous."""
    texts: list[str] = []
    length = 0
    for item in items:
        text = scalar_text(item, REPLACEMENT).strip() if item is not None else ""
        if "," in text or "\n" in text:
            return None
        if text:
            texts.append(text)
            length += len(text) + 2
            if length > LONG_TEXT + 2:
                return None
    return ", ".join(texts)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


@dataclass
class RenderedFields:
    """The body of a document: `Field: value` lines, then one (label, text) per long field.

    Rendering stops once `budget` characters were produced (the text would be truncated anyway): a record
    that is small on the wire but multiplies when flattened cannot exhaust memory. `complete` says whether
    every field made it, and `length` counts the characters produced."""

    budget: int = 2**62
    lines: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    length: int = 0

    @property
    def complete(self) -> bool:
        return self.length <= self.budget

    def _charge(self, lines: list[str]) -> list[str]:
        self.length += sum(len(line) + 1 for line in lines)
        return lines

    def add(self, label: str, value: Any, depth: int = 0) -> None:
        """One top-level field. Objects are flattened so that a long text inside one still gets a section."""
        if not self.complete:
            return
        if not isinstance(value, str) and isinstance(value, Mapping) and depth < MAX_DEPTH:
            for key, child in value.items():
                self.add(_path_label(label + ".", key), child, depth + 1)
            return
        inline, block = self.value_block(value, depth, "")
        if inline is not None:
            if len(inline) > LONG_TEXT:
                self.sections.append((label, inline))
                self.length += len(inline)
            else:
                self.lines += self._charge(_labelled(f"{label}: ", inline, "  "))
        elif block:
            if sum(len(line) + 1 for line in block) > LONG_TEXT:
                self.sections.append((label, "\n".join(block)))
            else:
                self.lines += [*self._charge([f"{label}:"]), *block]

    def value_block(self, value: Any, depth: int, indent: str) -> tuple[str | None, list[str]]:
        """A value as either inline text (for `label: text`) or a block of lines (for `label:` + block).
        Empty values give (None, []). Block lines are charged to the budget here; inline text is not."""
        if value is None:
            return None, []
        if isinstance(value, str):  # first: by far the most common value
            text = _normalise_newlines(clean_text(value, REPLACEMENT).strip())
            return (text, []) if text else (None, [])
        if isinstance(value, Mapping):
            if depth >= MAX_DEPTH:
                return compact_json(value), []
            return None, self.object_lines(value, depth + 1, indent)
        if isinstance(value, (list, tuple)):
            if not value:
                return None, []
            if depth >= MAX_DEPTH:
                return compact_json(value), []
            if not any(_is_container(v) for v in value):
                inline = _scalar_list_inline(list(value))
                if inline is not None:
                    return (inline or None), []
            return None, self.list_lines(value, depth + 1, indent)
        text = _normalise_newlines(scalar_text(value, REPLACEMENT).strip())
        return (text, []) if text else (None, [])

    def object_lines(self, obj: Mapping[Any, Any], depth: int, indent: str, prefix: str = "") -> list[str]:
        """`key: value` lines of an object; nested objects flattened into dotted labels."""
        lines: list[str] = []
        for key, value in obj.items():
            if not self.complete:
                break
            label = _path_label(prefix, key)
            if isinstance(value, Mapping) and depth < MAX_DEPTH:
                lines += self.object_lines(value, depth + 1, indent, prefix=label + ".")
                continue
            inline, block = self.value_block(value, depth, indent)
            if inline is not None:
                lines += self._charge(_labelled(f"{indent}{label}: ", inline, indent + "  "))
            elif block:
                lines += [*self._charge([f"{indent}{label}:"]), *block]
        return lines

    def list_lines(self, items: Iterable[Any], depth: int, indent: str) -> list[str]:
        """One `- ` bullet per item; an object item's fields are the bullet's indented lines."""
        lines: list[str] = []
        for item in items:
            if not self.complete:
                break
            if isinstance(item, Mapping) and depth < MAX_DEPTH:
                fields = self.object_lines(item, depth + 1, indent + "  ")
                if fields:
                    lines += [indent + "- " + fields[0][len(indent) + 2 :], *fields[1:]]
                continue
            inline, block = self.value_block(item, depth, indent + "  ")
            if inline is not None:
                lines += self._charge(_labelled(f"{indent}- ", inline, indent + "  "))
            elif block:
                lines += [*self._charge([f"{indent}-"]), *block]
        return lines


# --- record -> section tree


def render_fields(fields: Iterable[tuple[str, Any]], budget: int = 2**62) -> RenderedFields:
    rendered = RenderedFields(budget=budget)
    for label, value in fields:
        if not rendered.complete:
            break
        rendered.add(label, value)
    return rendered


def section_prefix(label: str) -> str:
    return cut_bytes(f"## {label}", MAX_SECTION_PREFIX_BYTES - 1) + "\n"


def build_section(header: str, rendered: RenderedFields) -> Section:
    """The root section: the header as its prefix (repeated in every chunk), the short lines as its content,
    one child section per long field. Every section carries all three keys (Dust's schema requires them)."""
    content = "\n".join(rendered.lines) + "\n" if rendered.lines else None
    children: list[Section] = [
        {"prefix": section_prefix(label), "content": text.rstrip("\n") + "\n", "sections": []}
        for label, text in rendered.sections
    ]
    return {"prefix": header, "content": content, "sections": children}


# --- size limit


def section_length(section: Section) -> int:
    """Dust's `sectionFullText(section).length`: prefixes and contents of the whole tree, in UTF-16 units."""
    total = 0
    stack = [section]
    while stack:
        node = stack.pop()
        total += utf16_len(node["prefix"] or "") + utf16_len(node["content"] or "")
        stack.extend(node["sections"])
    return total


def truncation_marker(original: int, limit: int, complete: bool = True) -> str:
    """The line that ends a cut document: the record's size (a lower bound when rendering stopped early)."""
    size = f"{original:,}" if complete else f"over {original:,}"
    return f"\n[truncated by Airbyte: the record was {size} characters, Dust's limit is {limit:,}]\n"


def fit_section(root: Section, limit: int, complete: bool = True) -> tuple[Section, int]:
    """Make the tree fit `limit` UTF-16 units: keep sections in order, trim the one that crosses the budget,
    drop the rest, and end with a visible marker. Returns (section, original length). Works on a root with
    one level of children (what build_section makes). `complete=False`: rendering stopped early, so the
    original length is a lower bound (and is said so)."""
    original = section_length(root)
    if original <= limit:
        return root, original
    marker = truncation_marker(original, limit, complete)
    prefix = root["prefix"] or ""
    budget = limit - utf16_len(marker)
    if budget < utf16_len(prefix):
        return _fit_header_only(prefix, limit), original
    used = utf16_len(prefix)
    content, used, cut = _fit_content(root["content"], budget - used, used)
    kept: list[Section] = []
    for child in [] if cut else root["sections"]:
        child_prefix_len = utf16_len(child["prefix"] or "")
        if used + child_prefix_len > budget:
            break
        used += child_prefix_len
        child_content, used, cut = _fit_content(child["content"], budget - used, used)
        kept.append({"prefix": child["prefix"], "content": child_content, "sections": []})
        if cut:
            break
    if kept:
        kept[-1]["content"] = _with_marker(kept[-1]["content"], marker)
    else:
        content = _with_marker(content, marker)
    return {"prefix": root["prefix"], "content": content, "sections": kept}, original


def _fit_content(content: str | None, room: int, used: int) -> tuple[str | None, int, bool]:
    """(content kept, new total used, whether it had to be cut)."""
    if content is None:
        return None, used, False
    length = utf16_len(content)
    if length <= room:
        return content, used + length, False
    kept = _cut_at_boundary(cut_utf16(content, room))
    return kept, used + utf16_len(kept), True


def _cut_at_boundary(text: str) -> str:
    """Prefer ending on a line break, else a space, when one is near the end (a cleaner cut for a reader)."""
    for separator, reach in (("\n", 2000), (" ", 200)):
        position = text.rfind(separator, max(0, len(text) - reach))
        if position > 0:
            return text[:position]
    return text


def _with_marker(content: str | None, marker: str) -> str:
    """The content that ends the kept text, with the marker as its last line. (A table cell's marker is another
    rule: it ends the cut cell itself and counts the characters cut, tables.fit_row.)"""
    if not content:
        return marker.lstrip("\n")
    return content.rstrip("\n") + marker


def _fit_header_only(prefix: str, limit: int) -> Section:
    """A limit smaller than the header (a config of a few bytes): whole header lines, then a short marker."""
    kept = ""
    for line in prefix.splitlines(keepends=True):
        if utf16_len(kept + line) > limit:
            break
        kept += line
    marker = "[truncated by Airbyte]\n"
    content = marker if utf16_len(kept) + len(marker) <= limit else None
    return {"prefix": kept or None, "content": content, "sections": []}
