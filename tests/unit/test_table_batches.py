"""TableSink's batches in flight: a batch holding a row id that an earlier in-flight batch holds waits for it (so
the latest value of a row wins), any other batch goes at once, and the bookkeeping of ids in flight empties."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import orjson

from destination_dust.catalog import parse_catalog
from destination_dust.client import DustClient
from destination_dust.protocol import Output
from destination_dust.sinks import TableSink
from destination_dust.writer import Writer
from tests.unit.tables_sync import configured_stream, tables_config


class GatedDust(DustClient):
    """Holds the first rows upsert until `gate` is set; keeps every upsert's rows in call order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.calls: list[list[tuple[str, int]]] = []
        self._lock = threading.Lock()

    def get_table(self, table_id: str, *, retry: bool = True) -> dict[str, Any] | None:
        return None

    def list_tables(self) -> list[dict[str, Any]]:
        return []

    def upsert_table(self, body: Any) -> dict[str, Any]:
        return {}

    def upsert_rows_raw(self, table_id: str, body: bytes, count: int) -> None:
        rows = [(row["row_id"], row["value"]["v"]) for row in orjson.loads(body)["rows"]]
        if rows[0][0] == "1" and rows[0][1] == 1:  # the first batch: held
            assert self.gate.wait(10)
        with self._lock:
            self.calls.append(rows)


def _line(row_id: int, value: int) -> bytes:
    record = {
        "type": "RECORD",
        "record": {"stream": "t", "data": {"id": row_id, "v": value}, "emitted_at": 1},
    }
    return orjson.dumps(record) + b"\n"


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_batch_waits_only_for_the_batches_that_hold_its_row_ids() -> None:
    config = tables_config(table_batch_max_rows=2, max_concurrent_requests=4)
    stream = configured_stream({"id": {"type": "integer"}}, name="t", key=[["id"]])
    client = GatedDust(config)
    writer = Writer(
        config, parse_catalog({"streams": [stream]}, config.format_for), Output(io.BytesIO()), client
    )
    (sink,) = writer.sinks.values()
    assert isinstance(sink, TableSink)
    try:
        # batch A (held), B (other ids), C (holds id 1 again), D (holds id 3, which B held)
        writer.read([_line(1, 1), _line(2, 1), _line(3, 1), _line(4, 1), _line(1, 2), _line(5, 1)])
        _wait_for(lambda: len(client.calls) == 1)
        assert client.calls == [[("3", 1), ("4", 1)]]  # B went while A is held; C waits for A
        writer.read([_line(3, 2), _line(6, 1)])
        _wait_for(lambda: len(client.calls) == 2)  # D waited for B only
        time.sleep(0.05)
        assert client.calls[1] == [("3", 2), ("6", 1)] and len(client.calls) == 2
        client.gate.set()
        writer.pipeline.wait_all()
        assert client.calls[2:] == [[("1", 1), ("2", 1)], [("1", 2), ("5", 1)]]  # A, then C: the latest wins
        sink._prune_in_flight()
        assert sink._ids_in_flight == {} and sink._shared == set() and not sink._in_flight
    finally:
        client.gate.set()
        writer.pipeline.shutdown()
        writer.client.close()
        writer.seen.close()
