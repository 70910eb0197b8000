"""The demo: start a local Dust emulator, sync the bundled sample into it, and show what landed.

    python examples/demo.py --serve    # sync, print a summary, keep the emulator and its web page up
                                       # (make demo, from a terminal)
    python examples/demo.py            # the same, then stop (make demo when stdin is not a terminal)

The sample (examples/data/) is a small help desk: tickets and events become documents (semantic search), each
ticket's comments are composed into its document, users and order lines become tables (SQL), through one
connection with per-stream settings (examples/data/config.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
COMPOSED_PART = "<!--airbyte:child "  # the marker opening each comment's part in its ticket's document


def start_emulator(workdir: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    config_path = workdir / "emulator-config.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dust_emulator",
            "serve",
            "--port",
            "0",
            "--db",
            str(workdir / "dust.db"),
            "--config-out",
            str(config_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # the emulator prints its URL once it is ready
        print(f"  emulator | {line.rstrip()}")
        if "listening on" in line:
            break
    else:
        raise SystemExit("the emulator did not start: see the lines above")
    return process, json.loads(config_path.read_text())


def run_sync(config: dict[str, Any], workdir: Path) -> int:
    config_path = workdir / "destination-config.json"
    config_path.write_text(json.dumps(config))
    stdin_path = workdir / "input.jsonl"  # the records, then the comments (as a source sends its streams)
    stdin_path.write_bytes((DATA / "records.jsonl").read_bytes() + (DATA / "comments.jsonl").read_bytes())
    with stdin_path.open("rb") as stdin:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "destination_dust",
                "write",
                "--config",
                str(config_path),
                "--catalog",
                str(DATA / "catalog.json"),
            ],
            stdin=stdin,
            capture_output=True,
            check=False,
        )
    states = 0
    for line in result.stdout.decode().splitlines():
        message = json.loads(line)
        if message["type"] == "STATE":
            states += 1
        elif message["type"] == "LOG" and message["log"]["level"] in {"WARN", "ERROR", "FATAL"}:
            print(f"  connector | {message['log']['level']}: {message['log']['message']}")
        elif message["type"] == "LOG" and message["log"]["message"].startswith("sync done"):
            print(f"  connector | {message['log']['message']}")
        elif message["type"] == "TRACE" and message["trace"]["type"] == "ERROR":
            print(f"  connector | ERROR: {message['trace']['error']['message']}")
    print(f"  connector | exit code {result.returncode}, {states} states checkpointed")
    return result.returncode


def show(config: dict[str, Any]) -> None:
    base = f"{config['base_url']}/api/v1/w/{config['workspace_id']}/spaces/{config['space_id']}"
    ds = f"{base}/data_sources/{config['data_source_id']}"
    with httpx.Client(headers={"Authorization": f"Bearer {config['api_key']}"}, timeout=30) as http:
        documents = http.get(f"{ds}/documents", params={"limit": 1000}).json()["documents"]
        print(f"\nDocuments ({len(documents)}), as an agent's search sees them:")
        for doc in documents:
            print(f"  - {doc['document_id']:<28} {doc.get('title')!r:<50} {len(doc.get('text') or '')} chars")
        if documents:
            composed = max(documents, key=lambda d: (d.get("text") or "").count(COMPOSED_PART))
            parts = (composed.get("text") or "").count(COMPOSED_PART)
            print(f"\nA ticket composed with its {parts} comments, {composed['document_id']!r}:")
            print(textwrap.indent((composed.get("text") or "")[:2500].rstrip(), "    | "))
            print(f"    tags: {', '.join(composed.get('tags') or [])}")
        tables = http.get(f"{ds}/tables").json()["tables"]
        print(f"\nTables ({len(tables)}), as an agent's SQL sees them:")
        for table in tables:
            rows = http.get(f"{ds}/tables/{table['table_id']}/rows", params={"limit": 3}).json()
            columns = ", ".join(f"{c['name']} {c['value_type']}" for c in table.get("schema") or [])
            print(f"  - {table['name']} ({rows.get('total')} rows): {columns}")
            for row in rows.get("rows", [])[:2]:
                print(f"      {json.dumps(row['value'])[:150]}")
        query = "refund"
        hits = http.get(f"{ds}/search", params={"query": query, "top_k": 3, "full_text": "false"}).json()
        titles = [d.get("title") for d in hits.get("documents", [])]
        print(f"\nSearch {query!r} (lexical in the emulator): {titles}")


def data_source_sid(config: dict[str, Any]) -> str:
    """The data source's sId (the page's link names it so; the config may name it by its name)."""
    base = f"{config['base_url']}/api/v1/w/{config['workspace_id']}/spaces/{config['space_id']}"
    headers = {"Authorization": f"Bearer {config['api_key']}"}
    found = httpx.get(f"{base}/data_sources", headers=headers, timeout=30).json()["data_sources"]
    wanted = config["data_source_id"]
    return next((str(d["sId"]) for d in found if wanted in (d.get("sId"), d.get("name"))), wanted)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help="keep the emulator running after the sync")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dust-demo-") as tmp:
        workdir = Path(tmp)
        print("1. Starting dust-emulator (a local Dust API)")
        emulator, credentials = start_emulator(workdir)
        try:
            settings = json.loads((DATA / "config.json").read_text())
            config = {**settings, **credentials}
            print("2. Syncing examples/data/records.jsonl with destination-dust write")
            code = run_sync(config, workdir)
            print("3. What landed in the data source")
            show(config)
            if args.serve:
                page = f"{credentials['base_url']}/__emulator/ui#w={credentials['workspace_id']}"
                print(f"\nSee it in a browser: {page}&ds={data_source_sid(config)}")
                print("The emulator keeps running until you press Ctrl-C.")
                emulator.wait()
            else:
                print(
                    "\nThe emulator stops now: run `make demo` from a terminal (or add --serve) to browse what landed."
                )
            return code
        except KeyboardInterrupt:
            return 0
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
