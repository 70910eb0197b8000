"""`python -m bench --quick` end to end: every scenario runs against real emulator subprocesses, the table
is produced and every record of the rate-limited run lands without a 429 (the sharing scenarios too, with
their competing client process). Speed ratios are not asserted
here (they are benchmark figures, in docs/benchmarks.md: on a shared 2-core machine they move with load)."""

from __future__ import annotations

import re

import pytest
from bench import sharing
from bench.__main__ import HEADER, run, run_sharing, table


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


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_quick_sharing_bench_runs_beside_a_competing_client() -> None:
    rows = run_sharing(quick=True)
    assert [r.scenario.split(": ")[1].split()[0] for r in rows] == ["alone", "another"]
    assert all(r.landed == r.documents for r in rows)
    alone, burst = rows
    assert alone.n429 == 0 and alone.competitor_accepted == 0
    assert burst.competitor_accepted == 20 * 5 // 6 and burst.competitor_during == 0  # it stopped before us
    assert burst.ideal > alone.ideal  # its burst held part of the first window
    text = sharing.table(rows)
    assert text.splitlines()[0] == sharing.HEADER and len(text.splitlines()) == 4


def test_the_ideal_leaves_the_competitors_accepted_sends_where_they_were() -> None:
    """The issue's cases at Dust's scale (120 per 60 s, 360 documents)."""
    assert sharing.ideal_seconds(360, 0.0, [], 120, 60.0) == 120.0
    # a burst of 100 ten seconds before us: 20 at once, 100 at t=50, 20 at t=60, ... the last 100 at t=170
    assert sharing.ideal_seconds(360, 0.0, [-10.0] * 100, 120, 60.0) == 170.0
    # one send per second throughout: half the budget is ours, 60 per minute
    assert sharing.ideal_seconds(360, 0.0, [float(t) for t in range(-60, 400)], 120, 60.0) == 300.0
    # our share set to half: 60 per minute even when the window has room for more
    assert sharing.ideal_seconds(360, 0.0, [], 120, 60.0, share=60) == 300.0
    # a send the competitor got later in the window keeps its slot: 119 now, not 120
    assert sharing.ideal_seconds(120, 0.0, [30.0], 120, 60.0) == 60.0
