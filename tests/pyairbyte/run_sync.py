"""Runs INSIDE the PyAirbyte venv (not the project's): source-faker -> destination-dust through PyAirbyte.

    AIRBYTE_OFFLINE_MODE=1 NO_LIVE_PROGRESS=1 <pyairbyte-venv>/bin/python run_sync.py plan.json

plan.json holds `destination` (the project's .venv/bin/destination-dust), `dump_url` (the emulator's
/__emulator/dump), `out` (the result file) and `runs`: [{name, config, count, write_strategy}, ...].

Every run is one `destination.write(source, cache=False, force_full_refresh=True, write_strategy=...)`
with both connectors as `local_executable`s (no registry, no installs). After each run the emulator's
store dump is saved, so the test can see intermediate states; the source's users are read once more
straight from `source-faker read` (no PyAirbyte) to compare with what landed. One process for every
run: `import airbyte` costs seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

SEED = 7


def faker_config(count: int) -> dict[str, Any]:
    return {"count": count, "seed": SEED, "parallelism": 1, "records_per_slice": 1000}


def read_users_directly(faker_exe: Path, count: int, workdir: Path) -> list[dict[str, Any]]:
    config = workdir / f"faker-config-{count}.json"
    catalog = workdir / "faker-catalog.json"
    config.write_text(json.dumps(faker_config(count)))
    stream = {"name": "users", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
    catalog.write_text(
        json.dumps(
            {
                "streams": [
                    {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
                ]
            }
        )
    )
    proc = subprocess.run(
        [str(faker_exe), "read", "--config", str(config), "--catalog", str(catalog)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    users = []
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("type") == "RECORD" and message["record"]["stream"] == "users":
            users.append(message["record"]["data"])
    return users


def dump(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def main() -> int:
    if os.environ.get("AIRBYTE_OFFLINE_MODE") != "1":
        print("run_sync.py: set AIRBYTE_OFFLINE_MODE=1 (no registry lookups)", file=sys.stderr)
        return 2
    plan = json.loads(Path(sys.argv[1]).read_text())
    workdir = Path(plan["out"]).parent
    faker_exe = Path(sys.executable).parent / "source-faker"

    mark = time.monotonic()
    import airbyte as ab

    result: dict[str, Any] = {"import_airbyte_s": round(time.monotonic() - mark, 2), "runs": {}, "users": {}}
    for run in plan["runs"]:
        mark = time.monotonic()
        source = ab.get_source(
            "source-faker", config=faker_config(run["count"]), local_executable=str(faker_exe)
        )
        source.select_streams(["users"])
        destination = ab.get_destination(
            "destination-dust", config=run["config"], local_executable=plan["destination"]
        )
        destination.check()  # raises AirbyteConnectorCheckFailedError on FAILED
        write = destination.write(
            source, cache=False, force_full_refresh=True, write_strategy=run["write_strategy"]
        )
        result["runs"][run["name"]] = {
            "seconds": round(time.monotonic() - mark, 2),
            "processed_records": getattr(write, "processed_records", None),
            "dump": dump(plan["dump_url"]),
        }
    for count in sorted({run["count"] for run in plan["runs"]}):
        result["users"][str(count)] = read_users_directly(faker_exe, count, workdir)
    Path(plan["out"]).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
