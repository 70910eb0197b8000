"""A naive sequential client that behaves like the seed connector, for comparison only (never shipped).

- documents: one POST per record, one at a time; a failed POST is retried after 1, 2 and 4 s, then the sync
  gives up (the seed's loop);
- tables: the table is upserted once, then rows go in 500-row batches, one request at a time.

It reads Airbyte RECORD lines from stdin (like a destination) and returns what it did.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import orjson

RETRY_WAITS = (1.0, 2.0, 4.0)
ROWS_PER_BATCH = 500


@dataclass
class NaiveResult:
    records: int = 0
    landed: int = 0
    failed: bool = False
    error: str = ""
    seconds: float = 0.0


def _records(lines: Iterable[bytes], stream: str) -> Iterable[dict[str, Any]]:
    for line in lines:
        message = orjson.loads(line)
        if message.get("type") == "RECORD" and message["record"]["stream"] == stream:
            yield message["record"]["data"]


class NaiveClient:
    def __init__(self, config: dict[str, Any]) -> None:
        base = (
            f"{config['base_url']}/api/v1/w/{config['workspace_id']}/spaces/{config['space_id']}"
            f"/data_sources/{config['data_source_id']}"
        )
        self.base = base
        self.http = httpx.Client(headers={"Authorization": f"Bearer {config['api_key']}"}, timeout=60)

    def _post(self, url: str, body: Any) -> None:
        for wait in (*RETRY_WAITS, None):
            response = self.http.post(
                url, content=orjson.dumps(body), headers={"Content-Type": "application/json"}
            )
            if response.status_code < 300:
                return
            if wait is None:
                raise RuntimeError(f"gave up after {len(RETRY_WAITS)} retries: HTTP {response.status_code}")
            time.sleep(wait)

    def write_documents(self, lines: Iterable[bytes], stream: str) -> NaiveResult:
        result = NaiveResult()
        started = time.monotonic()
        try:
            for data in _records(lines, stream):
                result.records += 1
                document_id = f"{stream}-{data.get('id')}"
                body = {"text": orjson.dumps(data).decode(), "tags": [f"airbyte:stream:{stream}"]}
                self._post(f"{self.base}/documents/{document_id}", body)
                result.landed += 1
        except RuntimeError as exc:
            result.failed, result.error = True, str(exc)
        result.seconds = time.monotonic() - started
        return result

    def write_table(self, lines: Iterable[bytes], stream: str) -> NaiveResult:
        result = NaiveResult()
        started = time.monotonic()
        table_id = f"naive_{stream}"
        try:
            self._post(
                f"{self.base}/tables",
                {"name": table_id, "title": stream, "table_id": table_id, "description": stream},
            )
            batch: list[dict[str, Any]] = []
            for data in _records(lines, stream):
                result.records += 1
                value = {
                    k: (
                        v if isinstance(v, (str, int, float, bool)) or v is None else orjson.dumps(v).decode()
                    )
                    for k, v in data.items()
                }
                batch.append({"row_id": str(data.get("id")), "value": value})
                if len(batch) == ROWS_PER_BATCH:
                    self._post(f"{self.base}/tables/{table_id}/rows", {"rows": batch, "truncate": False})
                    result.landed += len(batch)
                    batch = []
            if batch:
                self._post(f"{self.base}/tables/{table_id}/rows", {"rows": batch, "truncate": False})
                result.landed += len(batch)
        except RuntimeError as exc:
            result.failed, result.error = True, str(exc)
        result.seconds = time.monotonic() - started
        return result


def main(argv: list[str], stdin: IO[bytes]) -> None:
    """`python -m bench.naive documents|tables CONFIG STREAM` (stdin: Airbyte messages)."""
    mode, config_path, stream = argv
    client = NaiveClient(orjson.loads(Path(config_path).read_bytes()))
    result = (
        client.write_documents(stdin, stream) if mode == "documents" else client.write_table(stdin, stream)
    )
    sys.stdout.write(orjson.dumps(result.__dict__).decode() + "\n")


if __name__ == "__main__":
    main(sys.argv[1:], sys.stdin.buffer)
