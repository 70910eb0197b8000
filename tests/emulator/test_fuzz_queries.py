"""Random query strings and path ids on every route of the emulated API: every answer is a 2xx or
Dust's error envelope (never "Unhandled internal server error", the emulator's answer to its own
bugs), and nothing is logged at ERROR (no traceback) by the emulator or by uvicorn."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dust_emulator.routes import ROUTES, Route
from dust_emulator.testing import EmulatorThread

# the names each reading route reads, by its last segment (others get a smaller share)
ROUTE_QUERY_NAMES = {
    "spaces": ["kinds"],
    "documents": ["limit", "offset", "document_ids"],
    "rows": ["limit", "offset"],
    "search": [
        "query",
        "top_k",
        "full_text",
        "target_document_tokens",
        "timestamp_gt",
        "timestamp_lt",
        "tags_in",
        "tags_not",
        "parents_in",
        "parents_not",
    ],
}
READING_ROUTES = [r for r in ROUTES if r.method == "GET" and r.segments[-1] in ROUTE_QUERY_NAMES]
VALUE_PIECES = ["0", "1", "5", "-", "+", ".", "e", "x", "0x", "0b", "_", "Infinity", "9223372036854775808", "18446744073709551616", "1e400", "%", "%FF", "%C3%A9", "%20", "%00", "+", ",", "global", "system", "regular", "project", "true", "doc", "r1"]  # fmt: skip
BODIES: list[Any] = [
    {"text": "fuzz text"},
    {"name": "fuzz_t", "description": "d", "title": "t", "table_id": "fuzz"},
    {"rows": [{"row_id": "r2", "value": {"a": 1, "b": "x"}}]},
    {},
    [],
]

raw_text = st.text(max_size=8).map(lambda text: quote(text, safe="")) | st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=6
)


def _mostly(likely: st.SearchStrategy[str], other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``likely`` four times out of five: random text alone rarely reaches a handler's checks."""
    return st.integers(0, 4).flatmap(lambda pick: likely if pick < 4 else other)


# around the limits of JavaScript numbers, of Rust's i64 and u64, and of JavaScript's integer printing
BOUNDARIES = ["9007199254740993", "9223372036854774784", "9223372036854775807", "9223372036854775808", "0x8000000000000000", "1e19", "18446744073709549568", "18446744073709551615", "18446744073709551616", "1e21", "-0", "-1", "0.5"]  # fmt: skip
numbers = st.sampled_from(BOUNDARIES) | (  # half of the numbers are boundaries
    st.integers(min_value=-(2**70), max_value=2**70).map(str)
    | st.floats().map(repr)
    | st.lists(st.sampled_from(VALUE_PIECES), min_size=1, max_size=3).map("".join)
)
values = _mostly(numbers, raw_text)


def query_strings(route: Route) -> st.SearchStrategy[str]:
    names = _mostly(st.sampled_from(ROUTE_QUERY_NAMES.get(route.segments[-1], ["limit"])), raw_text)
    pairs = st.lists(st.tuples(names, st.sampled_from(["=", "=", ""]), values), min_size=1, max_size=5)
    return pairs.map(
        lambda parts: "&".join(name + sep + (value if sep else "") for name, sep, value in parts)
    )


odd_ids = st.text(min_size=1, max_size=12) | st.sampled_from(["..", ".", "%", "a/b", "\x00", "é", " "])


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def fuzz_emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emulator:
        emulator.update_settings(rate_limit=0)
        with emulator.api_client() as client:
            client.post(f"{emulator.ds_path}/documents/doc", json={"text": "fuzz text"}).raise_for_status()
            client.post(f"{emulator.ds_path}/tables", json=BODIES[1]).raise_for_status()
            client.post(
                f"{emulator.ds_path}/tables/fuzz/rows", json={"rows": [{"row_id": "r1", "value": {"a": 1}}]}
            ).raise_for_status()
        yield emulator


@pytest.fixture(scope="module")
def client(fuzz_emulator: EmulatorThread) -> Iterator[httpx.Client]:
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with httpx.Client(base_url=fuzz_emulator.base_url, timeout=10.0, transport=transport) as api:
        yield api


@pytest.fixture(scope="module")
def logged_errors() -> Iterator[_Errors]:
    handler = _Errors()
    loggers = [logging.getLogger(name) for name in ("dust_emulator", "uvicorn", "uvicorn.error", "")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def _known_ids(emulator: EmulatorThread) -> dict[str, list[str]]:
    config = emulator.config
    return {
        "wId": [config["workspace_id"]],
        "spaceId": [config["space_id"]],
        "dsId": [config["data_source_id"], "emulator-folder"],
        "documentId": ["doc"],
        "tId": ["fuzz"],
        "rId": ["r1"],
    }


@st.composite
def requests(draw: st.DrawFn, emulator: EmulatorThread, ids: str) -> tuple[Route, str, Any, bool]:
    """A request on a route of the table; ``ids="known"`` addresses seeded objects (so the query
    reaches the handler's checks), ``ids="random"`` mixes in odd ids."""
    route = draw(st.sampled_from(READING_ROUTES) | st.sampled_from(ROUTES))
    known = _known_ids(emulator)

    def pick(name: str) -> str:
        seeded = st.sampled_from(known[name])
        return draw(seeded if ids == "known" else _mostly(seeded, odd_ids))

    segments = [quote(pick(s[1:-1]) if s.startswith("{") else s, safe="") for s in route.segments]
    path = "/api/v1/w/" + quote(pick("wId"), safe="") + "/" + "/".join(segments)
    url = path + "?" + draw(query_strings(route))
    body = draw(st.sampled_from(BODIES)) if route.method == "POST" else None
    return route, url, body, draw(st.booleans())


def _assert_dust_answer(response: httpx.Response) -> None:
    if 200 <= response.status_code < 300:
        if response.content:
            orjson.loads(response.content)
        return
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["type"], str) and isinstance(error["message"], str), body
    assert not error["message"].startswith("Unhandled internal server error"), body


def _send(
    emulator: EmulatorThread,
    client: httpx.Client,
    logged_errors: _Errors,
    request: tuple[Route, str, Any, bool],
) -> None:
    route, url, body, system = request
    key = emulator.system_api_key if system else emulator.api_key
    response = client.request(
        route.method,
        url,
        content=None if body is None else orjson.dumps(body),
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    event(f"{route.kind} {response.status_code}")
    _assert_dust_answer(response)
    assert not logged_errors.records, [record.getMessage() for record in logged_errors.records]


FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("ids", ["known", "random"])
@FUZZ
@given(data=st.data())
def test_random_queries_and_path_ids_on_every_route(
    fuzz_emulator: EmulatorThread, client: httpx.Client, logged_errors: _Errors, ids: str, data: st.DataObject
) -> None:
    """``known``: seeded ids, so every query reaches its handler's checks; ``random``: odd ids too."""
    _send(fuzz_emulator, client, logged_errors, data.draw(requests(fuzz_emulator, ids=ids)))
