"""Errors of the emulated Dust API.

Two families live here:

* ``DustApiError``: an HTTP answer in Dust's envelope (``{"error": {"type", "message", ...}}``).
  Route handlers raise it; the dispatcher renders it. It carries the status and the Dust error type.
  The answers that more than one place gives (the route itself or an injected fault) are built by
  the functions below, so both give the same body.
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


def content_too_large() -> DustApiError:
    return DustApiError(413, "content_too_large", "Request body too large.")


def rate_limited() -> DustApiError:
    return DustApiError(
        429, "rate_limit_error", "You have reached the maximum number of 120 upserts per minute."
    )


def quota_exceeded(size_limit_mb: float, text_length: int | None = None) -> DustApiError:
    """The plan's document size limit; Dust names the size it refused when it knows it."""
    shown = int(size_limit_mb) if float(size_limit_mb).is_integer() else size_limit_mb
    attempted = f"You are attempting to upload {text_length} bytes. " if text_length is not None else ""
    return DustApiError(
        403,
        "data_source_quota_error",
        f"Data sources document upload size is limited to {shown}MB on your current plan. {attempted}"
        "Contact support@dust.tt if you want to increase it.",
    )


def data_source_not_found() -> DustApiError:
    return DustApiError(404, "data_source_not_found", "The data source you requested was not found.")


def internal_error(message: str, **extra: Any) -> DustApiError:
    return DustApiError(500, "internal_server_error", message, **extra)


def unhandled_error(reason: str, status: int = 500) -> DustApiError:
    """What Dust answers when its handler throws (an emulator bug, or an injected 5xx)."""
    return DustApiError(status, "internal_server_error", f"Unhandled internal server error: {reason}")


def table_not_found() -> DustApiError:
    return DustApiError(404, "table_not_found", "The table you requested was not found.")


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
