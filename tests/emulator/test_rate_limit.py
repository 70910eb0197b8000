"""Dust's document-upsert limiter: a sliding window per workspace, system keys exempt, blocked
requests not counted, checked after body validation, no Retry-After."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dust_emulator.limits import SlidingWindowLimiter
from dust_emulator.testing import EmulatorProcess


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_counts_only_allowed_requests() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 10.0, clock)
    assert [limiter.try_acquire("w") for _ in range(3)] == [True] * 3
    clock.now += 5
    assert limiter.try_acquire("w") is False  # blocked, and not recorded
    clock.now += 5.001  # the first three leave the window
    assert [limiter.try_acquire("w") for _ in range(4)] == [True, True, True, False]
    assert limiter.try_acquire("other-workspace") is True


def test_sliding_not_fixed_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 10.0, clock)
    assert limiter.try_acquire("w")
    clock.now += 9
    assert limiter.try_acquire("w")
    clock.now += 2  # only the first request left the window
    assert limiter.try_acquire("w") is True
    assert limiter.try_acquire("w") is False


def test_zero_limit_disables() -> None:
    limiter = SlidingWindowLimiter(0, 10.0)
    assert all(limiter.try_acquire("w") for _ in range(1000))


def _post(client, emulator: EmulatorProcess, doc: str, body: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        f"{emulator.ds_path}/documents/{doc}", json=body if body is not None else {"text": "x"}
    )


def test_http_window_over_real_time(emulator: EmulatorProcess) -> None:
    emulator.update_settings(rate_limit=3, rate_window_s=1.0)
    with emulator.api_client() as client:
        statuses = [_post(client, emulator, f"d{i}").status_code for i in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = _post(client, emulator, "d5")
        assert limited.json() == {
            "error": {
                "type": "rate_limit_error",
                "message": "You have reached the maximum number of 120 upserts per minute.",
            }
        }
        assert "retry-after" not in limited.headers
        time.sleep(1.1)
        assert _post(client, emulator, "d6").status_code == 200


def test_invalid_bodies_do_not_consume_quota(emulator: EmulatorProcess) -> None:
    emulator.update_settings(rate_limit=2, rate_window_s=30.0)
    with emulator.api_client() as client:
        for _ in range(5):
            assert _post(client, emulator, "bad", {"text": 3}).status_code == 400
        assert [_post(client, emulator, f"d{i}").status_code for i in range(3)] == [200, 200, 429]


def test_gets_deletes_tables_and_rows_are_not_limited(emulator: EmulatorProcess) -> None:
    emulator.update_settings(rate_limit=1, rate_window_s=30.0)
    with emulator.api_client() as client:
        assert _post(client, emulator, "d").status_code == 200
        for _ in range(5):
            assert client.get(f"{emulator.ds_path}/documents/d").status_code == 200
            assert (
                client.post(
                    f"{emulator.ds_path}/tables",
                    json={"name": "t", "description": "d", "title": "t", "table_id": "t"},
                ).status_code
                == 200
            )
        assert client.delete(f"{emulator.ds_path}/documents/d").status_code == 200


def test_system_keys_are_exempt_and_not_counted(emulator: EmulatorProcess) -> None:
    emulator.update_settings(rate_limit=2, rate_window_s=30.0)
    with emulator.api_client(emulator.system_api_key) as system:
        assert all(_post(system, emulator, f"s{i}").status_code == 200 for i in range(10))
    with emulator.api_client() as client:
        assert [_post(client, emulator, f"d{i}").status_code for i in range(3)] == [200, 200, 429]


def test_window_is_per_workspace(emulator: EmulatorProcess) -> None:
    emulator.update_settings(rate_limit=1, rate_window_s=30.0)
    other = emulator.control.post("/workspaces", json={"name": "B"}).json()
    workspace_b = other["workspace"]["sId"]
    key_b = emulator.control.post(f"/workspaces/{workspace_b}/keys", json={"kind": "regular"}).json()["key"][
        "secret"
    ]
    ds_b = emulator.control.post(f"/workspaces/{workspace_b}/data_sources", json={"name": "f"}).json()[
        "data_source"
    ]
    with emulator.api_client() as client:
        assert [_post(client, emulator, f"d{i}").status_code for i in range(2)] == [200, 429]
    import httpx

    response = httpx.post(
        f"{emulator.base_url}/api/v1/w/{workspace_b}/spaces/{ds_b['space_id']}/data_sources/{ds_b['sId']}/documents/x",
        json={"text": "x"},
        headers={"Authorization": f"Bearer {key_b}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("limit", [20])
def test_session_emulator_uses_the_small_test_window(emulator: EmulatorProcess, limit: int) -> None:
    settings = emulator.control.get("/settings").json()["settings"]
    assert settings["rate_limit"] == limit and settings["rate_window_s"] == 10.0
