"""Run the emulator with uvicorn, either in the foreground (the CLI: SIGINT/SIGTERM stop it
cleanly) or in a background thread (fast test fixtures)."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.routing import BaseRoute

from .app import create_app
from .limits import FaultSettings
from .state import EmulatorState, Settings
from .store import Store


def build_state(
    db: str = ":memory:",
    settings: Settings | None = None,
    faults: FaultSettings | None = None,
    seed: bool = True,
) -> EmulatorState:
    state = EmulatorState(Store(db), settings, faults)
    if seed:
        state.seed = state.store.ensure_default_seed()
    return state


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP (not 0): asyncio only disables Nagle on accepted sockets whose
    # proto says TCP, and with Nagle on every answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Lets a restarted emulator take its old port back while old connections sit in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _CleanExitServer(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown, so the process dies "by
    signal". The emulator treats those signals as a normal stop and exits 0."""

    stop_signal: int | None = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.stop_signal is None:
            self.stop_signal = sig
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


class EmulatorServer:
    def __init__(
        self,
        state: EmulatorState,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
        extra_routes: list[BaseRoute] | None = None,
    ) -> None:
        self.state = state
        self.socket = bind_socket(host, port)
        self.host = host
        self.port = int(self.socket.getsockname()[1])
        shown_host = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown_host}:{self.port}"
        state.base_url = self.base_url
        config = uvicorn.Config(
            create_app(state, extra_routes),
            log_config=None,  # uvicorn's handlers are the CLI's to install (use_uvicorn_logging)
            log_level="warning",
            access_log=access_log,  # uvicorn's access log never includes headers (no API keys)
            lifespan="on",  # the app shuts its store writer down at shutdown
            # httptools/uvloop when installed (uvicorn[standard]): about twice the requests per
            # second of the pure-Python h11 parser; h11 otherwise.
            http="auto",
            loop="auto",
            proxy_headers=False,
            timeout_graceful_shutdown=3,
        )
        self.server = _CleanExitServer(config)
        self._thread: threading.Thread | None = None

    async def _serve(self, on_ready: Callable[[], None] | None) -> None:
        task = asyncio.create_task(self.server.serve(sockets=[self.socket]))
        while not self.server.started and not task.done():
            await asyncio.sleep(0.01)
        if self.server.started and on_ready is not None:
            on_ready()
        await task

    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until SIGINT/SIGTERM (uvicorn installs the handlers in the main thread)."""
        try:
            asyncio.run(self._serve(on_ready))
        finally:
            self.state.store.close()

    def start_in_thread(self, timeout_s: float = 10.0) -> EmulatorServer:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve(ready.set)), name="dust-emulator", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout_s):
            raise RuntimeError("dust-emulator did not start in time")
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.state.store.close()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def use_uvicorn_logging() -> None:
    """uvicorn's own log handlers and formats (stderr), for the whole process: the CLI's choice."""
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)


def show_access_log() -> None:
    """uvicorn's access lines are INFO; the emulator's other logs stay at WARNING."""
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)


def quiet_uvicorn_errors() -> None:
    """Injected connection resets make uvicorn log scary lines; they are expected."""

    class _DropExpected(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "returned without starting response" not in record.getMessage()

    logging.getLogger("uvicorn.error").addFilter(_DropExpected())
