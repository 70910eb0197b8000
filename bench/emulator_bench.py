"""Throughput of dust-emulator, to show it is not the bottleneck of connector benchmarks.

Runs a subprocess emulator (latency, faults and rate limit off) and drives it from several client
processes, each with a few threads and its own connection:

* small document upserts per second (target >= 1,000/s);
* table rows per second, in 500-row batches (target >= 50,000/s).

Two numbers per workload: the wall-clock throughput of the whole run (clients and server share the
machine's cores, so on a 2-core box the clients' own CPU caps it), and the emulator's *capacity*:
requests divided by the CPU seconds the emulator process itself used (read from /proc), i.e. what
one core of emulator sustains when the clients are elsewhere.

``--client httpx`` (default) uses one httpx.Client per thread with TCP_NODELAY; ``--client raw``
uses a minimal keep-alive HTTP/1.1 socket client that costs far less CPU, so more of the machine is
left to the emulator.

``--columns 16`` sends rows shaped like the connector's tables benchmark (bench scenario 4b: a
source-faker-like ``users`` record plus Airbyte's meta columns) instead of the default 6 columns;
``--only rows`` (or ``documents``) runs one workload.

Usage: ``.venv/bin/python bench/emulator_bench.py [--seconds 5] [--processes 2] [--threads 4]
[--client httpx|raw] [--db PATH|:memory:] [--columns 6|16] [--only documents|rows]``. Not a test:
figures go to docs/emulator.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from dust_emulator.testing import EmulatorProcess

ROWS_PER_BATCH = 500
PREBUILT_BATCHES = 40  # distinct batches per worker; later sends re-upsert (replace) the same rows
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class RawClient:
    """Just enough HTTP/1.1 for POSTing JSON over one keep-alive connection."""

    def __init__(self, base_url: str, api_key: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.auth = f"Bearer {api_key}"
        self.sock = socket.create_connection((self.host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: {self.auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + body)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        header, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buffer) < length:
            self.buffer += self._recv()
        payload, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, payload

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


class HttpxClient:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            transport=httpx.HTTPTransport(socket_options=NODELAY),
            timeout=60,
        )

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        response = self.client.post(path, content=body)
        return response.status_code, response.content

    def close(self) -> None:
        self.client.close()


def _connect(config: dict[str, Any], kind: str) -> RawClient | HttpxClient:
    factory = RawClient if kind == "raw" else HttpxClient
    return factory(config["base_url"], config["api_key"])


def _process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_threads(run: Any, threads: int) -> None:
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


def _doc_worker(args: tuple[dict[str, Any], int, float, int, str, int]) -> tuple[int, float]:
    config, threads, seconds, worker, client_kind, _ = args
    base = (
        f"/api/v1/w/{config['workspace_id']}/spaces/{config['space_id']}"
        f"/data_sources/{config['data_source_id']}/documents"
    )
    done = [0] * threads
    started = time.monotonic()
    deadline = started + seconds

    def run(index: int) -> None:
        client = _connect(config, client_kind)
        n = 0
        try:
            while time.monotonic() < deadline:
                body = orjson.dumps(
                    {
                        "text": f"ticket {worker}-{index}-{n}: the printer is on fire again",
                        "tags": ["bench"],
                        "light_document_output": True,
                    }
                )
                status, payload = client.post(f"{base}/doc-{worker}-{index}-{n}", body)
                if status != 200:
                    raise RuntimeError(f"{status} {payload[:200]!r}")
                n += 1
        finally:
            client.close()
        done[index] = n

    _run_threads(run, threads)
    return sum(done), time.monotonic() - started


WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")


def _small_value(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "name": f"user {n}",
        "score": n * 0.5,
        "active": n % 2 == 0,
        "created_at": {"type": "datetime", "epoch": 1_700_000_000_000 + n},
        "team": "blue",
    }


def _wide_value(n: int) -> dict[str, Any]:
    """16 columns, like a bench/gen.py ``users`` record once the connector has converted it."""
    return {
        "id": n,
        "name": f"User {n}",
        "email": f"user{n}@example.com",
        "age": 18 + n % 60,
        "title": "Dr." if n % 7 == 0 else "Mx.",
        "occupation": WORDS[n % len(WORDS)],
        "address": f'{{"city":"{WORDS[(n * 3) % len(WORDS)].title()}","postal_code":"{n % 99999:05d}"}}',
        "bio": f"user {n}: " + " ".join(WORDS[(n + k) % len(WORDS)] for k in range(30)),
        "created_at": {"type": "datetime", "epoch": 1_704_103_200_000 + n * 1000},
        "updated_at": {"type": "datetime", "epoch": 1_706_785_200_000 + n * 1000},
        "score": n * 0.25,
        "active": n % 2 == 0,
        "deleted_at": None,
        "_airbyte_raw_id": f"0d9c8e2a-{n:08x}-4a1b-9c3d-5e6f7a8b9c0d",
        "_airbyte_extracted_at": {"type": "datetime", "epoch": 1_700_000_000_000},
        "_airbyte_generation_id": 0,
    }


def _row_batch(worker: int, batch: int, columns: int) -> dict[str, Any]:
    make_value = _wide_value if columns == 16 else _small_value
    rows = []
    for i in range(ROWS_PER_BATCH):
        n = batch * ROWS_PER_BATCH + i
        rows.append({"row_id": f"{worker}-{n}", "value": make_value(n)})
    return {"rows": rows}


def _rows_worker(args: tuple[dict[str, Any], int, float, int, str, int]) -> tuple[int, float]:
    config, threads, seconds, worker, client_kind, columns = args
    tables = (
        f"/api/v1/w/{config['workspace_id']}/spaces/{config['space_id']}"
        f"/data_sources/{config['data_source_id']}/tables"
    )
    done = [0] * threads

    # Bodies are built before the clock runs: the client's JSON encoding must not be what we time.
    bodies = [orjson.dumps(_row_batch(worker, batch, columns)) for batch in range(PREBUILT_BATCHES)]
    started = time.monotonic()
    deadline = started + seconds

    def run(index: int) -> None:
        client = _connect(config, client_kind)
        table_id = f"bench_{worker}_{index}"
        sent = 0
        try:
            table = {"name": table_id, "description": "bench", "title": table_id, "table_id": table_id}
            status, payload = client.post(tables, orjson.dumps(table))
            if status != 200:
                raise RuntimeError(f"{status} {payload[:200]!r}")
            while time.monotonic() < deadline:
                status, payload = client.post(f"{tables}/{table_id}/rows", bodies[sent % len(bodies)])
                if status != 200:
                    raise RuntimeError(f"{status} {payload[:200]!r}")
                sent += 1
        finally:
            client.close()
        done[index] = sent * ROWS_PER_BATCH

    _run_threads(run, threads)
    return sum(done), time.monotonic() - started


def _drive(
    worker: Any, config: dict[str, Any], args: argparse.Namespace, server_pid: int
) -> tuple[int, float, float]:
    jobs = [(config, args.threads, args.seconds, w, args.client, args.columns) for w in range(args.processes)]
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        pool.map(_noop, range(args.processes))  # start the workers before the clock runs
        cpu_before = _process_cpu_seconds(server_pid)
        results = pool.map(worker, jobs)
        cpu = _process_cpu_seconds(server_pid) - cpu_before
    return sum(count for count, _ in results), max(elapsed for _, elapsed in results), cpu


def _noop(_: int) -> None:
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--client", choices=("httpx", "raw"), default="httpx")
    parser.add_argument("--db", default=None, help="SQLite file (default: a temporary file) or :memory:")
    parser.add_argument("--columns", type=int, choices=(6, 16), default=6, help="columns per row")
    parser.add_argument("--only", choices=("documents", "rows"), default=None)
    args = parser.parse_args()

    with EmulatorProcess(db_path=args.db, rate_limit=0) as emulator:
        assert emulator.process is not None
        pid, config = emulator.process.pid, emulator.config
        setup = f"{args.processes} processes x {args.threads} threads, {args.client} client"
        if args.only in (None, "documents"):
            docs, elapsed, cpu = _drive(_doc_worker, config, args, pid)
            print(f"documents: {docs / elapsed:,.0f} upserts/s wall ({docs} in {elapsed:.1f}s, {setup})")
            upsert_ms = 1000 * cpu / max(docs, 1)
            print(f"  emulator CPU {upsert_ms:.2f} ms/upsert = capacity {docs / max(cpu, 1e-9):,.0f}/s")
        if args.only in (None, "rows"):
            rows, elapsed, cpu = _drive(_rows_worker, config, args, pid)
            print(
                f"rows: {rows / elapsed:,.0f} rows/s wall ({rows} in {elapsed:.1f}s,"
                f" batches of {ROWS_PER_BATCH} x {args.columns} columns, {setup})"
            )
            batch_ms = 1000 * cpu * ROWS_PER_BATCH / max(rows, 1)
            row_us = 1e6 * cpu / max(rows, 1)
            print(
                f"  emulator CPU {batch_ms:.2f} ms/batch, {row_us:.1f} us/row"
                f" = capacity {rows / max(cpu, 1e-9):,.0f} rows/s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
