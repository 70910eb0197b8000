"""`python -m bench --quick` end to end: every scenario runs against real emulator subprocesses, the table
is produced and every record of the rate-limited run lands without a 429. Speed ratios are not asserted
here (they are benchmark figures, in docs/benchmarks.md: on a shared 2-core machine they move with load)."""

from __future__ import annotations

import re

import pytest
from bench.__main__ import HEADER, run, table


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_quick_bench_produces_the_table() -> None:
    rows = run(quick=True)
    names = [r.scenario for r in rows]
    assert [n.split(".")[0] for n in names] == ["1", "2", "3", "3b", "4a", "4b", "6", "6"]
    text = table(rows)
    assert text.splitlines()[0] == HEADER
    assert len(text.splitlines()) == 2 + len(rows)
    compared = [row for row in rows if row.baseline_value > 0]  # 4a compares with `cat`, a bound
    assert len(compared) == 6
    assert all(row.ours_value > 0 for row in compared)
    landed = re.search(r"\((\d+)/(\d+) landed\)", rows[0].ours)
    assert landed is not None and landed.group(1) == landed.group(2)  # every record of the rate-limited run
    assert rows[0].n429 == 0
    assert rows[3].met, rows[3]  # upserts counted by the emulator, not a timing: <= 1% whatever the load
    composed = rows[6]  # every ticket and comment landed, composed, each ticket written about once
    assert "30 documents, 300 sections" in composed.ours and composed.n429 == 0


def test_reader_cost_measures_the_writer_against_the_bare_parse() -> None:
    from bench.reader_cost import measure

    result = measure(2_000)
    assert result["records"] == 2_000
    assert 0 < result["parse_us"] < result["writer_us"]  # the reader parses every line, then does more
