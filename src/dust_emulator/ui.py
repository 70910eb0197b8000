"""A small read-only web page over the emulator's store: what a sync wrote, as a person wants to see it.

Mounted at ``/__emulator/ui`` through ``create_app(state, extra_routes=ui_routes(state))``:

    GET /                                         the page (static HTML + vanilla JS, no build step)
    GET /assets/{name}                            app.js, style.css
    GET /api/overview                             workspaces > spaces > data sources, with counts
    GET /api/w/{wId}/ds/{dsId}/documents          ?limit&offset: newest first, full text, tags, timestamp...
    GET /api/w/{wId}/ds/{dsId}/tables             ?rows=N: every table with its schema and first N rows
    GET /api/w/{wId}/ds/{dsId}/search             ?query&top_k: the store's search (same as Dust's endpoint)

Nothing here writes, and nothing needs an API key: like the rest of ``/__emulator/``, it is for a local
emulator only. Secrets (API keys) are never part of any answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from .state import EmulatorState
from .store import DOCUMENT_VIEW, TABLE_VIEW, Store

ASSETS = Path(__file__).resolve().parent / "ui"
ASSET_TYPES = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}
MAX_DOCUMENTS = 200
MAX_ROWS = 200
MAX_TOP_K = 50
NO_STORE = {"Cache-Control": "no-store"}
NOT_FOUND = {"error": {"type": "data_source_not_found", "message": "The data source was not found."}}


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(payload), status_code=status, media_type="application/json", headers=NO_STORE
    )


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        value = default
    return max(low, min(high, value))


def workspace_ids(state: EmulatorState) -> list[str]:
    """Every workspace the store knows (the seeded one first)."""
    store = state.store
    ids: list[str] = []
    lister = getattr(store, "list_workspaces", None)
    if callable(lister):
        ids = [str(w.get("sId") or w.get("sid")) for w in lister()]
    seed = state.seed or {}
    seeded = seed.get("workspace_id")
    if isinstance(seeded, str):
        ids = [seeded, *[i for i in ids if i != seeded]]
    return [i for i in ids if store.get_workspace(i) is not None]


def _data_source_summary(store: Store, ds: dict[str, Any]) -> dict[str, Any]:
    _, documents = store.list_documents(int(ds["id"]), 0, 0)
    return {
        "sId": ds["sid"],
        "name": ds["name"],
        "description": ds.get("description"),
        "connector_provider": ds.get("connector_provider"),
        "documents": documents,
        "tables": len(store.list_tables(int(ds["id"]))),
    }


def overview(state: EmulatorState) -> dict[str, Any]:
    store = state.store
    workspaces = []
    for wid in workspace_ids(state):
        workspace = store.get_workspace(wid) or {}
        spaces = [
            {
                "sId": space["sid"],
                "name": space["name"],
                "kind": space["kind"],
                "data_sources": [
                    _data_source_summary(store, ds) for ds in store.list_data_sources(space["sid"])
                ],
            }
            for space in store.list_spaces(wid)
        ]
        workspaces.append({"sId": wid, "name": workspace.get("name", wid), "spaces": spaces})
    return {"base_url": state.base_url, "workspaces": workspaces}


def _document_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: doc.get(key) for key in DOCUMENT_VIEW}


def ui_routes(state: EmulatorState) -> list[BaseRoute]:
    """The routes to mount under ``/__emulator/ui`` (``create_app(state, extra_routes=ui_routes(state))``)."""
    store = state.store

    def find(request: Request) -> dict[str, Any] | None:
        return store.find_data_source(str(request.path_params["wId"]), str(request.path_params["dsId"]))

    async def page(request: Request) -> Response:
        return FileResponse(ASSETS / "index.html", media_type="text/html", headers=NO_STORE)

    async def asset(request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in ASSET_TYPES or not (ASSETS / name).is_file():
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(ASSETS / name, media_type=ASSET_TYPES[name], headers=NO_STORE)

    async def api_overview(request: Request) -> Response:
        return _json(overview(state))

    async def api_documents(request: Request) -> Response:
        ds = find(request)
        if ds is None:
            return _json(NOT_FOUND, 404)
        limit = _int_param(request, "limit", 50, 1, MAX_DOCUMENTS)
        offset = _int_param(request, "offset", 0, 0, 2**31)
        documents, total = store.list_documents(int(ds["id"]), limit, offset)
        return _json({"total": total, "offset": offset, "documents": [_document_view(d) for d in documents]})

    async def api_tables(request: Request) -> Response:
        ds = find(request)
        if ds is None:
            return _json(NOT_FOUND, 404)
        first = _int_param(request, "rows", 20, 0, MAX_ROWS)
        tables = []
        for table in store.list_tables(int(ds["id"])):
            rows, total = store.list_rows(int(ds["id"]), table["table_id"], first, 0)
            tables.append({key: table.get(key) for key in TABLE_VIEW} | {"rows": rows, "row_count": total})
        return _json({"tables": tables})

    async def api_search(request: Request) -> Response:
        ds = find(request)
        if ds is None:
            return _json(NOT_FOUND, 404)
        query = request.query_params.get("query", "")
        top_k = _int_param(request, "top_k", 10, 1, MAX_TOP_K)
        hits = store.search_documents(int(ds["id"]), query, top_k)
        return _json(
            {"query": query, "documents": [_document_view(d) | {"score": score} for d, score in hits]}
        )

    return [
        Route("/", page, methods=["GET"]),
        Route("/assets/{name}", asset, methods=["GET"]),
        Route("/api/overview", api_overview, methods=["GET"]),
        Route("/api/w/{wId}/ds/{dsId}/documents", api_documents, methods=["GET"]),
        Route("/api/w/{wId}/ds/{dsId}/tables", api_tables, methods=["GET"]),
        Route("/api/w/{wId}/ds/{dsId}/search", api_search, methods=["GET"]),
    ]
