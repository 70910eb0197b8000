"""The ASGI app serving ``/api/v1/``: reads the body, applies faults, authenticates, routes,
validates JSON and renders every answer (errors in Dust's envelope, never a stack trace).

Routing works on ``raw_path`` split on ``/`` and then percent-decoded per segment, like Hono: a
document id sent as ``a%2Fb`` reaches the handler as ``a/b`` instead of changing the route. The
query string is read by ``querystring.parse`` (Hono's rules) for every route.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import orjson

from . import querystring
from .errors import (
    DustApiError,
    content_too_large,
    invalid_request,
    quota_exceeded,
    rate_limited,
    route_not_found,
    unhandled_error,
)
from .routes import Call, Route, match_route
from .state import EmulatorState

log = logging.getLogger("dust_emulator")

API_PREFIX = "/api/v1/w/"
HARD_BODY_CAP = 64 * 1024 * 1024  # beyond this we stop draining and drop the connection
_BEARER = re.compile(r"^Bearer (sk-[a-zA-Z0-9]+)$")
_JSON_CONTENT_TYPE = re.compile(r"^application/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9\-]+=([^;]+))*$")
_JSON_HEADERS = [(b"content-type", b"application/json")]

Scope = dict[str, Any]


class _BodyTooLarge(Exception):
    pass


class DustApiApp:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        # Rows upserts are stored on this one thread (see routes.upsert_rows); the app's lifespan shuts it
        # down when the server stops.
        self.store_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emulator-rows-writer")

    def close(self) -> None:
        """Wait for the store writes in progress and stop the writer thread."""
        self.store_writer.shutdown(wait=True)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        method: str = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.split(b"?", 1)[0].decode("latin-1")
        headers = {k.lower(): v for k, v in scope["headers"]}
        workspace_id, segments = _split_path(path)
        matched = match_route(method, segments) if workspace_id is not None else None
        route = matched[0] if matched else None
        kind = route.kind if route else "unknown"
        template = route.template if route else "unknown"
        presented_key = _presented_key(headers)

        try:
            body = await _read_body(receive, self._body_limit(route))
            too_large = False
        except _BodyTooLarge as exc:
            body, too_large = b"", exc.args[0]

        decision = self.state.faults.decide(kind, method, template, len(body) if not too_large else 2**62)
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        if decision.reset:
            self.state.counters.record(method, kind, template, "reset")
            await _abort_connection(send)
            return
        if decision.status is not None:
            status, content, content_type = _fault_answer(decision.status, self.state)
            self.state.counters.record(method, kind, template, str(status))
            await _respond(send, status, content, content_type)
            return

        try:
            status, payload = await self._handle(
                method, workspace_id, matched, headers, scope, body, too_large
            )
        except DustApiError as error:
            status, payload = error.status, self._error_body(error, presented_key)
        except Exception as exc:  # an emulator bug must still answer like Dust, not with a trace
            log.exception("unhandled error on %s %s", method, template)
            status, payload = 500, self._error_body(unhandled_error(type(exc).__name__), presented_key)
        self.state.counters.record(method, kind, template, str(status))
        content = b"" if payload is None else orjson.dumps(payload)
        await _respond(send, status, content, None if payload is None else b"application/json")

    def _body_limit(self, route: Route | None) -> int:
        settings = self.state.settings
        if route is not None and route.body_limit == "tables":
            return settings.table_body_limit_bytes
        return settings.doc_body_limit_bytes

    def _error_body(self, error: DustApiError, presented_key: str | None) -> dict[str, Any]:
        body = error.body()
        if self.state.settings.hostile_echo_key and presented_key:
            # Deliberately unsafe: lets a client's security tests prove it never logs server text raw.
            body["error"]["message"] += f" (api key: {presented_key})"
        return body

    async def _handle(
        self,
        method: str,
        workspace_id: str | None,
        matched: tuple[Route, dict[str, str]] | None,
        headers: dict[bytes, bytes],
        scope: Scope,
        body: bytes,
        too_large: bool,
    ) -> tuple[int, Any]:
        if workspace_id is None:
            raise route_not_found()
        key = self._authenticate(headers, workspace_id)
        if matched is None:
            raise route_not_found()
        route, params = matched
        if too_large:
            raise content_too_large()
        json_body: Any = None
        if method == "POST":
            json_body = _parse_json(headers, body)
        query = querystring.parse(scope.get("query_string", b"").decode("latin-1"))
        call = Call(self.state, method, workspace_id, params, query, json_body, key, self.store_writer)
        return await route.handler(call)

    def _authenticate(self, headers: dict[bytes, bytes], workspace_id: str) -> dict[str, Any]:
        raw = headers.get(b"authorization")
        if not raw:
            raise DustApiError(
                401, "not_authenticated", "The request does not have valid authentication credentials."
            )
        match = _BEARER.match(raw.decode("latin-1"))
        if not match:
            raise DustApiError(401, "malformed_authorization_header_error", "Malformed Authorization header")
        key = self.state.store.find_api_key(match.group(1))
        if key is None:
            raise DustApiError(401, "invalid_api_key_error", "The API key provided is invalid or disabled.")
        if self.state.store.get_workspace(workspace_id) is None:
            raise DustApiError(404, "workspace_not_found", "The workspace was not found.")
        if key["workspace"] != workspace_id:
            raise DustApiError(
                401, "workspace_auth_error", "Only users of the workspace can access this content."
            )
        return key


def _split_path(path: str) -> tuple[str | None, list[str]]:
    if not path.startswith(API_PREFIX):
        return None, []
    parts = path[len(API_PREFIX) :].split("/")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # Hono's strict:false accepts one trailing slash
    if not parts[0]:
        return None, []
    return unquote(parts[0]), [unquote(part) for part in parts[1:]]


def _presented_key(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"authorization")
    if not raw:
        return None
    text = raw.decode("latin-1")
    return text[7:] if text.startswith("Bearer ") else text


def _parse_json(headers: dict[bytes, bytes], body: bytes) -> Any:
    """Hono's json validator: a non-JSON content type yields ``{}``; bad JSON is a 400."""
    content_type = headers.get(b"content-type", b"").decode("latin-1").strip()
    if not _JSON_CONTENT_TYPE.match(content_type):
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:  # orjson refuses integers beyond 64 bits; JSON.parse accepts them as doubles
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise invalid_request("Malformed JSON in request body") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse refuses NaN and Infinity too


async def _read_body(receive: Any, limit: int) -> bytes:
    """Read the whole body. Past ``limit`` keep draining (so the client can read our 413) but
    store nothing; past ``HARD_BODY_CAP`` give up."""
    chunks: list[bytes] = []
    size = 0
    over = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            over = True
            chunks.clear()
            if size > HARD_BODY_CAP:
                break
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if over:
        raise _BodyTooLarge(True)
    return b"".join(chunks)


def _fault_answer(status: int, state: EmulatorState) -> tuple[int, bytes, bytes]:
    if status == 429:
        error = rate_limited()
    elif status == 403:
        error = quota_exceeded(state.settings.doc_size_limit_mb)
    elif status == 413:
        error = content_too_large()
    elif status in (502, 503, 504):
        # What a load balancer in front of Dust answers: HTML, not Dust's JSON envelope.
        reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}[status]
        title = f"{status} {reason}"
        html = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return status, html.encode(), b"text/html"
    else:
        error = unhandled_error("emulated fault.", status)
    return status, orjson.dumps(error.body()), b"application/json"


async def _respond(send: Any, status: int, content: bytes, content_type: bytes | None) -> None:
    headers = [(b"content-length", str(len(content)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _abort_connection(send: Any) -> None:
    """Close the TCP connection with a RST and no answer at all.

    uvicorn hands the app a bound ``send`` of its request cycle, which holds the transport; with
    SO_LINGER 0 the close is a reset. If the transport is not reachable (another server), fall back
    to starting a response and failing mid-way, which clients also see as a broken connection.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await asyncio.sleep(0.01)  # let the server notice the disconnect before we return
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
    raise ConnectionAbortedError("emulated connection reset")
