"""Throughput of dust-emulator, to show it is not the bottleneck of connector benchmarks.

Runs a subprocess emulator (latency, faults and rate limit off) and drives it from several client
processes, each with a few threads and its own httpx client:

* small document upserts per second (target >= 1,000/s);
* table rows per second, in 500-row batches (target >= 50,000/s).

Usage: ``.venv/bin/python bench/emulator_bench.py [--seconds 5] [--processes 2] [--threads 4]``.
Not a test: figures go to docs/emulator.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
from typing import Any

import httpx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from dust_emulator.testing import EmulatorProcess

ROWS_PER_BATCH = 500


def _doc_worker(args: tuple[dict[str, Any], int, float, int]) -> int:
    config, threads, seconds, worker = args
    base = (
        f"{config['base_url']}/api/v1/w/{config['workspace_id']}/spaces/{config['space_id']}"
        f"/data_sources/{config['data_source_id']}/documents"
    )
    done = [0] * threads
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {config['api_key']}"}, timeout=30) as client:
            n = 0
            while time.monotonic() < deadline:
                body = {
                    "text": f"ticket {worker}-{index}-{n}: the printer is on fire again",
                    "tags": ["bench"],
                    "light_document_output": True,
                }
                response = client.post(f"{base}/doc-{worker}-{index}-{n}", json=body)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code} {response.text[:200]}")
                n += 1
            done[index] = n

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sum(done)


def _row_batch(worker: int, batch: int) -> dict[str, Any]:
    rows = []
    for i in range(ROWS_PER_BATCH):
        n = batch * ROWS_PER_BATCH + i
        rows.append(
            {
                "row_id": f"{worker}-{n}",
                "value": {
                    "id": n,
                    "name": f"user {n}",
                    "score": n * 0.5,
                    "active": n % 2 == 0,
                    "created_at": {"type": "datetime", "epoch": 1_700_000_000_000 + n},
                    "team": "blue",
                },
            }
        )
    return {"rows": rows}


def _rows_worker(args: tuple[dict[str, Any], int, float, int]) -> int:
    config, threads, seconds, worker = args
    tables = (
        f"{config['base_url']}/api/v1/w/{config['workspace_id']}/spaces/{config['space_id']}"
        f"/data_sources/{config['data_source_id']}/tables"
    )
    headers = {"Authorization": f"Bearer {config['api_key']}"}
    done = [0] * threads
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        with httpx.Client(headers=headers, timeout=60) as client:
            table_id = f"bench_{worker}_{index}"
            client.post(
                tables,
                json={"name": table_id, "description": "bench", "title": table_id, "table_id": table_id},
            ).raise_for_status()
            batch = 0
            while time.monotonic() < deadline:
                response = client.post(
                    f"{tables}/{table_id}/rows", json=_row_batch(worker * 100 + index, batch)
                )
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code} {response.text[:200]}")
                batch += 1
            done[index] = batch * ROWS_PER_BATCH

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sum(done)


def _drive(
    worker: Any, config: dict[str, Any], processes: int, threads: int, seconds: float
) -> tuple[int, float]:
    jobs = [(config, threads, seconds, w) for w in range(processes)]
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        total = sum(pool.map(worker, jobs))
    return total, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--db", default=None, help="SQLite file (default: a temporary file)")
    args = parser.parse_args()

    with EmulatorProcess(db_path=args.db, rate_limit=0) as emulator:
        config = emulator.config
        docs, elapsed = _drive(_doc_worker, config, args.processes, args.threads, args.seconds)
        print(
            f"documents: {docs} upserts in {elapsed:.1f}s = {docs / elapsed:,.0f} docs/s "
            f"({args.processes} processes x {args.threads} threads)"
        )
        rows, elapsed = _drive(_rows_worker, config, args.processes, args.threads, args.seconds)
        print(
            f"rows: {rows} rows in {elapsed:.1f}s = {rows / elapsed:,.0f} rows/s "
            f"(batches of {ROWS_PER_BATCH})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
