"""Errors of the emulated Dust API.

Two families live here:

* ``DustApiError``: an HTTP answer in Dust's envelope (``{"error": {"type", "message", ...}}``).
  Route handlers raise it; the dispatcher renders it. It carries the status and the Dust error type.
* ``StoreError`` and children: domain failures raised by the store, which knows no HTTP. Routes
  translate them into the status Dust uses for that endpoint (the same core error maps to different
  statuses on different Dust endpoints, so the mapping belongs to the route).
"""

from __future__ import annotations

from typing import Any


class DustApiError(Exception):
    """An error answer, rendered as ``{"error": {"type": ..., "message": ..., **extra}}``."""

    def __init__(self, status: int, error_type: str, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {error_type}: {message}")
        self.status = status
        self.error_type = error_type
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.error_type, "message": self.message, **self.extra}}


def invalid_request(message: str) -> DustApiError:
    return DustApiError(400, "invalid_request_error", message)


def data_source_not_found() -> DustApiError:
    return DustApiError(404, "data_source_not_found", "The data source you requested was not found.")


def internal_error(message: str, **extra: Any) -> DustApiError:
    return DustApiError(500, "internal_server_error", message, **extra)


def route_not_found() -> DustApiError:
    # Hono answers unknown paths with a plain 404; we keep Dust's envelope so clients never
    # have to parse two shapes. The type is the one Dust uses for unknown API routes.
    return DustApiError(404, "not_found", "The requested resource was not found.")


class StoreError(Exception):
    """A failure of the store (no HTTP meaning attached)."""


class NotFound(StoreError):
    """The addressed object does not exist. ``code`` mirrors Dust core's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TableNameConflict(StoreError):
    """Another table of the data source already uses this name (core's uniqueness check)."""


class InvalidCell(StoreError):
    """A row cell core refuses (non-integer datetime epoch, out-of-range date...)."""
