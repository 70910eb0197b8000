"""The one classification of Dust's answers (errors.classify) and the check hints derived from it: each answer
becomes one class and failure type, and `check` names the setting to fix from that same classification."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from destination_dust.check import check_connection, preflight
from destination_dust.client import DustClient
from destination_dust.config import DustConfig
from destination_dust.errors import (
    Cancelled,
    ConfigError,
    DestinationError,
    DuplicateTableName,
    DustAnswer,
    DustAuthError,
    DustQuotaError,
    DustRequestError,
    PayloadTooLarge,
    SystemError_,
    TransientError,
    classify,
    is_retryable,
)
from destination_dust.ratelimit import SlidingWindowLimiter
from destination_dust.redact import REDACT

KEY = "sk-" + "k3y" * 20
REDACT.add([KEY])  # as the entrypoint does when it loads the config
CONFIG = DustConfig(
    api_key=KEY, workspace_id="w1", space_id="s1", data_source_id="ds1", base_url="http://localhost:9"
)


@pytest.mark.parametrize(
    ("status", "kind", "message", "error", "failure_type", "retryable"),
    [
        (400, "invalid_request_error", "bad", DustRequestError, "system_error", False),
        (401, "invalid_api_key_error", "bad key", DustAuthError, "config_error", False),
        (403, "data_source_quota_error", "full", DustQuotaError, "config_error", False),
        (403, "workspace_quota_error", "full", DustQuotaError, "config_error", False),
        (403, "data_source_auth_error", "managed", DustAuthError, "config_error", False),
        (404, "data_source_not_found", "nope", ConfigError, "config_error", False),
        (408, None, "", DustRequestError, "system_error", True),
        (413, "content_too_large", "big", PayloadTooLarge, "system_error", False),
        (429, "rate_limit_error", "slow down", TransientError, "transient_error", True),
        (500, "internal_server_error", "boom", TransientError, "transient_error", True),
        (
            500,
            "internal_server_error",
            "table names must be unique",
            DuplicateTableName,
            "transient_error",
            False,
        ),
        (501, None, "", TransientError, "transient_error", False),
        (502, None, "<html>", TransientError, "transient_error", True),
    ],
)
def test_each_answer_maps_to_one_class(
    status: int, kind: str | None, message: str, error: type[Exception], failure_type: str, retryable: bool
) -> None:
    answer = DustAnswer(status, kind, message)
    classified = classify(answer, "upsert document 'd'")
    assert type(classified) is error
    assert classified.failure_type == failure_type
    assert (classified.status, classified.error_type) == (status, kind)
    assert classified.message.startswith(f"upsert document 'd': Dust answered {status}")
    assert is_retryable(answer) is retryable


def test_the_tree_keeps_its_failure_types() -> None:
    assert issubclass(PayloadTooLarge, DustRequestError) and issubclass(DustRequestError, SystemError_)
    assert issubclass(DustQuotaError, ConfigError) and issubclass(DustAuthError, ConfigError)
    assert issubclass(Cancelled, TransientError) and issubclass(DuplicateTableName, TransientError)
    assert Cancelled().message == "the sync is stopping after an earlier failure"


def test_out_of_retries_says_how_long_it_tried() -> None:
    limited = classify(DustAnswer(429, "rate_limit_error", "x"), "upsert", retried_for=120.0)
    assert type(limited) is TransientError and "kept answering 429" in limited.message
    assert "120s" in limited.message and limited.status == 429
    failing = classify(DustAnswer(503, None, "down"), "upsert", retried_for=30.0)
    assert failing.message.endswith("(for 30s, retry_deadline_seconds)")


def _listing_fails_with(status: int, body: Any) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(answer))


def _envelope(kind: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": f"{kind} ({KEY})"}}  # a server that echoes the key


@pytest.mark.parametrize(
    ("status", "body", "hint"),
    [
        (401, _envelope("invalid_api_key_error"), "Dust rejected the API key at http://localhost:9"),
        (401, _envelope("malformed_authorization_header_error"), "Dust rejected the API key"),
        (401, _envelope("not_authenticated"), "Dust rejected the API key"),
        (401, _envelope("workspace_auth_error"), "The API key belongs to another workspace than 'w1'"),
        (404, _envelope("workspace_not_found"), "Workspace 'w1' does not exist at http://localhost:9"),
        (404, _envelope("space_not_found"), "Space 's1' was not found in workspace 'w1'"),
        (404, b"<html>nothing</html>", "answered 404 without Dust's error format"),
        (200, b"<html>hello</html>", "answered 200 without Dust's error format"),
        (403, _envelope("data_source_auth_error"), "Dust check failed at http://localhost:9"),
    ],
)
def test_check_names_the_setting_from_the_classification(status: int, body: Any, hint: str) -> None:
    problem = check_connection(CONFIG, _listing_fails_with(status, body))
    assert problem is not None and hint in problem
    assert KEY not in problem


def test_preflight_raises_the_same_hint_as_a_config_error() -> None:
    client = DustClient(
        CONFIG, _listing_fails_with(404, _envelope("space_not_found")), limiter=SlidingWindowLimiter(0)
    )
    with pytest.raises(ConfigError, match="Space 's1' was not found") as raised:
        preflight(client, CONFIG)
    assert isinstance(raised.value, DestinationError) and KEY not in raised.value.message
