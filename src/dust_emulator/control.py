"""Control routes under ``/__emulator/`` (no auth): create workspaces, spaces, data sources and
keys; read and change faults and settings; read counters and a dump of the store; reset; health.

These routes never see fault injection and never count in the request counters.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .limits import FaultSettings
from .state import EmulatorState


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def _bad(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def control_routes(state: EmulatorState) -> list[BaseRoute]:
    store = state.store

    async def health(request: Request) -> Response:
        return _json({"ok": True, "base_url": state.base_url, "db": store.path})

    async def config(request: Request) -> Response:
        return _json({"config": state.connector_config(), "seed": state.seed})

    async def create_workspace(request: Request) -> Response:
        data = await _body(request)
        workspace = store.create_workspace(str(data.get("name", "workspace")), sid=data.get("sId"))
        spaces = [
            {"sId": s["sid"], "name": s["name"], "kind": s["kind"]}
            for s in store.list_spaces(workspace["sId"])
        ]
        return _json({"workspace": workspace, "spaces": spaces}, 201)

    def _workspace_or_404(request: Request) -> str | None:
        wid = str(request.path_params["wId"])
        return wid if store.get_workspace(wid) is not None else None

    async def create_space(request: Request) -> Response:
        wid = _workspace_or_404(request)
        if wid is None:
            return _bad("workspace not found", 404)
        data = await _body(request)
        kind = str(data.get("kind", "regular"))
        if kind not in ("regular", "global", "system", "conversations"):
            return _bad("kind must be regular, global, system or conversations")
        space = store.create_space(wid, str(data.get("name", "Space")), kind, sid=data.get("sId"))
        return _json({"space": {"sId": space["sid"], "name": space["name"], "kind": space["kind"]}}, 201)

    async def create_data_source(request: Request) -> Response:
        wid = _workspace_or_404(request)
        if wid is None:
            return _bad("workspace not found", 404)
        data = await _body(request)
        space_id = data.get("space_id")
        if space_id is None:
            global_space = store.global_space(wid)
            space_id = global_space["sid"] if global_space else None
        space = store.get_space(str(space_id)) if space_id else None
        if space is None or space["workspace"] != wid:
            return _bad("space not found in this workspace", 404)
        provider = data.get("connector_provider") or ("notion" if data.get("connector_managed") else None)
        ds = store.create_data_source(
            wid,
            space["sid"],
            str(data.get("name", "folder")),
            data.get("description"),
            provider,
            sid=data.get("sId"),
        )
        return _json(
            {
                "data_source": {
                    "sId": ds["sid"],
                    "name": ds["name"],
                    "space_id": ds["space"],
                    "connector_provider": ds["connector_provider"],
                }
            },
            201,
        )

    async def create_key(request: Request) -> Response:
        wid = _workspace_or_404(request)
        if wid is None:
            return _bad("workspace not found", 404)
        data = await _body(request)
        kind = data.get("kind", "regular")
        if kind not in ("regular", "system"):
            return _bad("kind must be regular or system")
        key = store.create_api_key(wid, is_system=kind == "system", secret=data.get("secret"))
        return _json({"key": {"secret": key["secret"], "kind": kind, "workspace_id": wid}}, 201)

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.replace(FaultSettings())
        elif request.method in ("PUT", "PATCH"):
            data = await _body(request)
            base = state.faults.settings if request.method == "PATCH" else None
            state.faults.replace(FaultSettings.from_dict(data, base))
        return _json({"faults": asdict(state.faults.settings)})

    async def settings(request: Request) -> Response:
        if request.method in ("PUT", "PATCH"):
            state.apply_settings(await _body(request))
        return _json({"settings": state.settings.as_dict()})

    async def counters(request: Request) -> Response:
        if request.method == "DELETE":
            state.counters.reset()
        return _json(state.counters.snapshot())

    async def dump(request: Request) -> Response:
        return _json(store.dump(request.query_params.get("workspace_id")))

    async def reset(request: Request) -> Response:
        data = await _body(request)
        scope = str(data.get("scope", "data"))
        if scope not in ("data", "all"):
            return _bad("scope must be data or all")
        store.reset(scope)
        state.limiter.reset()
        state.counters.reset()
        state.restore_startup(
            settings=not data.get("keep_settings", False), faults=not data.get("keep_faults", False)
        )
        return _json({"reset": scope})

    def guarded(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
                return _bad(str(exc))

        return run

    prefix = "/__emulator"
    return [
        Route(f"{prefix}/health", guarded(health), methods=["GET"]),
        Route(f"{prefix}/config", guarded(config), methods=["GET"]),
        Route(f"{prefix}/workspaces", guarded(create_workspace), methods=["POST"]),
        Route(f"{prefix}/workspaces/{{wId}}/spaces", guarded(create_space), methods=["POST"]),
        Route(f"{prefix}/workspaces/{{wId}}/data_sources", guarded(create_data_source), methods=["POST"]),
        Route(f"{prefix}/workspaces/{{wId}}/keys", guarded(create_key), methods=["POST"]),
        Route(f"{prefix}/faults", guarded(faults), methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route(f"{prefix}/settings", guarded(settings), methods=["GET", "PUT", "PATCH"]),
        Route(f"{prefix}/counters", guarded(counters), methods=["GET", "DELETE"]),
        Route(f"{prefix}/dump", guarded(dump), methods=["GET"]),
        Route(f"{prefix}/reset", guarded(reset), methods=["POST"]),
    ]
