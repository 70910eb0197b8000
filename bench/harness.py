"""Running things for the benchmarks: the emulator (a subprocess), the connector and the naive client (each a
subprocess, fed from a file or from a source's stdout), with wall time, peak RSS (VmHWM, polled) and,
when asked, RSS sampled over time from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from dust_emulator.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CONNECTOR = [PYTHON, "-m", "destination_dust"]
WINDOW_ENV = "DESTINATION_DUST_RATE_WINDOW_SECONDS"
HWM_POLL_SECONDS = 0.1


@dataclass
class ProcessRun:
    seconds: float
    returncode: int
    peak_rss_mb: float
    stdout: bytes
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MB)

    @property
    def messages(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stdout.splitlines():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
        return out

    def logs(self) -> list[str]:
        return [m["log"]["message"] for m in self.messages if m.get("type") == "LOG"]

    def errors(self) -> list[str]:
        return [
            m["trace"]["error"]["message"]
            for m in self.messages
            if m.get("type") == "TRACE" and m["trace"].get("type") == "ERROR"
        ]


def _status_mb(pid: int, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_measured(
    command: Sequence[str],
    *,
    stdin_file: Path | None = None,
    source: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
    sample_every: float = 0.0,
    timeout: float = 3600,
) -> ProcessRun:
    """Run `command` with stdin from a file or from `source`'s stdout; time it from the first spawn until
    both have exited. Peak RSS is the measured command's own."""
    full_env = {**os.environ, **(env or {})}
    started = time.monotonic()
    feeder: subprocess.Popen[bytes] | None = None
    stdin: IO[bytes] | int | None
    handle = None
    if source is not None:
        feeder = subprocess.Popen(source, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=full_env)
        stdin = feeder.stdout
    elif stdin_file is not None:
        handle = stdin_file.open("rb")
        stdin = handle
    else:
        stdin = subprocess.DEVNULL
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdin=stdin, stdout=out, stderr=subprocess.DEVNULL, env=full_env)
        if feeder is not None and feeder.stdout is not None:
            feeder.stdout.close()  # the consumer holds the only read end now
        samples: list[tuple[float, float]] = []
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            # VmHWM is the high-water mark of the process's own memory since exec; wait4's ru_maxrss would also
            # count the parent's pages copied at fork. Polled every 0.1 s: only the last 0.1 s can be missed.
            last = 0.0
            while not done.wait(HWM_POLL_SECONDS):
                hwm = _status_mb(process.pid, "VmHWM")
                peak[0] = max(peak[0], hwm or 0.0)
                now = time.monotonic()
                if sample_every > 0 and now - last >= sample_every:
                    rss = _status_mb(process.pid, "VmRSS")
                    if rss is not None:
                        samples.append((now - started, rss))
                        last = now

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, _ = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if feeder is not None:
            feeder.wait(timeout)
        seconds = time.monotonic() - started
        done.set()
        if handle is not None:
            handle.close()
        out.seek(0)
        stdout = out.read()
    return ProcessRun(seconds, process.returncode, peak[0], stdout, samples)


class Workdir:
    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="dust-bench-")
        self.path = Path(self._tmp.name)

    def write_json(self, name: str, value: Any) -> Path:
        path = self.path / name
        path.write_bytes(orjson.dumps(value))
        return path

    def close(self) -> None:
        self._tmp.cleanup()


def catalog(stream: str, mode: str = "append") -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": stream,
                    "json_schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": mode,
                "primary_key": [["id"]],
            }
        ]
    }


def generate(path: Path, count: int, *, text_bytes: int = 200, stream: str = "users") -> Path:
    with path.open("wb") as out:
        subprocess.run(
            [PYTHON, "-m", "bench.gen", stream, str(count), "--text-bytes", str(text_bytes)],
            stdout=out,
            check=True,
            cwd=ROOT,
        )
    return path


def start_emulator(**flags: Any) -> EmulatorProcess:
    flags.setdefault("rate_limit", 0)
    return EmulatorProcess(**flags).start()


def status_count(emulator: EmulatorProcess, status: int) -> int:
    by_status: dict[str, int] = emulator.counters()["totals"]["by_status"]
    return int(by_status.get(str(status), 0))


def document_posts(emulator: EmulatorProcess) -> int:
    """Document upserts Dust accepted (what the rate limit counts)."""
    routes: dict[str, dict[str, int]] = emulator.counters()["routes"]
    return int(routes.get("POST documents", {}).get("200", 0))


def documents_total(emulator: EmulatorProcess) -> int:
    with emulator.api_client() as api:
        return int(api.get(emulator.ds_path + "/documents", params={"limit": 1}).json().get("total") or 0)


def rows_total(emulator: EmulatorProcess) -> int:
    with emulator.api_client() as api:
        tables = api.get(emulator.ds_path + "/tables").json().get("tables", [])
        total = 0
        for table in tables:
            answer = api.get(emulator.ds_path + f"/tables/{table['table_id']}/rows", params={"limit": 1})
            total += int(answer.json().get("total") or 0)
        return total


def connector_config(emulator: EmulatorProcess, **overrides: Any) -> dict[str, Any]:
    return {**emulator.config, **overrides}


def window_env(window: float) -> dict[str, str]:
    """Tells the connector the emulator's scaled rate window (test-only: production's is 60 s)."""
    return {WINDOW_ENV: str(window)}


def run_connector(
    work: Workdir,
    config: dict[str, Any],
    stream: str = "users",
    env: dict[str, str] | None = None,
    catalog_json: dict[str, Any] | None = None,
    **run: Any,
) -> ProcessRun:
    """`destination-dust write` on one stream (append) or the given catalog, measured; raises when the sync
    fails."""
    config_path = work.write_json("config.json", config)
    catalog_path = work.write_json("catalog.json", catalog_json or catalog(stream))
    command = [*CONNECTOR, "write", "--config", str(config_path), "--catalog", str(catalog_path)]
    result = run_measured(command, env=env, **run)
    if result.returncode != 0:
        raise RuntimeError(f"connector failed: {result.errors() or result.logs()[-3:]}")
    return result
