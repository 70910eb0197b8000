"""What an overwrite clean-up reads: a 20,000-document data source, 3 overwrite streams of 1,000 documents
each (half of them resent, so 1,500 to delete), against the emulator (a subprocess, real HTTP).

- baseline: per-stream sweeps (one listing per stream, `offset += kept`, a second pass after any
  deletion, at most 3), one stream after the other;
- ours: sweep.sweep_documents, one listing judged for the three streams.

Requests and response bytes are counted on the client's HTTP connection. Run alone:
`python -m bench.cleanup_cost` (about a minute; most of it seeds the data source). The emulator lists
documents with their text (200 bytes each here); Dust's core lists metadata only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from destination_dust.catalog import StreamKey
from destination_dust.client import DustClient
from destination_dust.config import parse_config
from destination_dust.seen import SeenIds, SeenStore
from destination_dust.sweep import DOCUMENT_PAGE, DocumentCleanup, SweepRule, document_doomed, sweep_documents
from dust_emulator.testing import EmulatorProcess, running_emulator

TOTAL = 20_000
STREAMS = ("users", "orders", "notes")
PER_STREAM = 1_000
TEXT = "x" * 200


@dataclass
class Cost:
    requests: int = 0  # listing pages
    deletes: int = 0
    bytes: int = 0  # of the listing pages
    deleted: int = 0
    seconds: float = 0.0

    def per_thousand(self) -> str:
        return f"{self.requests / TOTAL * 1000:.1f} pages, {self.bytes / TOTAL * 1000 / 1024:.0f} KiB"


def counting_client(emu: EmulatorProcess, cost: Cost) -> DustClient:
    def count(response: httpx.Response) -> None:
        response.read()
        if response.request.method == "DELETE":
            cost.deletes += 1
        else:
            cost.requests += 1
            cost.bytes += len(response.content)

    config = parse_config({**emu.config, "document_upserts_per_minute": 0})
    return DustClient(config, httpx.Client(event_hooks={"response": [count]}, timeout=60))


def seed(emu: EmulatorProcess, ids: Sequence[str]) -> None:
    """Documents as the connector writes them: our streams' ids and tags, generation 1; the rest foreign."""

    def one(client: httpx.Client, document_id: str) -> None:
        name = document_id.split("-")[0]
        tags = [f"airbyte:stream:{name}", "airbyte:generation:1"] if name in STREAMS else ["team:hr"]
        client.post(
            f"{emu.ds_path}/documents/{document_id}", json={"text": TEXT, "tags": tags}
        ).raise_for_status()

    with emu.api_client(api_key=emu.system_api_key) as client, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda d: one(client, d), ids))


def per_stream_sweep_before(
    client: DustClient, stream: StreamKey, rule: SweepRule, kept: SeenIds, deleted: list[str]
) -> None:
    """The sweep of one stream as the connector ran it before the shared listing (for comparison only)."""
    for _ in range(3):
        offset, removed = 0, 0
        while True:
            page, _ = client.list_documents(limit=DOCUMENT_PAGE, offset=offset)
            if not page:
                break
            doomed = [d["document_id"] for d in page if document_doomed(stream, rule, d)]
            sent = kept.contains_many(doomed) if doomed else set()
            victims = [d for d in doomed if d not in sent]
            for victim in victims:
                client.delete_document(victim)
            deleted.extend(victims)
            removed += len(victims)
            offset += len(page) - len(victims)
        if removed == 0:
            break


def measure(
    emu: EmulatorProcess, run: Callable[[DustClient, list[DocumentCleanup], list[str]], None]
) -> Cost:
    cost = Cost()
    store = SeenStore()
    cleanups = []
    for name in STREAMS:
        kept = store.stream(name)
        for i in range(0, PER_STREAM, 2):
            kept.add(f"{name}-{i}")
        cleanups.append(DocumentCleanup(StreamKey(None, name), SweepRule("overwrite"), kept))
    client = counting_client(emu, cost)
    deleted: list[str] = []
    started = time.monotonic()
    try:
        run(client, cleanups, deleted)
    finally:
        cost.seconds = time.monotonic() - started
        client.close()
        store.close()
    cost.deleted = len(deleted)
    seed(emu, deleted)  # back to 20,000 documents for the next measurement
    return cost


def before(client: DustClient, cleanups: list[DocumentCleanup], deleted: list[str]) -> None:
    for cleanup in cleanups:
        assert cleanup.kept is not None
        per_stream_sweep_before(client, cleanup.stream, cleanup.rule, cleanup.kept, deleted)


def ours(client: DustClient, cleanups: list[DocumentCleanup], deleted: list[str]) -> None:
    original = client.delete_document

    def delete(document_id: str) -> None:
        original(document_id)
        deleted.append(document_id)

    client.delete_document = delete  # type: ignore[method-assign]
    result = sweep_documents(client, cleanups)
    assert result.confirmed


def main() -> int:
    ours_ids = [f"{name}-{i}" for name in STREAMS for i in range(PER_STREAM)]
    foreign = [f"handbook-{i}" for i in range(TOTAL - len(ours_ids))]
    with running_emulator(rate_limit=0) as emu:
        seed(emu, foreign + ours_ids)
        baseline = measure(emu, before)
        shared = measure(emu, ours)
        left = len(emu.documents())
    rows = [
        "| clean-up of 20,000 documents, 3 overwrite streams, 1,500 to delete | listing requests | listing bytes "
        "| per 1,000 documents in the data source | DELETEs | seconds |",
        "|---|---|---|---|---|---|",
        f"| before: one listing per stream, re-pass after deleting | {baseline.requests} | "
        f"{baseline.bytes / 1e6:.1f} MB | {baseline.per_thousand()} | {baseline.deletes} | {baseline.seconds:.1f} |",
        f"| ours: one shared listing, joined pages | {shared.requests} | {shared.bytes / 1e6:.1f} MB | "
        f"{shared.per_thousand()} | {shared.deletes} | {shared.seconds:.1f} |",
    ]
    print("\n".join(rows))
    print(
        f"\nratio (before / ours): requests {baseline.requests / shared.requests:.1f}x, "
        f"bytes {baseline.bytes / shared.bytes:.1f}x; documents at the end: {left} (20,000 expected)"
    )
    ok = baseline.deleted == shared.deleted == baseline.deletes == shared.deletes == 1_500 and left == TOTAL
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
