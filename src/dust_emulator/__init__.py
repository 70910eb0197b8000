"""dust-emulator: a local, SQLite-backed emulation of Dust's public data-source API."""

from __future__ import annotations

from .app import create_app
from .server import EmulatorServer, build_state
from .state import EmulatorState, Settings
from .store import Store

__all__ = ["EmulatorServer", "EmulatorState", "Settings", "Store", "build_state", "create_app"]
