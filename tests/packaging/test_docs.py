"""The docs page and the README describe exactly the fields spec.json has, with the same defaults."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.packaging.spec_tables import (
    MISSING,
    ROOT,
    Row,
    load_spec,
    parse_default,
    parse_field_table,
    properties,
    render_default,
    render_type,
    required,
    section,
)

DOCS = ROOT / "docs" / "integrations" / "destinations" / "dust.md"
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


@pytest.fixture(scope="module")
def docs() -> str:
    return DOCS.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def docs_rows(docs: str) -> dict[str, Row]:
    config = section(docs, "Configuration")
    assert config is not None, "the docs page needs a `## Configuration` section"
    rows = parse_field_table(config)
    assert rows, "no `| Field | ...` table under ## Configuration"
    assert all(r.field for r in rows), (
        f"rows without a `field` name: {[r.cells for r in rows if not r.field]}"
    )
    names = [r.field for r in rows]
    assert len(names) == len(set(names)), (
        f"fields listed twice: {sorted(n for n in names if names.count(n) > 1)}"
    )
    return {r.field: r for r in rows}


def test_docs_lists_every_spec_field_and_no_stale_one(
    spec: dict[str, Any], docs_rows: dict[str, Row]
) -> None:
    spec_fields = [name for name, _ in properties(spec)]
    missing = sorted(set(spec_fields) - set(docs_rows))
    stale = sorted(set(docs_rows) - set(spec_fields))
    assert not missing, (
        f"spec fields missing from the docs table: {missing} (python -m tests.packaging.spec_tables docs)"
    )
    assert not stale, f"docs table lists fields the spec does not have: {stale}"
    assert list(docs_rows) == spec_fields, "the docs table should follow the spec's `order`"


def test_docs_types_requiredness_and_defaults_match_spec(
    spec: dict[str, Any], docs_rows: dict[str, Row]
) -> None:
    need = required(spec)
    for name, prop in properties(spec):
        type_cell, required_cell, default_cell = docs_rows[name].cells[:3]
        assert type_cell == render_type(prop), f"{name}: type {type_cell!r} != {render_type(prop)!r}"
        assert required_cell == ("yes" if name in need else "no"), (
            f"{name}: required column says {required_cell!r}"
        )
        assert parse_default(default_cell) == prop.get("default", MISSING), (
            f"{name}: default {default_cell!r}"
        )
        assert default_cell == render_default(prop), (
            f"{name}: default {default_cell!r} != {render_default(prop)!r}"
        )


def test_secret_fields_are_marked_secret_in_docs(spec: dict[str, Any], docs_rows: dict[str, Row]) -> None:
    for name, prop in properties(spec):
        assert ("(secret)" in docs_rows[name].cells[0]) == bool(prop.get("airbyte_secret")), name


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


def test_readme_configuration_table_lists_every_spec_field(spec: dict[str, Any]) -> None:
    readme = README.read_text(encoding="utf-8")
    config = section(readme, "Configuration")
    if config is None:
        # tolerated only while the README has no such section (spec_tables readme prints one)
        pytest.skip("README.md has no `## Configuration` section yet")
    rows = parse_field_table(config)
    listed = {r.field for r in rows if r.field}
    spec_fields = {name for name, _ in properties(spec)}
    assert not spec_fields - listed, f"README configuration table misses: {sorted(spec_fields - listed)}"
    assert not listed - spec_fields, (
        f"README configuration table has stale fields: {sorted(listed - spec_fields)}"
    )
    # when the README shows defaults, they must be the spec's
    header = next((line for line in config.splitlines() if re.match(r"^\|\s*Field\s*\|", line)), "")
    columns = [c.strip().lower() for c in header.strip().strip("|").split("|")][1:]
    if "default" in columns:
        at = columns.index("default")
        for row in rows:
            prop = spec["connectionSpecification"]["properties"][row.field]
            want = prop.get("default", MISSING)
            assert parse_default(row.cells[at]) == want, f"README default of {row.field}: {row.cells[at]!r}"
