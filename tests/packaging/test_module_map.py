"""The README's module map names every module of both packages, each once, with its job."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"destination_dust": "The connector", "dust_emulator": "The emulator"}


def _map_rows(package: str) -> list[tuple[str, str]]:
    """(module names, job) of each row of the package's module map table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme.split("### Module map", 1)[1]
    start = after.index(f"`src/{package}/`")
    table = after[start:].split("\n\n", 2)[1]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0], cells[1]))
    return rows


@pytest.mark.parametrize("package", list(PACKAGES))
def test_every_module_has_one_row_with_its_job(package: str) -> None:
    modules = sorted(p.stem for p in (ROOT / "src" / package).glob("*.py") if p.stem != "__init__")
    named = [name for names, job in _map_rows(package) if job for name in re.findall(r"`(\w+)`", names)]
    assert sorted(named) == modules, "README's module map: add the missing modules, drop the gone ones"
