"""The configuration tables of the docs page and the README, generated from spec.json and parsed back.

    .venv/bin/python -m tests.packaging.spec_tables docs     # the docs page's field table
    .venv/bin/python -m tests.packaging.spec_tables readme   # the README's `## Configuration` table

Both tables have the field name (in backticks) in the first column; tests/packaging/test_docs.py parses them
back and compares every field, its requiredness and its default with spec.json.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "src" / "destination_dust" / "spec.json"


def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


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


MISSING = object()


def parse_default(cell: str) -> Any:
    """A default cell back to a value: empty means no default; `"x"` (JSON) and `x` (bare) both mean "x"."""
    text = cell.strip()
    if text in {"", "-", "—"}:
        return MISSING
    text = text.strip("`")
    try:
        return json.loads(text)
    except ValueError:
        return text


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


def render_docs_table(spec: dict[str, Any]) -> str:
    need = required(spec)
    lines = ["| Field | Type | Required | Default | Description |", "|---|---|---|---|---|"]
    for name, prop in properties(spec):
        lines.append(
            f"| `{name}` | {render_type(prop)} | {'yes' if name in need else 'no'} | {render_default(prop)} "
            f"| **{_cell(prop.get('title', name))}.** {_cell(prop.get('description', ''))} |"
        )
    return "\n".join(lines) + "\n"


def render_readme_table(spec: dict[str, Any]) -> str:
    need = required(spec)
    lines = ["| Field | Required | Default | What it does |", "|---|---|---|---|"]
    for name, prop in properties(spec):
        lines.append(
            f"| `{name}` | {'yes' if name in need else 'no'} | {render_default(prop)} | "
            f"{_cell(prop.get('title', name))} |"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Row:
    field: str
    cells: tuple[str, ...]  # every cell after the field name, stripped


_ROW = re.compile(r"^\|\s*`([A-Za-z0-9_]+)`\s*\|(.*)\|\s*$")


def split_cells(rest: str) -> tuple[str, ...]:
    # split on unescaped pipes only
    return tuple(c.strip() for c in re.split(r"(?<!\\)\|", rest))


def parse_field_table(markdown: str, header_first_cell: str = "Field") -> list[Row]:
    """Rows of the first Markdown table whose header starts with `| Field |`, field names in backticks."""
    rows: list[Row] = []
    in_table = False
    for line in markdown.splitlines():
        stripped = line.strip()
        if not in_table:
            if re.match(rf"^\|\s*{header_first_cell}\s*\|", stripped):
                in_table = True
            continue
        if not stripped.startswith("|"):
            break
        if re.match(r"^\|[\s:|-]+\|$", stripped):
            continue  # the separator
        match = _ROW.match(stripped)
        if match is None:
            rows.append(Row(field="", cells=split_cells(stripped.strip("|"))))
            continue
        rows.append(Row(field=match.group(1), cells=split_cells(match.group(2))))
    return rows


def section(markdown: str, heading: str) -> str | None:
    """The text under a `## heading` (up to the next heading of the same or a higher level), or None."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(#+)\s+(.*?)\s*$", line)
        if match and match.group(2).lower() == heading.lower():
            level = len(match.group(1))
            body: list[str] = []
            for nxt in lines[i + 1 :]:
                m2 = re.match(r"^(#+)\s", nxt)
                if m2 and len(m2.group(1)) <= level:
                    break
                body.append(nxt)
            return "\n".join(body)
    return None


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "docs"
    spec = load_spec()
    if which == "docs":
        sys.stdout.write(render_docs_table(spec))
    elif which == "readme":
        sys.stdout.write(render_readme_table(spec))
    else:
        sys.stderr.write("usage: python -m tests.packaging.spec_tables docs|readme\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
