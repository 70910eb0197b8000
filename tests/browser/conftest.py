"""An emulator with the UI mounted, in a thread of the test process, holding a real sync of the sample."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dust_emulator.server import EmulatorServer, build_state
from dust_emulator.ui import ui_routes
from tests.browser import sample
from tests.browser.sample import SyncedEmulator


@pytest.fixture(scope="package")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncedEmulator]:
    workdir: Path = tmp_path_factory.mktemp("ui-sync")
    state = build_state(str(workdir / "emulator.db"))
    server = EmulatorServer(state, extra_routes=ui_routes(state)).start_in_thread()
    try:
        config = state.connector_config()
        messages = sample.sync(config, workdir)
        yield SyncedEmulator(server.base_url, config, messages)
    finally:
        server.stop()
