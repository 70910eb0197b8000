"""Instructions per record of the connector's reader thread in tables mode: a measure that does not move.

`python -m bench.reader_instructions [N]` (default 20,000 records; needs valgrind). It runs
`bench.reader_cost --once` under cachegrind over N generated records and over none, and divides the difference
by N: start-up and imports cancel out. Timings on these shared machines move ±25% between identical runs;
this count moves by less than 0.1%, so it can compare two versions of the reader back to back (run it in a
`git worktree` of the old commit with `PYTHONPATH=<worktree>/src`, then in the new one). It counts CPU work
only: waits, cache misses and the GIL are what the scenario tables (bench/scenarios.py) show.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from bench.harness import PYTHON, ROOT

_TOTAL = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(records: int) -> int:
    """Instructions of one `bench.reader_cost --once records` process (Python's hash seed fixed)."""
    run = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            PYTHON,
            "-m",
            "bench.reader_cost",
            "--once",
            str(records),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = _TOTAL.search(run.stderr)
    if found is None:
        raise RuntimeError("valgrind printed no instruction total:\n" + run.stderr[-2000:])
    return int(found.group(1).replace(",", ""))


def main(argv: list[str]) -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    records = int(argv[0]) if argv else 20_000
    per_record = (instructions(records) - instructions(0)) / records
    print(f"{records:,} records: {per_record:,.0f} instructions per record (reader thread, Dust stubbed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
