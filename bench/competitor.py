"""Another client of the workspace, for the sharing benchmarks (bench/sharing.py): it upserts documents on
its own schedule, one request at a time, and reports when Dust accepted each one.

`python -m bench.competitor CONFIG MODE ...` (CONFIG: a destination config file of the emulator):

- `burst N`: N documents as fast as it can, then it stops;
- `polite TICK`: one document per TICK seconds; a refused one is tried again at the next tick;
- `persistent TICK RETRY`: one document per TICK seconds; a refused one is retried every RETRY seconds until
  accepted, then it waits for the next tick (missed ticks are not caught up).

The steady modes run until stdin closes. The last stdout line is JSON: `accepted` (time.monotonic() of each
accepted answer: CLOCK_MONOTONIC, the clock the emulator's limiter and the bench use) and `refused` (429s).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson


class Competitor:
    def __init__(self, config: dict[str, Any]) -> None:
        self.url = (
            f"{config['base_url']}/api/v1/w/{config['workspace_id']}/spaces/{config['space_id']}"
            f"/data_sources/{config['data_source_id']}/documents"
        )
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {config['api_key']}", "Content-Type": "application/json"},
            timeout=30,
        )
        self.accepted: list[float] = []
        self.refused = 0
        self.stop = threading.Event()

    def send(self) -> bool:
        """Upsert the next document; True when Dust accepted it."""
        body = orjson.dumps({"text": "another client's document", "tags": ["bench:competitor"]})
        answer = self.http.post(f"{self.url}/competitor-{len(self.accepted)}", content=body)
        if answer.status_code == 429:
            self.refused += 1
            return False
        answer.raise_for_status()
        self.accepted.append(time.monotonic())
        return True

    def burst(self, count: int) -> None:
        while len(self.accepted) < count and not self.stop.is_set():
            self.send()

    def steady(self, tick: float, retry: float | None) -> None:
        next_tick = time.monotonic()
        while not self.stop.wait(max(0.0, next_tick - time.monotonic())):
            accepted = self.send()
            while not accepted and retry is not None and not self.stop.wait(retry):
                accepted = self.send()
            next_tick += tick
            while next_tick <= time.monotonic():  # missed ticks are skipped, not caught up in a burst
                next_tick += tick


def main(argv: list[str]) -> None:
    config_path, mode, *numbers = argv
    competitor = Competitor(orjson.loads(Path(config_path).read_bytes()))
    if mode == "burst":
        competitor.burst(int(numbers[0]))
    else:

        def stop_when_stdin_closes() -> None:
            sys.stdin.buffer.read()
            competitor.stop.set()

        threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
        retry = float(numbers[1]) if mode == "persistent" else None
        competitor.steady(float(numbers[0]), retry)
    result = {"accepted": competitor.accepted, "refused": competitor.refused}
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
