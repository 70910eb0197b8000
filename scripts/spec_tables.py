"""The configuration tables of the docs page and the README, generated from spec.json (`make docs`).

    .venv/bin/python -m scripts.spec_tables     # rewrites both tables in place, says which files changed

Each table is the first `| Field |` table under the file's `## Configuration` heading; the text around it
is left as written. tests/packaging/test_docs.py fails when a committed table differs from this output.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from destination_dust.config import load_spec

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "integrations" / "destinations" / "dust.md"
README = ROOT / "README.md"
HEADING = "Configuration"


def properties(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The spec's fields in the order the Airbyte UI shows them (`order`, then name)."""
    props: dict[str, dict[str, Any]] = spec["connectionSpecification"]["properties"]
    return sorted(props.items(), key=lambda item: (item[1].get("order", 1_000), item[0]))


def required(spec: dict[str, Any]) -> set[str]:
    return set(spec["connectionSpecification"].get("required", []))


def render_default(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return ""
    value = prop["default"]
    text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text}`"


def render_type(prop: dict[str, Any]) -> str:
    kind = prop.get("type", "")
    if "enum" in prop:
        text = " \\| ".join(f"`{v}`" for v in prop["enum"])
    elif kind == "array":
        text = f"array of {prop.get('items', {}).get('type', 'any')}"
    elif kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        inner = prop["additionalProperties"]
        values = " \\| ".join(f"`{v}`" for v in inner.get("enum", [])) or inner.get("type", "any")
        text = f"object (stream → {values})"
    else:
        text = kind
    if prop.get("airbyte_secret"):
        text += " (secret)"
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def first_sentence(text: str) -> str:
    """Up to the first full stop that ends a sentence (not the one of "e.g." or "dts_...")."""
    return re.split(r"(?<=[a-z)\]]\.) (?=[A-Z])", text, maxsplit=1)[0]


Cell = Callable[[str, dict[str, Any], bool], str]  # (name, property, required) -> the cell's Markdown


def _described(summary: Callable[[str], str]) -> Cell:
    return lambda name, prop, _: (
        f"**{_cell(prop.get('title', name))}.** {_cell(summary(prop.get('description', '')))}"
    )


def _table(spec: dict[str, Any], columns: dict[str, Cell]) -> str:
    need = required(spec)
    lines = ["| Field | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name, prop in properties(spec):
        cells = [cell(name, prop, name in need) for cell in columns.values()]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _type(name: str, prop: dict[str, Any], need: bool) -> str:
    return render_type(prop)


def _required(name: str, prop: dict[str, Any], need: bool) -> str:
    return "yes" if need else "no"


def _default(name: str, prop: dict[str, Any], need: bool) -> str:
    return render_default(prop)


def docs_table(spec: dict[str, Any]) -> str:
    """Every field with its type, requiredness, default, title and description."""
    columns = {"Type": _type, "Required": _required, "Default": _default, "Description": _described(str)}
    return _table(spec, columns)


def readme_table(spec: dict[str, Any]) -> str:
    """The short form: requiredness, default, title and the description's first sentence (the docs page has
    the whole description)."""
    columns = {"Required": _required, "Default": _default, "What it is": _described(first_sentence)}
    return _table(spec, columns)


TABLES: dict[Path, Callable[[dict[str, Any]], str]] = {DOCS: docs_table, README: readme_table}


def section_lines(lines: list[str], heading: str) -> range | None:
    """Indexes of the lines under a `## heading`, up to the next heading of the same or a higher level."""
    for i, line in enumerate(lines):
        match = re.match(r"^(#+)\s+(.*?)\s*$", line)
        if match and match.group(2).lower() == heading.lower():
            level = len(match.group(1))
            end = next(
                (
                    j
                    for j in range(i + 1, len(lines))
                    if (m := re.match(r"^(#+)\s", lines[j])) and len(m.group(1)) <= level
                ),
                len(lines),
            )
            return range(i + 1, end)
    return None


def section(markdown: str, heading: str) -> str | None:
    """The text under a `## heading`, or None."""
    lines = markdown.splitlines()
    span = section_lines(lines, heading)
    return None if span is None else "\n".join(lines[i] for i in span)


def with_table(markdown: str, table: str) -> str:
    """`markdown` with its first `| Field |` table under `## Configuration` replaced by `table`."""
    lines = markdown.splitlines(keepends=True)
    span = section_lines([line.rstrip("\n") for line in lines], HEADING)
    start = next((i for i in span or () if re.match(r"^\|\s*Field\s*\|", lines[i])), None)
    if start is None:
        raise ValueError(f"no `| Field | ...` table under a `## {HEADING}` heading")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "".join(lines[:start]) + table + "".join(lines[end:])


def regenerated(path: Path, spec: dict[str, Any] | None = None) -> str:
    """The file's text with its table generated from the spec."""
    return with_table(path.read_text(encoding="utf-8"), TABLES[path](spec or load_spec()))


def main() -> int:
    spec = load_spec()
    for path in TABLES:
        text = regenerated(path, spec)
        if text != path.read_text(encoding="utf-8"):
            path.write_text(text, encoding="utf-8")
            sys.stdout.write(f"updated {path.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
