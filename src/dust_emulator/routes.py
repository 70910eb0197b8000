"""Handlers of the emulated Dust public API (``/api/v1/w/{wId}/...``).

Each handler receives a ``Call`` (the authenticated request) and returns ``(status, body)``; it
raises ``DustApiError`` for error answers. Handlers follow the order of checks of Dust's Hono
routes (reference §8) and translate store errors into the status each Dust endpoint uses.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from . import querystring, rowbatch, validation
from .errors import (
    DustApiError,
    InvalidCell,
    NotFound,
    TableNameConflict,
    data_source_not_found,
    internal_error,
    invalid_request,
    quota_exceeded,
    rate_limited,
    table_not_found,
)
from .jsvalues import I64_MAX, I64_MIN, clean_timestamp, utf16_len
from .source_url import InvalidUrl, standardize_source_url
from .state import EmulatorState
from .store import CHUNK_CHARS, DUST_TABLE_MIME_TYPE, random_sid

MAX_TITLE_LENGTH = 512


@dataclass
class Call:
    state: EmulatorState
    method: str
    workspace_id: str
    params: dict[str, str]
    query: querystring.Query
    json_body: Any
    key: dict[str, Any]
    store_writer: Executor  # the app's one thread for rows writes

    @property
    def is_system(self) -> bool:
        return bool(self.key["is_system"])


Handler = Callable[[Call], Awaitable[tuple[int, Any]]]


# ---- shapes -----------------------------------------------------------------------------------


def data_source_type(ds: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ds["id"],
        "sId": ds["sid"],
        "createdAt": ds["created"],
        "name": ds["name"],
        "description": ds["description"],
        "assistantDefaultSelected": False,
        "dustAPIProjectId": ds["project_id"],
        "dustAPIDataSourceId": ds["core_id"],
        "connectorId": ds["connector_id"],
        "connectorProvider": ds["connector_provider"],
        "editedByUser": None,
    }


def space_type(space: dict[str, Any]) -> dict[str, Any]:
    return {
        "createdAt": space["created"],
        "groupIds": [],
        "isRestricted": space["kind"] == "system",
        "kind": space["kind"],
        "name": space["name"],
        "sId": space["sid"],
        "updatedAt": space["created"],
    }


def _chunks(text: str) -> list[dict[str, Any]]:
    return [
        {"text": piece, "hash": hashlib.sha256(piece.encode()).hexdigest(), "offset": index}
        for index, piece in enumerate(text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS))
    ]


def core_document(ds: dict[str, Any], doc: dict[str, Any], *, with_chunks: bool = False) -> dict[str, Any]:
    return {
        "data_source_id": ds["core_id"],
        "created": doc["created"],
        "document_id": doc["document_id"],
        "timestamp": doc["timestamp"],
        "parents": doc["parents"],
        "parent_id": doc["parent_id"],
        "tags": doc["tags"],
        "source_url": doc["source_url"],
        "hash": doc["hash"],
        "text_size": doc["text_size"],
        "chunk_count": doc["chunk_count"],
        "chunks": _chunks(doc["text"]) if with_chunks else [],
        "title": doc["title"],
        "mime_type": doc["mime_type"],
        "text": doc["text"],
    }


def table_shape(table: dict[str, Any], *, with_parent_id: bool) -> dict[str, Any]:
    shape = {
        "name": table["name"],
        "table_id": table["table_id"],
        "description": table["description"],
        "schema": table["schema"],
        "timestamp": table["timestamp"],
        "tags": table["tags"],
        "parents": table["parents"],
        "mime_type": table["mime_type"],
        "title": table["title"],
    }
    if with_parent_id:
        shape["parent_id"] = table["parent_id"]
    return shape


def section_full_text(root: dict[str, Any]) -> str:
    """Dust's ``sectionFullText``: prefix + content of every section, depth first, no separator."""
    parts: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        parts.append((node.get("prefix") or "") + (node.get("content") or ""))
        stack.extend(reversed(node.get("sections") or []))
    return "".join(parts)


# ---- lookups ----------------------------------------------------------------------------------


def resolve_data_source(call: Call) -> dict[str, Any]:
    """Dust's DS lookup: by sId or name; the legacy (space-less) paths use the global space for
    regular keys and the data source's own space for system keys."""
    store = call.state.store
    ds = store.find_data_source(call.workspace_id, call.params["dsId"])
    space_id = call.params.get("spaceId")
    if space_id is None:
        if call.is_system:
            space_id = ds["space"] if ds else None
        else:
            global_space = store.global_space(call.workspace_id)
            space_id = global_space["sid"] if global_space else None
    if ds is None or ds["space"] != space_id:
        raise data_source_not_found()
    space = store.get_space(ds["space"])
    if space is None or (space["kind"] == "system" and not call.is_system):
        raise data_source_not_found()
    if space["kind"] == "conversations":
        raise DustApiError(404, "space_not_found", "The space you're trying to access was not found")
    return ds


# ---- spaces and data sources ------------------------------------------------------------------


DEFAULT_SPACE_KINDS = ("system", "global", "regular")
SELECTABLE_SPACE_KINDS = (*DEFAULT_SPACE_KINDS, "project")


async def list_spaces(call: Call) -> tuple[int, Any]:
    kinds = querystring.enum_list(call.query, "kinds", SELECTABLE_SPACE_KINDS) or DEFAULT_SPACE_KINDS
    spaces = [
        space_type(space)
        for space in call.state.store.list_spaces(call.workspace_id)
        if (call.is_system or space["kind"] != "system") and space["kind"] in kinds
    ]
    return 200, {"spaces": spaces}


async def list_data_sources(call: Call) -> tuple[int, Any]:
    """Both ``/spaces/{spaceId}/data_sources`` and the legacy ``/data_sources``, which lists the
    workspace's global space (for every kind of key)."""
    store = call.state.store
    if "spaceId" in call.params:
        space = store.get_space(call.params["spaceId"])
    else:
        space = store.global_space(call.workspace_id)
        if space is None:  # Dust's fetchWorkspaceGlobalSpace throws: an unhandled 500
            raise internal_error("The workspace has no global space.")
    if (
        space is None
        or space["workspace"] != call.workspace_id
        or space["kind"] == "conversations"
        or (space["kind"] == "system" and not call.is_system)
    ):
        raise DustApiError(404, "space_not_found", "The space you requested was not found.")
    data_sources = call.state.store.list_data_sources(space["sid"])
    return 200, {"data_sources": [data_source_type(ds) for ds in data_sources]}


# ---- documents --------------------------------------------------------------------------------


async def get_document(call: Call) -> tuple[int, Any]:
    ds = resolve_data_source(call)
    try:
        doc = call.state.store.get_document(ds["id"], call.params["documentId"])
    except NotFound as exc:
        raise DustApiError(
            400,
            "data_source_error",
            "There was an error retrieving the data source document.",
            data_source_error={"code": exc.code, "message": exc.message},
        ) from exc
    return 200, {"document": core_document(ds, doc)}


async def upsert_document(call: Call) -> tuple[int, Any]:
    state, document_id = call.state, call.params["documentId"]
    body = validation.document_body(call.json_body)
    ds = resolve_data_source(call)
    if ds["connector_id"] and not call.is_system:
        raise DustApiError(
            403, "data_source_auth_error", "You cannot upsert a document on a managed data source."
        )
    if not call.is_system and not state.limiter.try_acquire(f"upsert-document-w-{call.workspace_id}"):
        raise rate_limited()
    source_url = None
    if body["source_url"]:
        try:
            source_url = standardize_source_url(body["source_url"])
        except InvalidUrl as exc:
            raise invalid_request(
                "Invalid request body, `source_url` if provided must be a valid URL."
            ) from exc
    if isinstance(body["text"], str):
        section: dict[str, Any] | None = {"prefix": None, "content": body["text"], "sections": []}
    else:
        section = body["section"] or None
    if not section:
        raise invalid_request("Invalid request body, `text` or `section` must be provided.")
    full_text = body["text"] if isinstance(body["text"], str) else section_full_text(section)
    size_mb = state.settings.doc_size_limit_mb
    text_length = utf16_len(full_text)
    if size_mb != -1 and text_length > 1024 * 1024 * size_mb:
        raise quota_exceeded(size_mb, text_length)
    _check_hierarchy(call, body, document_id, "document_id")
    title_param = body["title"]
    if title_param and utf16_len(title_param) > MAX_TITLE_LENGTH:
        raise invalid_request(f"Invalid title: title too long (max {MAX_TITLE_LENGTH} characters).")

    timestamp = clean_timestamp(body["timestamp"])
    if not _core_accepts_timestamp(timestamp):
        # core takes a u64: a negative (or absurdly large) value fails its payload parsing
        raise internal_error(
            "There was an error upserting the document.",
            data_source_error={"code": "invalid_payload", "message": "timestamp must be a u64"},
        )
    tags: list[str] = list(body["tags"]) if body["tags"] else []
    title_in_tags = next((t[6:].strip() for t in tags if t.startswith("title:")), None)
    title = (title_param or "").strip() or title_in_tags or document_id
    if not title_in_tags:
        tags.append(f"title:{title}")
    # Dust only sends the title tag to core when the caller sent a tags array (§8.4).
    stored_tags = tags if body["tags"] is not None else []

    def write() -> dict[str, Any]:
        return state.store.upsert_document(
            ds["id"],
            document_id,
            text=full_text,
            section=None if isinstance(body["text"], str) else section,
            title=title,
            mime_type=body["mime_type"] if body["mime_type"] is not None else "application/octet-stream",
            source_url=source_url,
            tags=stored_tags,
            parents=body["parents"] or [document_id],
            parent_id=body["parent_id"] or None,
            timestamp=timestamp,
        )

    if body["async"] is True:
        delay = state.settings.async_delay_ms / 1000.0
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, write)
        else:
            write()
        return 200, {"document": {"document_id": document_id}}
    doc = write()
    if body["light_document_output"] is True:
        document: dict[str, Any] = {
            key: doc[key] for key in ("hash", "text_size", "chunk_count", "token_count", "created")
        }
    else:
        document = core_document(ds, doc, with_chunks=True)
    return 200, {"document": document, "data_source": data_source_type(ds)}


def _core_accepts_timestamp(timestamp: int | None) -> bool:
    """Core's timestamps are u64; the emulator's SQLite stops at i64, far beyond any real date."""
    return timestamp is None or 0 <= timestamp <= I64_MAX


def _check_hierarchy(call: Call, body: dict[str, Any], node_id: str, id_name: str) -> None:
    """Regular keys may not set parents (even ``[]``, which is truthy in JS) or a parent_id."""
    parents, parent_id = body["parents"], body["parent_id"]
    if not call.is_system and parents is not None:
        raise invalid_request(
            "Setting a custom hierarchy is not supported yet. Please omit the parents field."
        )
    if not call.is_system and parent_id:
        raise invalid_request(
            "Setting a custom hierarchy is not supported yet. Please omit the parent_id field."
        )
    if parents is not None:
        if len(parents) == 0:
            raise invalid_request("Invalid parents: parents must have at least one element.")
        if parents[0] != node_id:
            raise invalid_request(f"Invalid parents: parents[0] should be equal to {id_name}.")
        if (len(parents) >= 2 or parent_id is not None) and (
            parents[1] if len(parents) > 1 else None
        ) != parent_id:
            raise invalid_request("Invalid parent id: parents[1] and parent_id should be equal.")


async def delete_document(call: Call) -> tuple[int, Any]:
    ds = resolve_data_source(call)
    if ds["connector_id"] and not call.is_system:
        raise DustApiError(
            403, "data_source_auth_error", "You cannot delete a document from a managed data source."
        )
    call.state.store.delete_document(ds["id"], call.params["documentId"])
    return 200, {"document": {"document_id": call.params["documentId"]}}


PAGING_DEFAULTS = {"limit": 10, "offset": 0}
# What front's CoreAPI reports when core answers a plain-text deserialisation error (not JSON).
CORE_REJECTED_INPUT = {
    "code": "unexpected_response_format",
    "message": "Unexpected response format from CoreAPI: "
    "SyntaxError: Unexpected token 'F', \"Failed to \"... is not valid JSON",
}


def _core_paging(paging: dict[str, float]) -> dict[str, int] | None:
    """``limit`` and ``offset`` as core reads them from the query front sends it (``usize``, from
    the number as JavaScript prints it); ``None`` where core's query parsing fails (2^64 or more)."""
    values = {name: querystring.as_core_usize(number) for name, number in paging.items()}
    return None if None in values.values() else {name: value or 0 for name, value in values.items()}


async def list_documents(call: Call) -> tuple[int, Any]:
    paging = querystring.non_negative_ints(call.query, PAGING_DEFAULTS)
    ds = resolve_data_source(call)
    core = _core_paging(paging)
    # core casts them to Postgres' i64 (core/src/stores/postgres.rs): 2^63 or more turns negative
    negative = next((name for name, value in (core or {}).items() if value > I64_MAX), None)
    if core is None or negative is not None:
        core_error = CORE_REJECTED_INPUT
        if negative is not None:
            message = f"Failed to list data source (error: db error: ERROR: {negative.upper()} must not be negative)"
            core_error = {"code": "internal_server_error", "message": message}
        raise DustApiError(
            400,
            "data_source_error",
            "There was an error retrieving the data source documents.",
            data_source_error=core_error,
        )
    documents, total = call.state.store.list_documents(
        ds["id"], core["limit"], core["offset"], call.query.all("document_ids") or None
    )
    return 200, {"documents": [core_document(ds, doc) for doc in documents], "total": total}


SEARCH_NUMBERS = ("top_k", "target_document_tokens", "timestamp_gt", "timestamp_lt")


async def search(call: Call) -> tuple[int, Any]:
    """Dust reads the query after the data-source lookup, with ``ctx.req.query()`` (a repeated key
    gives its first value) and the tag and parent filters with ``ctx.req.queries()``."""
    ds = resolve_data_source(call)
    query = call.query.first("query")
    issues = [] if query is not None else [("Required", "query")]
    numbers: dict[str, float | None] = {}
    for name in SEARCH_NUMBERS:
        raw = call.query.first(name)
        if raw is None and name != "top_k":  # optional
            numbers[name] = None
            continue
        number = numbers[name] = querystring.to_number(raw)
        issues.extend((message, name) for message in querystring.check_number(number))
    if issues:
        raise invalid_request(querystring.format_issues(issues))
    assert query is not None
    top_k, tokens = numbers["top_k"], numbers["target_document_tokens"]
    # Core reads top_k and target_document_tokens as usize; JSON.stringify sends Infinity as null,
    # which an optional field takes as absent.
    top_k_core = querystring.as_core_usize(top_k) if top_k is not None else None
    tokens_refused = (
        tokens is not None and math.isfinite(tokens) and querystring.as_core_usize(tokens) is None
    )
    if top_k_core is None or tokens_refused:
        raise DustApiError(400, "data_source_error", CORE_REJECTED_INPUT["message"])
    results = call.state.store.search_documents(
        ds["id"],
        query,
        top_k_core,
        tags_in=call.query.all("tags_in") or None,
        tags_not=call.query.all("tags_not") or None,
        timestamp_gt=_core_timestamp(numbers["timestamp_gt"]),
        timestamp_lt=_core_timestamp(numbers["timestamp_lt"]),
    )
    full_text = querystring.to_boolean(call.query.first("full_text"))
    documents = []
    for doc, score in results:
        shaped = core_document(ds, doc, with_chunks=True)
        shaped["chunks"] = [chunk | {"score": score} for chunk in shaped["chunks"][:1]]
        if not full_text:
            shaped["text"] = None
        documents.append(shaped)
    return 200, {"documents": documents}


def _core_timestamp(value: float | None) -> int | None:
    """Core reads search timestamps as f64 and casts them to i64 (``as``: truncated, saturating);
    an infinite value reaches it as null, i.e. no bound."""
    if value is None or not math.isfinite(value):
        return None
    return max(I64_MIN, min(I64_MAX, int(value)))


# ---- tables -----------------------------------------------------------------------------------


async def list_tables(call: Call) -> tuple[int, Any]:
    ds = resolve_data_source(call)
    tables = call.state.store.list_tables(ds["id"])
    return 200, {"tables": [table_shape(t, with_parent_id=True) for t in tables]}


async def upsert_table(call: Call) -> tuple[int, Any]:
    body = validation.table_body(call.json_body)
    ds = resolve_data_source(call)
    if call.is_system:
        if not body["mime_type"]:
            raise invalid_request("Invalid request body: mimeType must be provided.")
        if not body["title"]:
            raise invalid_request("Invalid request body: title must be provided.")
        mime_type = body["mime_type"]
    else:
        if body["mime_type"]:
            raise invalid_request("Invalid request body: mimeType must not be provided.")
        mime_type = DUST_TABLE_MIME_TYPE
    tags = body["tags"]
    title_in_tags = next((t[6:].strip() for t in tags or [] if t.startswith("title:")), None)
    title = body["title"].strip() or title_in_tags or body["name"].strip() or "Untitled Document"
    table_id = body["table_id"] or random_sid()
    timestamp = clean_timestamp(body["timestamp"])
    _check_hierarchy(call, body, table_id, "table_id")
    if not _core_accepts_timestamp(timestamp):
        raise internal_error(
            "Failed to upsert table (table names must be unique).",
            data_source_error={"code": "invalid_payload", "message": "timestamp must be a u64"},
        )
    try:
        table = call.state.store.upsert_table(
            ds["id"],
            table_id,
            name=body["name"],
            description=body["description"],
            title=title,
            timestamp=timestamp,
            tags=tags or [],
            parents=body["parents"] or [table_id],
            parent_id=body["parent_id"],
            mime_type=mime_type,
            source_url=body["source_url"],
            remote_table_id=body["remote_database_table_id"],
            remote_secret_id=body["remote_database_secret_id"],
        )
    except TableNameConflict as exc:
        raise internal_error(
            "Failed to upsert table (table names must be unique).",
            data_source_error={"code": "internal_server_error", "message": f"Failed to upsert table: {exc}"},
        ) from exc
    return 200, {"table": table_shape(table, with_parent_id=False)}


async def get_table(call: Call) -> tuple[int, Any]:
    ds = resolve_data_source(call)
    try:
        table = call.state.store.get_table(ds["id"], call.params["tId"])
    except NotFound as exc:
        raise DustApiError(404, "table_not_found", "Failed to get table.") from exc
    return 200, {"table": table_shape(table, with_parent_id=True)}


async def delete_table(call: Call) -> tuple[int, Any]:
    ds = resolve_data_source(call)
    try:
        call.state.store.delete_table(ds["id"], call.params["tId"])
    except NotFound as exc:
        raise table_not_found() from exc
    return 200, None  # Dust answers ctx.body(null, 200): an empty body


async def upsert_table_csv(call: Call) -> tuple[int, Any]:
    if not call.is_system:  # Dust's ensure_role middleware runs before the handler's lookups
        raise DustApiError(403, "invalid_oauth_token_error", "Only system keys can perform this action.")
    resolve_data_source(call)
    raise invalid_request("The emulator does not implement CSV table uploads.")


# ---- rows -------------------------------------------------------------------------------------


async def upsert_rows(call: Call) -> tuple[int, Any]:
    batch = rowbatch.parse(call.json_body)
    ds = resolve_data_source(call)
    write = functools.partial(
        call.state.store.upsert_rows,
        ds["id"],
        call.params["tId"],
        batch.row_ids,
        batch.values,
        batch.truncate,
        batch.infer,
    )
    try:
        # On the app's one writer thread: the sqlite3 module releases the GIL while SQLite inserts and
        # commits, so the event loop reads and checks the next body meanwhile. One thread: rows upserts
        # are stored in the order they were checked.
        table = await asyncio.get_running_loop().run_in_executor(call.store_writer, write)
    except (NotFound, InvalidCell) as exc:
        # Dust's front maps every core error of this endpoint to a 500.
        raise internal_error("Failed to upsert database rows.") from exc
    return 200, {"table": table}


ROWS_LIST_FAILED = "Failed to list database rows."


async def list_rows(call: Call) -> tuple[int, Any]:
    paging = querystring.non_negative_ints(call.query, PAGING_DEFAULTS)
    ds = resolve_data_source(call)
    core = _core_paging(paging)
    if core is None:  # front maps every core error of this endpoint to a 500
        raise internal_error(ROWS_LIST_FAILED)
    # core slices the rows in memory (core/src/databases_store/gcs.rs): any usize works; SQLite
    # stops at i64, which no table reaches
    limit, offset = min(core["limit"], I64_MAX), min(core["offset"], I64_MAX)
    try:
        rows, total = call.state.store.list_rows(ds["id"], call.params["tId"], limit, offset)
    except NotFound as exc:
        raise internal_error(ROWS_LIST_FAILED) from exc
    # front echoes the numbers it validated, as JSON.stringify prints them
    echoed = {name: querystring.js_integer(value) for name, value in paging.items()}
    return 200, {"rows": rows, "offset": echoed["offset"], "limit": echoed["limit"], "total": total}


async def get_row(call: Call) -> tuple[int, Any]:
    ds = resolve_data_source(call)
    try:
        row = call.state.store.get_row(ds["id"], call.params["tId"], call.params["rId"])
    except NotFound as exc:
        raise internal_error("Failed to get row.") from exc
    return 200, {"row": row}


async def delete_row(call: Call) -> tuple[int, Any]:
    ds = resolve_data_source(call)
    try:
        call.state.store.delete_row(ds["id"], call.params["tId"], call.params["rId"])
    except NotFound as exc:
        raise table_not_found() from exc
    return 200, {"success": True}


# ---- route table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    segments: tuple[str, ...]  # after /api/v1/w/{wId}; "{name}" segments are parameters
    handler: Handler
    kind: str  # route kind used by counters and fault scoping
    body_limit: str | None = None  # "documents" or "tables": which body limit applies

    @property
    def template(self) -> str:
        return "/" + "/".join(self.segments)


def _data_source_routes(prefix: tuple[str, ...]) -> list[Route]:
    docs = (*prefix, "documents")
    tables = (*prefix, "tables")
    rows = (*tables, "{tId}", "rows")
    return [
        Route("GET", docs, list_documents, "documents"),
        Route("GET", (*docs, "{documentId}"), get_document, "documents"),
        Route("POST", (*docs, "{documentId}"), upsert_document, "documents", "documents"),
        Route("DELETE", (*docs, "{documentId}"), delete_document, "documents"),
        Route("GET", tables, list_tables, "tables"),
        Route("POST", tables, upsert_table, "tables", "tables"),
        Route("POST", (*tables, "csv"), upsert_table_csv, "tables", "tables"),
        Route("GET", (*tables, "{tId}"), get_table, "tables"),
        Route("DELETE", (*tables, "{tId}"), delete_table, "tables"),
        Route("GET", rows, list_rows, "rows"),
        Route("POST", rows, upsert_rows, "rows", "tables"),
        Route("GET", (*rows, "{rId}"), get_row, "rows"),
        Route("DELETE", (*rows, "{rId}"), delete_row, "rows"),
        Route("GET", (*prefix, "search"), search, "search"),
    ]


ROUTES: list[Route] = [
    Route("GET", ("spaces",), list_spaces, "spaces"),
    Route("GET", ("spaces", "{spaceId}", "data_sources"), list_data_sources, "data_sources"),
    Route("GET", ("data_sources",), list_data_sources, "data_sources"),
    *_data_source_routes(("spaces", "{spaceId}", "data_sources", "{dsId}")),
    *_data_source_routes(("data_sources", "{dsId}")),
]


def match_route(method: str, segments: list[str]) -> tuple[Route, dict[str, str]] | None:
    """Find the route for decoded path segments. Literal segments win over parameters
    (``tables/csv`` before ``tables/{tId}``)."""
    best: tuple[Route, dict[str, str]] | None = None
    best_literals = -1
    for route in ROUTES:
        if route.method != method or len(route.segments) != len(segments):
            continue
        params: dict[str, str] = {}
        literals = 0
        for pattern, value in zip(route.segments, segments, strict=True):
            if pattern.startswith("{"):
                if value == "":
                    break
                params[pattern[1:-1]] = value
            elif pattern == value:
                literals += 1
            else:
                break
        else:
            if literals > best_literals:
                best, best_literals = (route, params), literals
    return best
