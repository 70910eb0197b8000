"""The emulator's SQLite store on a file: WAL checkpoints happen off the request path."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dust_emulator.store import Store


def test_a_file_database_is_checkpointed_by_the_background_thread(tmp_path: Path) -> None:
    path = str(tmp_path / "emulator.db")
    store = Store(path, checkpoint_every_s=0.05)
    try:
        before = os.path.getsize(path)
        for index in range(50):  # ~1 MB of commits, all in the WAL at first
            store.set_meta(f"bulk-{index}", "x" * 20_000)
        # the request path never checkpoints (wal_autocheckpoint=0): only the checkpointer thread can
        # copy these pages into the database file while the store is open
        deadline = time.monotonic() + 10
        while os.path.getsize(path) < before + 500_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.getsize(path) >= before + 500_000
        assert store.get_meta("bulk-49") == "x" * 20_000
    finally:
        store.close()
    assert not os.path.exists(path + "-wal")  # closing checkpointed the rest and removed the WAL
    reopened = Store(path)
    try:
        assert reopened.get_meta("bulk-0") == "x" * 20_000
    finally:
        reopened.close()
