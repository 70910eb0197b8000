"""CPU per record of the connector's reader thread in tables mode, with Dust replaced by no-op calls.

`python -m bench.reader_cost [N]` (default 100,000 records from bench/gen.py; `--once N`: one untimed run, the
target `bench.reader_instructions` counts). It runs the real `Writer` (read,
parse, map to cells, row id, encode, batch, state gate) over the same bytes as `orjson.loads` alone, in one
process, and reports CPU µs per record for both and their ratio: the parse is the floor any Python reader
pays, so the ratio says how much our own code adds. Best of 5 runs each (the machines are noisy). The
scenario tables (bench/scenarios.py) measure the whole system; this isolates the part that bounds scenario
4b, where the reader thread is what keeps up with 8 requests in flight.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.harness import PYTHON, ROOT, catalog
from destination_dust.catalog import parse_catalog
from destination_dust.client import DustClient
from destination_dust.config import DustConfig, parse_config
from destination_dust.protocol import Output
from destination_dust.writer import Writer

RUNS = 5


class NoDust(DustClient):
    """Answers the calls a tables sync makes without any network."""

    def get_table(self, table_id: str, *, retry: bool = True) -> dict[str, Any] | None:
        return None

    def list_tables(self) -> list[dict[str, Any]]:
        return []

    def upsert_table(self, body: Any) -> dict[str, Any]:
        return {}

    def upsert_rows_raw(self, table_id: str, body: bytes, count: int) -> None:
        return None


def _best_cpu(run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def _inputs(records: int) -> tuple[bytes, DustConfig, dict[Any, Any]]:
    data = subprocess.run(
        [PYTHON, "-m", "bench.gen", "users", str(records)], capture_output=True, check=True, cwd=ROOT
    ).stdout
    config: DustConfig = parse_config(
        {
            "api_key": "sk-reader-cost-not-a-real-key-0000000000",
            "workspace_id": "w",
            "space_id": "s",
            "data_source_id": "d",
            "data_format": "tables",
        }
    )
    streams = parse_catalog(catalog("users", "overwrite"), config.format_for)
    return data, config, streams


def run_once(records: int) -> None:
    """One writer run over `records` generated records, untimed: what `bench.reader_instructions` counts."""
    data, config, streams = _inputs(records)
    Writer(config, streams, Output(io.BytesIO()), client=NoDust(config)).run(io.BytesIO(data))


def measure(records: int) -> dict[str, float]:
    data, config, streams = _inputs(records)
    lines = data.splitlines()

    def parse_only() -> None:
        for line in lines:
            orjson.loads(line)

    def writer() -> None:
        Writer(config, streams, Output(io.BytesIO()), client=NoDust(config)).run(io.BytesIO(data))

    floor, ours = _best_cpu(parse_only), _best_cpu(writer)
    return {"records": records, "parse_us": floor / records * 1e6, "writer_us": ours / records * 1e6}


def main(argv: list[str]) -> int:
    # each run ends without COMPLETE, a warning per run; set here, not where tests measure in-process
    logging.getLogger("destination_dust").setLevel(logging.ERROR)
    if argv[:1] == ["--once"]:
        run_once(int(argv[1]))
        return 0
    records = int(argv[0]) if argv else 100_000
    result = measure(records)
    print(
        f"{records:,} records, best of {RUNS}: orjson.loads alone {result['parse_us']:.1f} µs/record, "
        f"whole reader thread {result['writer_us']:.1f} µs/record "
        f"({result['writer_us'] / result['parse_us']:.1f}x the parse)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
