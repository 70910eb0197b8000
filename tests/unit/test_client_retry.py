"""The client's retry policy, through httpx.MockTransport (the transport seam): what is retried, what is not,
how long it waits, and how the deadline and cancellation end it. Sleeping is recorded, never real."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from destination_dust.client import BACKOFF_CAP, DustClient
from destination_dust.config import DustConfig
from destination_dust.errors import (
    Cancelled,
    ConfigError,
    DustAuthError,
    DustRequestError,
    PayloadTooLarge,
    TransientError,
)
from destination_dust.ratelimit import SlidingWindowLimiter

CONFIG = DustConfig(
    api_key="sk-test",
    workspace_id="w1",
    space_id="s1",
    data_source_id="ds1",
    base_url="http://localhost:9",
    retry_deadline_seconds=100.0,
)
DOC = {"text": "hello", "tags": ["airbyte:stream:users"]}


def _error(status: int, kind: str = "internal_server_error", message: str = "boom") -> httpx.Response:
    return httpx.Response(status, json={"error": {"type": kind, "message": message}})


class Script:
    """Answers requests from a list of responses or exceptions (the last one repeats), and records them."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeTime:
    """Monotonic time that moves only when the client sleeps."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        monkeypatch.setattr("destination_dust.client.time.monotonic", lambda: self.now)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    return FakeTime(monkeypatch)


def _client(
    script: Callable[[httpx.Request], httpx.Response],
    fake_time: FakeTime,
    config: DustConfig = CONFIG,
    limiter: SlidingWindowLimiter | None = None,
) -> DustClient:
    http = httpx.Client(transport=httpx.MockTransport(script))
    return DustClient(
        config,
        http,
        limiter=limiter or SlidingWindowLimiter(0),
        sleep=fake_time.sleep,
    )


@pytest.mark.parametrize(
    "failure",
    [
        _error(500),
        _error(502),
        _error(503),
        _error(504),
        _error(429, "rate_limit_error"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("reset"),
    ],
    ids=["500", "502", "503", "504", "429", "timeout", "connect", "reset"],
)
def test_retryable_failures_are_retried_until_success(
    failure: httpx.Response | Exception, fake_time: FakeTime
) -> None:
    script = Script(failure, failure, httpx.Response(200, json={"document": {"document_id": "d"}}))
    client = _client(script, fake_time)
    assert client.upsert_document("d", DOC) == {"document": {"document_id": "d"}}
    assert len(script.requests) == 3
    assert len(fake_time.sleeps) == 2
    assert client.counters["retries"] == 2


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (400, "invalid_request_error", DustRequestError),
        (401, "not_authenticated", DustAuthError),
        (403, "data_source_quota_error", ConfigError),
        (404, "data_source_not_found", ConfigError),
        (413, "invalid_request_error", PayloadTooLarge),
    ],
)
def test_other_4xx_are_final_at_once(
    status: int, kind: str, error: type[Exception], fake_time: FakeTime
) -> None:
    script = Script(_error(status, kind))
    client = _client(script, fake_time)
    with pytest.raises(error):
        client.upsert_document("d", DOC)
    assert len(script.requests) == 1
    assert fake_time.sleeps == []


def test_a_table_name_clash_500_is_not_retried(fake_time: FakeTime) -> None:
    script = Script(_error(500, message="table names must be unique"))
    client = _client(script, fake_time)
    with pytest.raises(TransientError, match="Run the sync again"):
        client.upsert_table({"name": "users", "table_id": "t"})
    assert len(script.requests) == 1


def test_backoff_is_exponential_with_full_jitter_and_capped(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("destination_dust.client.random.uniform", lambda low, high: high)  # the ceiling
    script = Script(*([_error(503)] * 12), httpx.Response(200, json={}))
    client = _client(script, fake_time, replace(CONFIG, retry_deadline_seconds=10_000))
    client.upsert_document("d", DOC)
    assert fake_time.sleeps[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, BACKOFF_CAP]
    assert max(fake_time.sleeps) == BACKOFF_CAP


def test_jitter_draws_from_zero(fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch) -> None:
    lows: list[float] = []

    def uniform(low: float, high: float) -> float:
        lows.append(low)
        return low

    monkeypatch.setattr("destination_dust.client.random.uniform", uniform)
    client = _client(Script(_error(503), _error(503), httpx.Response(200, json={})), fake_time)
    client.upsert_document("d", DOC)
    assert lows == [0, 0]  # full jitter: anywhere between zero and the ceiling


def test_a_sustained_failure_ends_with_a_transient_error_after_the_deadline(fake_time: FakeTime) -> None:
    script = Script(_error(503))
    client = _client(script, fake_time, replace(CONFIG, retry_deadline_seconds=120.0))
    with pytest.raises(TransientError, match="retry_deadline_seconds") as caught:
        client.upsert_document("d", DOC)
    assert caught.value.failure_type == "transient_error"
    assert 120.0 <= fake_time.now <= 120.0 + 1e-6  # the last sleep is cut to the deadline, not beyond
    assert len(script.requests) > 3


def test_sustained_429s_fail_with_a_message_about_the_shared_budget(fake_time: FakeTime) -> None:
    script = Script(_error(429, "rate_limit_error"))
    client = _client(script, fake_time, replace(CONFIG, retry_deadline_seconds=300.0))
    with pytest.raises(TransientError, match="429") as caught:
        client.upsert_document("d", DOC)
    assert "document_upserts_per_minute" in caught.value.message
    assert client.counters["rate_limited"] == len(script.requests)


def test_unreachable_dust_fails_with_a_transient_error_naming_the_url_not_the_key(
    fake_time: FakeTime,
) -> None:
    client = _client(Script(httpx.ConnectError("refused")), fake_time)
    with pytest.raises(TransientError) as caught:
        client.upsert_document("d", DOC)
    assert "http://localhost:9" in caught.value.message
    assert "sk-test" not in caught.value.message


def test_the_deadline_runs_from_the_first_failure(fake_time: FakeTime) -> None:
    """Time before the first failure (e.g. queued behind our own limiter) does not count."""
    fake_time.now = 10_000.0
    script = Script(_error(503), httpx.Response(200, json={}))
    client = _client(script, fake_time, replace(CONFIG, retry_deadline_seconds=5.0))
    client.upsert_document("d", DOC)
    assert len(script.requests) == 2


def test_retry_false_fails_on_the_first_retryable_error(fake_time: FakeTime) -> None:
    script = Script(_error(503))
    client = _client(script, fake_time)
    with pytest.raises(TransientError):
        client.list_data_sources(retry=False)
    assert len(script.requests) == 1


def test_a_429_is_retried_as_the_limiters_probe_and_its_acceptance_ends_the_block(
    fake_time: FakeTime,
) -> None:
    limiter = SlidingWindowLimiter(10, 60.0, clock=lambda: fake_time.now, sleep=fake_time.sleep)
    answers: list[httpx.Response | Exception] = [httpx.Response(200, json={})] * 3
    answers += [_error(429, "rate_limit_error"), httpx.Response(200, json={})]
    script = Script(*answers)
    client = _client(script, fake_time, limiter=limiter)
    for i in range(4):
        client.upsert_document(f"d{i}", DOC)
    assert limiter.rejections == 1 and limiter.probes == 1
    assert not limiter.blocked and limiter.allowed == 5  # the probe was accepted: recovering from 4 + 1
    # the only wait was the limiter's probe interval (no backoff on top, not our window's end at t=60)
    assert fake_time.sleeps == [pytest.approx(limiter.probe_interval)]
    assert client.counters["rate_limited"] == 1 and client.counters["retries"] == 1


def test_only_document_upserts_take_limiter_slots(fake_time: FakeTime) -> None:
    limiter = SlidingWindowLimiter(2, 60.0, clock=lambda: fake_time.now, sleep=fake_time.sleep)
    client = _client(
        Script(httpx.Response(200, json={"documents": [], "rows": [], "total": 0})),
        fake_time,
        limiter=limiter,
    )
    client.get_documents(["a", "b"])
    client.delete_document("a")
    client.upsert_rows_raw("t", b'{"rows":[]}', 0)
    assert limiter.in_window() == 0
    client.upsert_document("a", DOC)
    assert limiter.in_window() == 1


def test_cancel_interrupts_retries(fake_time: FakeTime) -> None:
    script = Script(_error(503))
    client: DustClient

    def sleep(seconds: float) -> None:
        client.cancel()  # the sync failed elsewhere while this request was backing off

    http = httpx.Client(transport=httpx.MockTransport(script))
    client = DustClient(CONFIG, http, limiter=SlidingWindowLimiter(0), sleep=sleep)
    with pytest.raises(Cancelled):
        client.upsert_document("d", DOC)
    assert len(script.requests) == 1


def _upsert_in_thread(client: DustClient, document_id: str) -> tuple[threading.Thread, list[BaseException]]:
    """Upsert on a started thread; what it raised lands in the list."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            client.upsert_document(document_id, DOC)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_the_default_sleep_wakes_up_on_cancel() -> None:
    """Without an injected sleep, a backoff is an Event wait: cancel() ends it at once."""
    started = threading.Event()

    def answers(request: httpx.Request) -> httpx.Response:
        started.set()
        return _error(503)

    config = replace(CONFIG, retry_deadline_seconds=3600.0)
    client = DustClient(
        config, httpx.Client(transport=httpx.MockTransport(answers)), limiter=SlidingWindowLimiter(0)
    )
    thread, errors = _upsert_in_thread(client, "d")
    assert started.wait(10)
    client.cancel()
    thread.join(timeout=30)  # the backoff could be up to 30 s per attempt and 3600 s in all
    assert not thread.is_alive()
    assert errors and isinstance(errors[0], Cancelled)


def test_cancel_ends_a_wait_in_the_rate_limiter_at_once() -> None:
    """A sync that failed elsewhere does not wait (nor spin) until the window frees: the limiter's wait
    raises Cancelled and holds no slot."""
    config = replace(CONFIG, document_upserts_per_minute=1)  # one upsert per 60 s window
    client = DustClient(config, httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200))))
    client.upsert_document("a", DOC)
    thread, errors = _upsert_in_thread(client, "b")
    thread.join(timeout=0.3)
    assert thread.is_alive()  # waiting for the window
    client.cancel()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert errors and isinstance(errors[0], Cancelled)
    assert client.limiter.in_window() == 1


def test_requests_carry_the_key_and_percent_encoded_ids(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(200, json={}))
    client = _client(script, fake_time)
    client.upsert_document("../a b/c?d", DOC)
    request = script.requests[0]
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.url.raw_path.endswith(b"/documents/..%2Fa%20b%2Fc%3Fd")


@pytest.mark.parametrize(
    ("per_minute", "window", "limit", "seconds"),
    [
        (120, None, 120, 60.0),
        (120, "10", 20, 10.0),
        (360, "10", 60, 10.0),
        (0, "10", 0, 60.0),
        (120, "x", 120, 60.0),
    ],
)
def test_the_limiter_mirrors_dusts_window_or_the_scaled_one(
    per_minute: int, window: str | None, limit: int, seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    if window is None:
        monkeypatch.delenv("DESTINATION_DUST_RATE_WINDOW_SECONDS", raising=False)
    else:
        monkeypatch.setenv("DESTINATION_DUST_RATE_WINDOW_SECONDS", window)
    config = replace(CONFIG, document_upserts_per_minute=per_minute)
    client = DustClient(config, httpx.Client(transport=httpx.MockTransport(Script(httpx.Response(200)))))
    assert (client.limiter.limit, client.limiter.window) == (limit, seconds)


@pytest.mark.parametrize(
    "answer",
    [
        _error(429, "rate_limit_error"),
        _error(503),
        _error(400, "invalid_request_error"),
        httpx.ConnectError("x"),
    ],
    ids=["429-past-deadline", "503-past-deadline", "400", "connect-past-deadline"],
)
def test_a_failed_upsert_never_keeps_a_limiter_slot(
    answer: httpx.Response | Exception, fake_time: FakeTime
) -> None:
    """A slot kept by a request that gave up would make every later acquire wait forever."""
    limiter = SlidingWindowLimiter(1, 60.0, clock=lambda: fake_time.now, sleep=fake_time.sleep)
    client = _client(Script(answer), fake_time, replace(CONFIG, retry_deadline_seconds=5.0), limiter=limiter)
    with pytest.raises(Exception):  # noqa: B017 - which error is tested elsewhere
        client.upsert_document("d", DOC)
    assert limiter._pending == 0
