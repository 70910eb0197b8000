"""A real `python -m dust_emulator serve` (UI mounted by default) holding a real CLI sync of the sample."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dust_emulator.testing import running_emulator
from tests.browser import sample
from tests.browser.sample import SyncedEmulator


@pytest.fixture(scope="package")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncedEmulator]:
    workdir: Path = tmp_path_factory.mktemp("ui-sync")
    with running_emulator() as emu:
        messages = sample.sync(emu.config, workdir)
        yield SyncedEmulator(emu.base_url, emu.config, messages)
