"""The emulator's ASGI application: the Dust API under ``/api/``, control routes under
``/__emulator/``, and a slot for a UI mounted at ``/__emulator/ui``. Its lifespan owns the API's
store writer thread: the server stops it when it stops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from .control import control_routes
from .dispatch import DustApiApp
from .state import EmulatorState
from .ui import ui_routes

UI_PREFIX = "/__emulator/ui"


def create_app(state: EmulatorState, extra_routes: list[BaseRoute] | None = None) -> Any:
    """Build the ASGI app. ``extra_routes`` (e.g. a UI page) are mounted under ``/__emulator/ui``;
    ``None`` mounts the read-only page of ``ui.py``, ``[]`` mounts nothing."""
    if extra_routes is None:
        extra_routes = ui_routes(state)
    routes = control_routes(state)
    if extra_routes:
        routes.append(Mount(UI_PREFIX, routes=extra_routes))
    api = DustApiApp(state)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            api.close()

    control = Starlette(routes=routes, lifespan=lifespan)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The API bypasses Starlette's router: it routes on raw_path so encoded ids stay intact. The
        # control app gets everything else, the lifespan events included.
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            await api(scope, receive, send)
        else:
            await control(scope, receive, send)

    return app
