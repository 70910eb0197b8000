"""Fault injection: deterministic under a seed, scoped to /api/v1/ routes, and each fault looks
to a client like the real failure (a reset is a transport error, a slow answer a timeout...)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from dust_emulator.limits import FaultPlan, FaultSettings
from dust_emulator.testing import EmulatorProcess


def _statuses(emulator: EmulatorProcess, count: int) -> list[str]:
    results = []
    with emulator.api_client() as client:
        for i in range(count):
            try:
                results.append(str(client.get(f"{emulator.ds_path}/documents/d{i}").status_code))
            except httpx.TransportError:
                results.append("reset")
    return results


def test_same_seed_same_faults(emulator: EmulatorProcess) -> None:
    faults = {"seed": 42, "error_5xx_rate": 0.3, "reset_rate": 0.1}
    emulator.set_faults(**faults)
    first = _statuses(emulator, 60)
    emulator.set_faults(**faults)  # installing settings restarts the random sequence
    second = _statuses(emulator, 60)
    assert first == second
    assert {"500", "502", "503"} & set(first) and "reset" in first and "400" in first
    emulator.set_faults(**(faults | {"seed": 43}))
    assert _statuses(emulator, 60) != first


def test_fault_plan_is_deterministic_in_process() -> None:
    def run(seed: int) -> list[tuple[float, int | None, bool]]:
        plan = FaultPlan(
            FaultSettings(seed=seed, error_5xx_rate=0.5, reset_rate=0.1, latency_ms=1, latency_jitter_ms=5)
        )
        return [
            (round(d.delay_s, 9), d.status, d.reset)
            for d in (plan.decide("documents", "POST", "/t", 10) for _ in range(200))
        ]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_reset_surfaces_as_a_transport_error(emulator: EmulatorProcess) -> None:
    emulator.set_faults(reset_rate=1.0)
    with emulator.api_client() as client, pytest.raises(httpx.TransportError):
        client.post(f"{emulator.ds_path}/documents/x", json={"text": "x"})
    emulator.clear_faults()
    assert emulator.documents() == []  # nothing was written
    assert emulator.counters()["routes"]["POST documents"] == {"reset": 1}


def test_slow_answers_exceed_the_client_timeout(emulator: EmulatorProcess) -> None:
    emulator.set_faults(slow_rate=1.0, slow_seconds=0.6)
    with emulator.api_client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        client.get("/spaces")
    time.sleep(0.6)  # let the abandoned request finish so it does not count in the next test


def test_latency_is_added(emulator: EmulatorProcess) -> None:
    emulator.set_faults(latency_ms=150)
    with emulator.api_client() as client:
        started = time.monotonic()
        assert client.get("/spaces").status_code == 200
        assert time.monotonic() - started >= 0.15


def test_latency_of_concurrent_requests_overlaps(emulator: EmulatorProcess) -> None:
    """The latency is an async sleep: 8 requests in flight at 200 ms take ~200 ms, not 1.6 s."""
    emulator.set_faults(latency_ms=200)
    clients = [emulator.api_client() for _ in range(8)]
    try:
        for client in clients:  # connect first: the timing must not include 8 TCP handshakes
            assert client.get("/spaces").status_code == 200
        with ThreadPoolExecutor(8) as pool:
            started = time.monotonic()
            statuses = list(pool.map(lambda client: client.get("/spaces").status_code, clients))
            elapsed = time.monotonic() - started
    finally:
        for client in clients:
            client.close()
    assert statuses == [200] * 8
    assert 0.2 <= elapsed < 0.8


def test_bursts_of_429_and_quota_errors_hit_document_posts_only(emulator: EmulatorProcess) -> None:
    emulator.set_faults(burst_429=2, burst_quota=1)
    with emulator.api_client() as client:
        assert client.get(f"{emulator.ds_path}/documents").status_code == 200
        statuses = [client.post(f"{emulator.ds_path}/documents/d{i}", json={"text": "x"}) for i in range(4)]
    assert [r.status_code for r in statuses] == [429, 429, 403, 200]
    assert statuses[0].json()["error"]["type"] == "rate_limit_error"
    assert "retry-after" not in statuses[0].headers
    assert statuses[2].json()["error"]["type"] == "data_source_quota_error"


def test_injected_429_and_quota_answers_are_the_real_ones(emulator: EmulatorProcess) -> None:
    emulator.update_settings(rate_limit=1, doc_size_limit_mb=0.000001)
    with emulator.api_client() as client:
        real_quota = client.post(
            f"{emulator.ds_path}/documents/big", json={"text": "x" * 100}
        )  # takes the slot
        real_429 = client.post(f"{emulator.ds_path}/documents/d1", json={"text": ""})
        emulator.update_settings(rate_limit=0)
        emulator.set_faults(burst_429=1, burst_quota=1)
        injected_429 = client.post(f"{emulator.ds_path}/documents/d2", json={"text": "x"})
        injected_quota = client.post(f"{emulator.ds_path}/documents/d3", json={"text": "x"})
    assert (real_429.status_code, injected_429.status_code) == (429, 429)
    assert injected_429.json() == real_429.json()
    assert (real_quota.status_code, injected_quota.status_code) == (403, 403)
    real, injected = real_quota.json()["error"], injected_quota.json()["error"]
    assert injected["type"] == real["type"] == "data_source_quota_error"
    # the route also names the size it refused; the fault has no document to measure
    assert injected["message"] == real["message"].replace("You are attempting to upload 100 bytes. ", "")


def test_413_over_a_size(emulator: EmulatorProcess) -> None:
    emulator.set_faults(max_request_bytes=100)
    with emulator.api_client() as client:
        assert client.post(f"{emulator.ds_path}/documents/small", json={"text": "x"}).status_code == 200
        response = client.post(f"{emulator.ds_path}/documents/big", json={"text": "x" * 200})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "content_too_large"


def test_fail_once_per_route(emulator: EmulatorProcess) -> None:
    emulator.set_faults(fail_once_per_route=True)
    with emulator.api_client() as client:
        first = [
            client.post(f"{emulator.ds_path}/documents/d{i}", json={"text": "x"}).status_code
            for i in range(3)
        ]
        lists = [client.get(f"{emulator.ds_path}/documents").status_code for _ in range(2)]
    assert first == [503, 200, 200]
    assert lists == [503, 200]


def test_faults_scope_by_route_kind_and_method(emulator: EmulatorProcess) -> None:
    emulator.set_faults(error_5xx_rate=1.0, error_5xx_statuses=[503], routes=["rows"], methods=["POST"])
    with emulator.api_client() as client:
        assert client.post(f"{emulator.ds_path}/documents/d", json={"text": "x"}).status_code == 200
        assert (
            client.post(
                f"{emulator.ds_path}/tables",
                json={"name": "t", "description": "d", "title": "t", "table_id": "t"},
            ).status_code
            == 200
        )
        assert client.get(f"{emulator.ds_path}/tables/t/rows").status_code == 200
        response = client.post(f"{emulator.ds_path}/tables/t/rows", json={"rows": []})
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")  # a load balancer's page


def test_control_routes_never_see_faults(emulator: EmulatorProcess) -> None:
    emulator.set_faults(error_5xx_rate=1.0, reset_rate=1.0, latency_ms=2000, max_request_bytes=1)
    started = time.monotonic()
    for path in ("/health", "/config", "/counters", "/dump", "/faults", "/settings"):
        assert emulator.control.get(path).status_code == 200
    assert time.monotonic() - started < 1.5


def test_counters_by_route_and_status(emulator: EmulatorProcess) -> None:
    emulator.update_settings(rate_limit=2, rate_window_s=30.0)
    with emulator.api_client() as client:
        for i in range(3):
            client.post(f"{emulator.ds_path}/documents/d{i}", json={"text": "x"})
        client.get(f"{emulator.ds_path}/documents/missing")
    counters = emulator.counters()
    assert counters["routes"]["POST documents"] == {"200": 2, "429": 1}
    assert counters["routes"]["GET documents"] == {"400": 1}
    assert (
        counters["templates"]["POST /spaces/{spaceId}/data_sources/{dsId}/documents/{documentId}"]["200"] == 2
    )
    assert counters["totals"]["requests"] == 4
    emulator.control.delete("/counters")
    assert emulator.counters()["totals"]["requests"] == 0


def test_invalid_fault_settings_are_refused(emulator: EmulatorProcess) -> None:
    assert emulator.control.put("/faults", json={"error_5xx_rate": 2}).status_code == 400
    assert emulator.control.put("/faults", json={"routes": ["nope"]}).status_code == 400
    assert emulator.control.put("/faults", json={"unknown": 1}).status_code == 400


def test_startup_flags_set_faults() -> None:
    flags: dict[str, Any] = {"fault_5xx_rate": 1.0, "fault_5xx_statuses": "502", "fault_routes": "documents"}
    with EmulatorProcess(seed=5, hostile_echo_key=True, **flags) as emulator:
        with emulator.api_client() as client:
            assert client.get("/spaces").status_code == 200
            assert client.get(f"{emulator.ds_path}/documents").status_code == 502
            missing = client.get(f"/spaces/{emulator.config['space_id']}/data_sources/nope/tables")
            assert emulator.api_key in missing.json()["error"]["message"]  # --hostile-echo-key
        faults = emulator.control.get("/faults").json()["faults"]
        assert faults["seed"] == 5 and faults["routes"] == ["documents"]
