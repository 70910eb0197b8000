"""A tiny hostile HTTP server: it answers whatever the test's `answer` function says, which may echo the API
key (read from the Authorization header) back in error messages, bodies or data source names."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Request:
    method: str
    path: str
    key: str  # the bearer token the connector presented
    body: bytes


# (status, body): a dict/list is sent as JSON, bytes as text/plain
Answer = tuple[int, Any]


@dataclass
class HostileServer:
    url: str
    requests: list[Request] = field(default_factory=list)


def dust_error(status: int, kind: str, message: str) -> Answer:
    return status, {"error": {"type": kind, "message": message}}


@contextmanager
def hostile_server(answer: Callable[[Request], Answer]) -> Iterator[HostileServer]:
    seen: list[Request] = []

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            auth = self.headers.get("Authorization") or ""
            request = Request(self.command, self.path, auth.removeprefix("Bearer "), body)
            seen.append(request)
            status, payload = answer(request)
            if isinstance(payload, bytes):
                data, kind = payload, "text/plain"
            else:
                data, kind = orjson.dumps(payload), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HostileServer(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()
