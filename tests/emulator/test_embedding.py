"""The emulator embedded in a test process (EmulatorThread): it leaves the process's garbage collector and
logging configuration alone (only the CLI's entrypoint sets them) and its app stops the thread it stores rows
on when the server stops."""

from __future__ import annotations

import gc
import logging
import threading

from dust_emulator.testing import EmulatorThread

WRITER_THREAD = "emulator-rows-writer"


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(WRITER_THREAD)]


def test_a_thread_emulator_leaves_the_collector_alone_and_stops_its_writer() -> None:
    thresholds, writers_before = gc.get_threshold(), len(_writer_threads())
    uvicorn_handlers = list(logging.getLogger("uvicorn").handlers)
    seen_disabled = threading.Event()
    stop_watching = threading.Event()

    def watch() -> None:  # the collector must stay on while the emulator handles requests
        while not stop_watching.is_set():
            if not gc.isenabled():
                seen_disabled.set()

    watcher = threading.Thread(target=watch, daemon=True)
    rows = [{"row_id": str(n), "value": {"n": n, "text": f"row {n}"}} for n in range(500)]
    with EmulatorThread() as emulator, emulator.api_client() as client:
        watcher.start()
        try:
            client.post(
                f"{emulator.ds_path}/tables",
                json={"name": "t", "description": "d", "title": "t", "table_id": "t1"},
            ).raise_for_status()
            for _ in range(10):
                client.post(f"{emulator.ds_path}/tables/t1/rows", json={"rows": rows}).raise_for_status()
                client.post(f"{emulator.ds_path}/documents/d", json={"text": "hello"}).raise_for_status()
        finally:
            stop_watching.set()
            watcher.join()
        assert len(_writer_threads()) == writers_before + 1  # the app's own writer
    assert not seen_disabled.is_set()
    assert gc.isenabled() and gc.get_threshold() == thresholds
    assert logging.getLogger("uvicorn").handlers == uvicorn_handlers
    assert len(_writer_threads()) == writers_before  # shut down with the server
