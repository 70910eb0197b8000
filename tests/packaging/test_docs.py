"""The configuration tables of the docs page and the README are what `make docs` generates from spec.json,
and the generator lists exactly the spec's fields, with their requiredness and defaults."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scripts.spec_tables import (
    DOCS,
    ROOT,
    TABLES,
    docs_table,
    properties,
    readme_table,
    regenerated,
    render_type,
    required,
    section,
    with_table,
)

from destination_dust.config import load_spec


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


@pytest.fixture(scope="module")
def docs() -> str:
    return DOCS.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", list(TABLES), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_committed_tables_are_the_generated_ones(path: Path) -> None:
    assert path.read_text(encoding="utf-8") == regenerated(path), (
        f"the configuration table of {path.relative_to(ROOT)} differs from spec.json: run make docs"
    )


MISSING = object()


@dataclass(frozen=True)
class Row:
    field: str
    cells: tuple[str, ...]  # every cell after the field name, stripped


def parse_table(markdown: str) -> list[Row]:
    """The rows of a `| Field | ...` table, cells split on unescaped pipes."""
    rows = []
    for line in markdown.splitlines()[2:]:
        first, *rest = (c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|")))
        match = re.fullmatch(r"`([A-Za-z0-9_]+)`", first)
        assert match, f"a row without a `field` name: {line!r}"
        rows.append(Row(match.group(1), tuple(rest)))
    return rows


def parse_default(cell: str) -> Any:
    """A default cell back to a value: empty means no default; `"x"` (JSON) and `x` (bare) both mean "x"."""
    text = cell.strip().strip("`")
    if not text:
        return MISSING
    try:
        return json.loads(text)
    except ValueError:
        return text


@pytest.mark.parametrize("render", [docs_table, readme_table])
def test_a_generated_table_lists_every_spec_field_in_order_with_its_requiredness_and_default(
    spec: dict[str, Any], render: Any
) -> None:
    rows = parse_table(render(spec))
    assert [r.field for r in rows] == [name for name, _ in properties(spec)]
    header = [c.strip() for c in render(spec).splitlines()[0].strip("|").split("|")][1:]
    need = required(spec)
    for row, (name, prop) in zip(rows, properties(spec), strict=True):
        assert row.cells[header.index("Required")] == ("yes" if name in need else "no"), name
        assert parse_default(row.cells[header.index("Default")]) == prop.get("default", MISSING), name


def test_the_docs_table_gives_each_type_and_marks_the_secret(spec: dict[str, Any]) -> None:
    rows = {row.field: row for row in parse_table(docs_table(spec))}
    for name, prop in properties(spec):
        assert rows[name].cells[0] == render_type(prop), name
        assert ("(secret)" in rows[name].cells[0]) == bool(prop.get("airbyte_secret")), name
        assert prop["description"].split(".")[0].replace("<", "&lt;") in rows[name].cells[-1], name


def test_regenerating_replaces_only_the_configuration_table() -> None:
    page = "# T\n\n## Setup\n\n| Field | x |\n|---|---|\n\n## Configuration\n\nIntro.\n\n| Field | Old |\n|---|---|\n| `a` | 1 |\n\nAfter.\n"
    new = "| Field | New |\n|---|---|\n| `b` | 2 |\n"
    assert with_table(page, new) == page.replace("| Field | Old |\n|---|---|\n| `a` | 1 |\n", new)
    with pytest.raises(ValueError, match="## Configuration"):
        with_table("# T\n\n## Setup\n\n| Field | x |\n", new)


def test_sync_mode_table_covers_every_supported_mode_and_both_formats(
    spec: dict[str, Any], docs: str
) -> None:
    modes_section = section(docs, "Sync modes")
    assert modes_section is not None
    header = next(line for line in modes_section.splitlines() if line.startswith("| Sync mode"))
    formats = [c.strip() for c in header.strip("|").split("|")][1:]
    assert formats == list(spec["connectionSpecification"]["properties"]["data_format"]["enum"])
    rows = {
        m.group(1): line
        for line in modes_section.splitlines()
        if (m := re.match(r"^\|\s*`([a-z_]+)`\s*\|", line))
    }
    assert set(rows) == set(spec["supported_destination_sync_modes"])
    for mode, line in rows.items():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 1 + len(formats) and all(cells), f"{mode}: every format needs a description"


def test_docs_has_the_airbyte_page_sections(docs: str) -> None:
    for heading in (
        "Overview",
        "Prerequisites",
        "Setup guide",
        "Configuration",
        "Sync modes",
        "Troubleshooting",
        "Changelog",
    ):
        assert section(docs, heading) is not None, f"missing ## {heading}"
    for limit in ("120", "2 MB", "1 MB"):
        assert limit in (section(docs, "Limits and what the connector does about them") or ""), limit
    assert "https://eu.dust.tt" in docs and "https://dust.tt" in docs


def test_docs_changelog_is_a_details_table(docs: str) -> None:
    changelog = section(docs, "Changelog")
    assert changelog is not None
    assert "<details>" in changelog and "</details>" in changelog
    assert re.search(r"^\|\s*Version\s*\|\s*Date\s*\|\s*Pull Request\s*\|\s*Subject\s*\|", changelog, re.M)


def _source_text(package: str) -> str:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "src" / package).glob("*.py")))
    # collapse implicit string concatenation ("...a "\n    f"b...") so a message reads as the user sees it
    return re.sub(r"([\"'])\s*\n\s*f?([\"'])", "", text)


def test_troubleshooting_quotes_messages_the_code_really_prints(docs: str) -> None:
    """Every `quoted` message fragment (pieces between `...`) exists in the connector's or emulator's code."""
    troubleshooting = section(docs, "Troubleshooting")
    assert troubleshooting is not None
    code = _source_text("destination_dust") + _source_text("dust_emulator")
    checked = 0
    for line in troubleshooting.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = re.split(r"(?<!\\)\|", line.strip().strip("|"))[0]
        for fragment in re.findall(r"`([^`]+)`", first_cell):
            for piece in (p.strip(" .:/") for p in fragment.split("...")):
                if len(piece) >= 6:
                    assert piece in code, f"troubleshooting quotes {piece!r}, which no code prints"
                    checked += 1
    assert checked >= 15
