"""DustClient: the only code that speaks HTTP to Dust. One method per endpoint, one retry policy; Dust's error
answers become our errors in errors.py (`classify`, `is_retryable`).

Retries: timeouts, connection errors and the statuses of `errors.RETRYABLE_STATUS` (429, 500, 502-504, 408,
425) are retried with exponential backoff and full jitter until the request has kept failing for
`retry_deadline_seconds` (counted from its first failure, so waiting for our own rate limiter never counts).
Dust sends no Retry-After: after a 429 the limiter paces the retry (it probes the shared budget, see
ratelimit.py). Any other answer is final. Every request is idempotent (deterministic document ids, row ids
and table_id), so a retry after a lost answer is safe.

Why a hand loop rather than tenacity or stamina: the wait after a 429 comes from the limiter, not from the
attempt number; each attempt must take and then give back (or time) a limiter slot, which a
decorator around the whole call cannot do per attempt; the deadline runs from the first failure, not from
the first call; and a failed sync must interrupt every sleeping retry at once (`cancel`). Expressing these
with tenacity's hooks would be longer than the loop, and both libraries would be a new dependency.
"""

from __future__ import annotations

import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from destination_dust import __version__
from destination_dust.config import DustConfig
from destination_dust.errors import (
    Cancelled,
    DustAnswer,
    DustRequestError,
    TransientError,
    classify,
    is_retryable,
)
from destination_dust.ratelimit import SlidingWindowLimiter
from destination_dust.redact import REDACT

logger = logging.getLogger(__name__)

BACKOFF_BASE = 0.5  # seconds; the n-th retry waits uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**n))
BACKOFF_CAP = 30.0
# Test knob: the rate window in seconds (Dust's is 60). The benchmarks scale Dust's limit down (e.g. 20 per
# 10 s on the emulator); document_upserts_per_minute is then converted to that window.
WINDOW_ENV = "DESTINATION_DUST_RATE_WINDOW_SECONDS"
# A GET, a DELETE or a listing page answers in seconds; only upserts (a document is embedded before Dust
# answers; a rows batch may rewrite a large table) may need `request_timeout_seconds`. A lost answer to a
# short request then costs this much, not the long timeout. Test knob: the environment variable below.
SHORT_TIMEOUT_SECONDS = 30.0
SHORT_TIMEOUT_ENV = "DESTINATION_DUST_SHORT_TIMEOUT_SECONDS"


def _answer_of(response: httpx.Response) -> DustAnswer:
    """Status, Dust's error type and message of an error answer (masked and cut: it ends up in messages)."""
    error_type: str | None = None
    message = ""
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            kind = body["error"].get("type")
            error_type = None if kind is None else str(kind)
            message = str(body["error"].get("message") or "")
    except ValueError:
        message = REDACT(response.text)[:200]  # mask first: a cut could leave half a key
    return DustAnswer(response.status_code, error_type, REDACT(message)[:500])


def _quote(segment: str) -> str:
    """Path segments are percent-encoded entirely (`/`, `?`, `#`, `%` and `..` included), so an id such as
    `../x` reaches Dust as one segment and lands as itself."""
    encoded = quote(segment, safe="")
    return encoded.replace(".", "%2E") if encoded in {".", ".."} else encoded


def _limiter_for(per_minute: int, cancelled: threading.Event) -> SlidingWindowLimiter:
    """Our copy of Dust's window; a wait in it ends with Cancelled as soon as the sync is cancelled."""
    try:
        window = float(os.environ.get(WINDOW_ENV) or 60.0)
    except ValueError:
        window = 60.0
    window = window if window > 0 else 60.0
    if per_minute <= 0:
        return SlidingWindowLimiter(0)

    def interruptible(seconds: float) -> None:
        if cancelled.wait(seconds):
            raise Cancelled()

    return SlidingWindowLimiter(max(1, round(per_minute * window / 60.0)), window, sleep=interruptible)


def _short_timeout(long_timeout: float) -> float:
    try:
        value = float(os.environ.get(SHORT_TIMEOUT_ENV) or SHORT_TIMEOUT_SECONDS)
    except ValueError:
        value = SHORT_TIMEOUT_SECONDS
    return min(long_timeout, value if value > 0 else SHORT_TIMEOUT_SECONDS)


def _tls_verification(base_url: str) -> ssl.SSLContext | bool:
    """httpx's `verify`: the system's trusted CAs for https. A plain-http base URL (the config allows it for
    the local emulator only; redirects are not followed) never negotiates TLS, so it gets a context with no
    trusted CA instead of loading the CA bundle (slow, at every start-up): any TLS would fail closed."""
    if base_url.startswith("http://"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


class DustClient:
    def __init__(
        self,
        config: DustConfig,
        http: httpx.Client | None = None,
        *,
        limiter: SlidingWindowLimiter | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        self.http = http or httpx.Client(
            verify=_tls_verification(config.base_url),
            timeout=httpx.Timeout(
                config.request_timeout_seconds, connect=min(30.0, config.request_timeout_seconds)
            ),
            limits=httpx.Limits(
                max_connections=config.max_concurrent_requests + 2,
                max_keepalive_connections=config.max_concurrent_requests + 2,
            ),
        )
        self.http.headers.update(
            {
                "Authorization": f"Bearer {config.api_key}",
                "User-Agent": f"airbyte-destination-dust/{__version__}",
                "Content-Type": "application/json",
            }
        )
        self.cancelled = threading.Event()
        self.limiter = limiter or _limiter_for(config.document_upserts_per_minute, self.cancelled)
        self._sleep = sleep if sleep is not None else self._interruptible_sleep
        self._lock = threading.Lock()
        self.counters: dict[str, int] = {"requests": 0, "retries": 0, "rate_limited": 0}
        self.short_timeout = _short_timeout(config.request_timeout_seconds)
        ds = _quote(config.data_source_id)
        self._ws = f"{config.base_url}/api/v1/w/{_quote(config.workspace_id)}"
        self._space = f"{self._ws}/spaces/{_quote(config.space_id)}"
        self._ds = f"{self._space}/data_sources/{ds}"

    def close(self) -> None:
        self.http.close()

    def _short(self, timeout: httpx.Timeout) -> httpx.Timeout:
        """The client's timeouts cut to `short_timeout`; waiting for one of our own pooled connections is not
        a lost answer, so the pool timeout stays."""
        cap = self.short_timeout

        def cut(value: float | None) -> float:
            return cap if value is None else min(value, cap)

        return httpx.Timeout(
            connect=cut(timeout.connect),
            read=cut(timeout.read),
            write=cut(timeout.write),
            pool=timeout.pool,
        )

    def _interruptible_sleep(self, seconds: float) -> None:
        self.cancelled.wait(seconds)

    def _count(self, key: str) -> None:
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + 1

    # -- the one request loop ----------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop retrying: every sleeping or later retry raises Cancelled at once (the sync already failed)."""
        self.cancelled.set()

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)
        if self.cancelled.is_set():
            raise Cancelled()

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        body: Any = None,
        raw_body: bytes | None = None,
        params: Any = None,
        rate_limited: bool = False,
        ok_statuses: Sequence[int] = (),
        retry: bool = True,
        long: bool = False,
    ) -> httpx.Response:
        """Send one request with retries. Returns the 2xx response (or one whose status is in ok_statuses);
        raises a DestinationError otherwise. `what` names the request in errors (never the key).

        The deadline runs from the request's first failure, so time spent queued behind our own rate limiter
        never counts: only `retry_deadline_seconds` of failures in a row end the sync. `long`: an upsert,
        which may take `request_timeout_seconds` to answer; any other request times out after
        `short_timeout` and is retried like any transient failure."""
        content = raw_body if raw_body is not None else orjson.dumps(body) if body is not None else None
        timeout = self.http.timeout if long else self._short(self.http.timeout)
        limiter = self.limiter if rate_limited and self.limiter.enabled else None
        failing_since: float | None = None
        attempt = 0
        while True:
            if self.cancelled.is_set():
                raise Cancelled()
            if limiter is not None:
                limiter.acquire()
                if self.cancelled.is_set():
                    limiter.give_back()
                    raise Cancelled()
            self._count("requests")
            try:
                response = self.http.request(method, url, content=content, params=params, timeout=timeout)
            except httpx.UnsupportedProtocol:
                if limiter is not None:
                    limiter.give_back()  # nothing was sent
                raise
            except httpx.TransportError as exc:  # timeouts, resets, refused connections
                if limiter is not None:
                    limiter.on_unknown()
                self._count("transport_errors")
                attempt += 1
                failing_since = failing_since if failing_since is not None else time.monotonic()
                if not retry or time.monotonic() - failing_since >= self.config.retry_deadline_seconds:
                    raise TransientError(
                        f"{what}: could not reach Dust at {self.config.base_url} "
                        f"({type(exc).__name__}: {REDACT(str(exc))[:200]}) "
                        + (
                            "and retries are off for this request."
                            if not retry
                            else f"for {self.config.retry_deadline_seconds:.0f}s (retry_deadline_seconds)."
                        )
                    ) from None
                self._wait(self._backoff_delay(attempt, failing_since, f"{what}: {type(exc).__name__}"))
                continue
            except BaseException:
                if limiter is not None:
                    limiter.give_back()  # never leak a slot: the next acquire would wait forever
                raise
            status = response.status_code
            if 200 <= status < 300 or status in ok_statuses:
                if limiter is not None:
                    limiter.on_success()
                return response
            if limiter is not None:  # give the slot back before anything can raise
                if status == 429:
                    limiter.on_rejected()  # Dust did not count it
                else:
                    limiter.on_unknown()  # Dust may have counted it (5xx happen after its rate check)
            answer = _answer_of(response)
            if not retry or not is_retryable(answer):
                raise classify(answer, what)
            attempt += 1
            self._count("rate_limited" if status == 429 else "server_errors")
            failing_since = failing_since if failing_since is not None else time.monotonic()
            if time.monotonic() - failing_since >= self.config.retry_deadline_seconds:
                raise classify(answer, what, retried_for=self.config.retry_deadline_seconds)
            if status == 429 and limiter is not None:
                self._note_retry(attempt, f"{what}: 429", "the limiter paces it")  # acquire waits
                self._wait(0.0)
            else:
                self._wait(self._backoff_delay(attempt, failing_since, f"{what}: {status}"))

    def _backoff_delay(self, attempt: int, failing_since: float, why: str) -> float:
        """Exponential backoff with full jitter (BACKOFF_BASE doubling, BACKOFF_CAP at most), never past the
        deadline."""
        delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 16)))
        left = self.config.retry_deadline_seconds - (time.monotonic() - failing_since)
        delay = min(delay, max(0.0, left))
        self._note_retry(attempt, why, f"waiting {delay:.1f}s")
        return delay

    def _note_retry(self, attempt: int, why: str, how: str) -> None:
        self._count("retries")
        if attempt in (1, 5, 20) or attempt % 50 == 0:
            logger.info("retrying %s (attempt %d, %s)", why, attempt, how)

    def _json(self, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise DustRequestError(
                f"Dust answered {response.status_code} with a body that is not JSON: is base_url "
                f"({self.config.base_url}) a Dust server?",
                status=response.status_code,
                culprit="base_url",
            ) from None

    # -- read-only (check) --------------------------------------------------------------------------------

    def list_data_sources(self, *, retry: bool = True) -> list[dict[str, Any]]:
        response = self.request(
            "GET", f"{self._space}/data_sources", what="list data sources of the space", retry=retry
        )
        return list(self._json(response).get("data_sources", []))

    # -- documents ----------------------------------------------------------------------------------------

    def document_url(self, document_id: str) -> str:
        return f"{self._ds}/documents/{_quote(document_id)}"

    def upsert_document(self, document_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = self.request(
            "POST",
            self.document_url(document_id),
            what=f"upsert document {document_id!r}",
            body=body,
            rate_limited=True,
            long=True,
        )
        result: dict[str, Any] = self._json(response) or {}
        return result

    def delete_document(self, document_id: str) -> None:
        self.request("DELETE", self.document_url(document_id), what=f"delete document {document_id!r}")

    def get_documents(self, document_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Documents by id (missing ones are simply absent). Listing is not rate limited."""
        if not document_ids:
            return []
        params = [("document_ids", d) for d in document_ids] + [("limit", str(len(document_ids)))]
        response = self.request("GET", f"{self._ds}/documents", what="look up documents", params=params)
        return list(self._json(response).get("documents", []))

    def get_document(self, document_id: str) -> dict[str, Any]:
        """One document, its text included (Dust pins the text for this route, not for the listing)."""
        response = self.request("GET", self.document_url(document_id), what=f"get document {document_id!r}")
        document: dict[str, Any] = self._json(response).get("document", {})
        return document

    def list_documents(self, *, limit: int = 500, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        response = self.request(
            "GET",
            f"{self._ds}/documents",
            what="list documents",
            params={"limit": str(limit), "offset": str(offset)},
        )
        body = self._json(response)
        return list(body.get("documents", [])), int(body.get("total") or 0)

    def search_tagged(self, tag: str, *, top_k: int = 10) -> list[dict[str, Any]]:
        """Up to `top_k` documents carrying `tag` (a search filtered by tag: one request, however large the
        data source; search results may lag behind the latest writes). Not retried: callers use it as a hint."""
        params = {"query": "*", "top_k": str(top_k), "full_text": "", "tags_in": tag}
        response = self.request(
            "GET", f"{self._ds}/search", what="search documents by tag", params=params, retry=False
        )
        return list((self._json(response) or {}).get("documents", []))

    # -- tables and rows -------------------------------------------------------------------------------------

    def table_url(self, table_id: str) -> str:
        return f"{self._ds}/tables/{_quote(table_id)}"

    def upsert_table(self, body: Mapping[str, Any]) -> dict[str, Any]:
        what = f"upsert table {body.get('name')!r}"
        response = self.request("POST", f"{self._ds}/tables", what=what, body=body, long=True)
        table: dict[str, Any] = (self._json(response) or {}).get("table", {})
        return table

    def get_table(self, table_id: str, *, retry: bool = True) -> dict[str, Any] | None:
        response = self.request(
            "GET", self.table_url(table_id), what=f"get table {table_id!r}", ok_statuses=(404,), retry=retry
        )
        if response.status_code == 404:
            return None
        table: dict[str, Any] = self._json(response).get("table", {})
        return table

    def list_tables(self) -> list[dict[str, Any]]:
        response = self.request("GET", f"{self._ds}/tables", what="list tables")
        return list(self._json(response).get("tables", []))

    def delete_table(self, table_id: str) -> None:
        self.request(
            "DELETE", self.table_url(table_id), what=f"delete table {table_id!r}", ok_statuses=(404,)
        )

    def upsert_rows(
        self, table_id: str, rows: Sequence[Mapping[str, Any]], *, truncate: bool = False
    ) -> None:
        self.request(
            "POST",
            f"{self.table_url(table_id)}/rows",
            what=f"upsert {len(rows)} rows into table {table_id!r}",
            body={"rows": rows, "truncate": truncate},
            long=True,
        )

    def upsert_rows_raw(self, table_id: str, body: bytes, count: int) -> None:
        """Rows already serialized (the batcher measured the bytes): avoids encoding twice."""
        self.request(
            "POST",
            f"{self.table_url(table_id)}/rows",
            what=f"upsert {count} rows into table {table_id!r}",
            raw_body=body,  # sent as is: no second copy of a ~1 MB body
            long=True,
        )

    def list_rows(
        self, table_id: str, *, limit: int = 1000, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        response = self.request(
            "GET",
            f"{self.table_url(table_id)}/rows",
            what=f"list rows of table {table_id!r}",
            params={"limit": str(limit), "offset": str(offset)},
        )
        body = self._json(response)
        return list(body.get("rows", [])), int(body.get("total") or 0)

    def delete_row(self, table_id: str, row_id: str) -> None:
        self.request(
            "DELETE",
            f"{self.table_url(table_id)}/rows/{_quote(row_id)}",
            what=f"delete row {row_id!r} of table {table_id!r}",
            ok_statuses=(404,),
        )
