"""Security: the API key never leaks, base_url is https (localhost excepted), path-like ids stay themselves,
a workspace's key opens only that workspace.

Leaks are looked for in every form a reader could see: the key itself, any 16-character piece of it (a cut
message), and its JSON-escaped spelling, in raw stdout and stderr and in every string of every message.
Hostile servers echo the key the connector presented: a tiny server written here for precise answers, and
the emulator's `hostile_echo_key` setting for a whole sync.
"""

from __future__ import annotations

import io
import random
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from destination_dust import ids
from destination_dust.__main__ import run as cli_run
from destination_dust.catalog import StreamKey
from destination_dust.config import parse_config
from destination_dust.errors import ConfigError
from dust_emulator.testing import EmulatorProcess
from tests.helpers import FAKE_KEY, CliResult, catalog, configured_stream, jsonl, record, run_cli, write_json
from tests.reliability.hostile import Request, dust_error, hostile_server
from tests.reliability.support import data_source

_rng = random.Random(20261125)
KEYS = [
    FAKE_KEY,
    "sk-" + "".join(_rng.choice(string.ascii_letters + string.digits) for _ in range(90)),
    # allowed by the spec's pattern (^\S+$): characters that JSON escapes or URLs encode
    'sk-"Qu0te\\Back/Sl+sh=' + "".join(_rng.choice(string.ascii_letters) for _ in range(40)),
]
KEY_IDS = ["fake-key", "long-random", "punctuated"]
WINDOW = 16
DS = {"id": 1, "sId": "dts_folder", "name": "folder", "connectorProvider": None}


def _json(key: str) -> str:
    """The key as a server quoting the header in JSON would spell it."""
    return orjson.dumps(key).decode()


def _pieces(key: str) -> set[str]:
    return {key[i : i + WINDOW] for i in range(len(key) - WINDOW + 1)}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def assert_no_leak(key: str, *blobs: bytes | str, messages: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    escaped = orjson.dumps(key)[1:-1].decode()
    texts = [b.decode("utf-8", "replace") if isinstance(b, bytes) else b for b in blobs]
    texts += [s for m in messages for s in _strings(m)]
    for text in texts:
        assert escaped not in text
        leaked = [p for p in _pieces(key) if p in text]
        assert not leaked, f"a piece of the API key leaked: {leaked[0]!r} in {text[:300]!r}"


def assert_result_clean(key: str, result: CliResult) -> None:
    assert_no_leak(key, result.stdout, result.stderr, messages=result.messages)
    assert result.stderr == b""


def _config(tmp_path: Path, key: str, url: str, **extra: Any) -> str:
    raw = {
        "api_key": key,
        "workspace_id": "w1",
        "space_id": "vlt_1",
        "data_source_id": "folder",
        "base_url": url,
        "retry_deadline_seconds": 1,
        "request_timeout_seconds": 5,
        **extra,
    }
    return write_json(tmp_path, "config.json", raw)


def _write(tmp_path: Path, config: str, data_format: str = "documents", n: int = 3) -> CliResult:
    cat = write_json(tmp_path, "catalog.json", catalog(configured_stream("users", primary_key=[["id"]])))
    stdin = jsonl(record("users", {"id": i, "name": f"user {i}"}) for i in range(n))
    return run_cli(["write", "--config", config, "--catalog", cat], stdin, timeout=60)


def _one_trace(result: CliResult) -> dict[str, Any]:
    assert result.returncode == 1
    (trace,) = result.traces
    error: dict[str, Any] = trace["trace"]["error"]
    return error


# -- hostile servers echo the key -----------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS, ids=KEY_IDS)
def test_check_when_the_server_echoes_the_key_in_a_401(tmp_path: Path, key: str) -> None:
    def answer(req: Request) -> Any:
        return dust_error(
            401,
            "invalid_api_key_error",
            f"The API key {req.key} is invalid (got {_json(req.key)}, {quote(req.key)}).",
        )

    with hostile_server(answer) as server:
        result = run_cli(["check", "--config", _config(tmp_path, key, server.url)])
    assert server.requests and server.requests[0].key == key  # the key was sent, and echoed
    status = result.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "api_key" in status["message"]
    assert_result_clean(key, result)


@pytest.mark.parametrize("key", KEYS, ids=KEY_IDS)
def test_write_preflight_403_echoing_the_key(tmp_path: Path, key: str) -> None:
    def answer(req: Request) -> Any:
        return dust_error(403, "data_source_auth_error", f"key={req.key}; header=Bearer {req.key}")

    with hostile_server(answer) as server:
        result = _write(tmp_path, _config(tmp_path, key, server.url))
    error = _one_trace(result)
    assert error["failure_type"] == "config_error"
    assert not result.states
    assert all(r.method == "GET" for r in server.requests)  # nothing was written before the failure
    assert_result_clean(key, result)


@pytest.mark.parametrize("key", KEYS, ids=KEY_IDS)
@pytest.mark.parametrize("status", [400, 500])
def test_a_plain_text_error_body_cut_inside_the_key_leaks_no_piece_of_it(
    tmp_path: Path, key: str, status: int
) -> None:
    """Non-JSON bodies are quoted (cut short) in the error: the cut must not leave half a key behind."""

    def answer(req: Request) -> Any:
        # the key straddles the cut our client makes near 200 characters
        return status, ("x" * 170 + req.key + " and more text after it").encode()

    with hostile_server(answer) as server:
        result = run_cli(["check", "--config", _config(tmp_path, key, server.url)])
        assert result.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"] == "FAILED"
        assert_result_clean(key, result)
        written = _write(tmp_path, _config(tmp_path, key, server.url))
    assert _one_trace(written)["message"]
    assert_result_clean(key, written)


@pytest.mark.parametrize("key", KEYS, ids=KEY_IDS)
def test_data_source_names_holding_the_key_are_masked(tmp_path: Path, key: str) -> None:
    def answer(req: Request) -> Any:
        return 200, {"data_sources": [{**DS, "sId": f"dts_{i}", "name": f"{req.key}-{i}"} for i in range(3)]}

    with hostile_server(answer) as server:
        result = run_cli(["check", "--config", _config(tmp_path, key, server.url)])
    status = result.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "folder" in status["message"] and "****" in status["message"]
    assert_result_clean(key, result)


@pytest.mark.parametrize("data_format", ["documents", "tables"])
@pytest.mark.parametrize("key", KEYS, ids=KEY_IDS)
def test_write_failing_mid_sync_with_the_key_echoed(tmp_path: Path, key: str, data_format: str) -> None:
    """The data source exists; every write answers a 400 whose message quotes the key."""

    def answer(req: Request) -> Any:
        if req.method == "GET" and req.path.endswith("/data_sources"):
            return 200, {"data_sources": [DS]}
        if req.method == "GET":
            return 200, {"documents": [], "total": 0, "tables": [], "rows": []}
        return dust_error(400, "invalid_request_error", f"Invalid request body: unexpected {req.key}")

    with hostile_server(answer) as server:
        result = _write(tmp_path, _config(tmp_path, key, server.url, data_format=data_format))
    error = _one_trace(result)
    assert "users" in error["message"]  # names the stream
    assert any(r.method == "POST" for r in server.requests)
    assert not result.states
    assert_result_clean(key, result)


@pytest.mark.parametrize("key", KEYS, ids=KEY_IDS)
def test_an_unexpected_error_quoting_the_key_is_masked_in_the_trace_and_traceback(
    tmp_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line of defence (any exception, with a traceback in internal_message) masks the key too."""
    import destination_dust.writer as writer_module

    def explode(self: Any, stdin: Any) -> None:
        try:
            raise ValueError(f"inner failure near {key}")
        except ValueError as exc:
            raise RuntimeError(f"boom: Authorization: Bearer {key}") from exc

    def answer(req: Request) -> Any:
        return 200, {"data_sources": [DS]}

    monkeypatch.setattr(writer_module.Writer, "run", explode)
    stdout = io.BytesIO()
    fake_stdout = io.TextIOWrapper(stdout)
    monkeypatch.setattr(sys, "stdout", fake_stdout)
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    cat = write_json(tmp_path, "catalog.json", catalog(configured_stream("users")))
    with hostile_server(answer) as server, pytest.raises(SystemExit) as info:
        cli_run(["write", "--config", _config(tmp_path, key, server.url), "--catalog", cat])
    assert info.value.code == 1
    lines = [orjson.loads(line) for line in stdout.getvalue().splitlines() if line.strip()]
    traces = [m for m in lines if m["type"] == "TRACE"]
    (trace,) = traces
    error = trace["trace"]["error"]
    assert error["failure_type"] == "system_error"
    assert "RuntimeError" in error["message"] and "****" in error["message"]
    assert "Traceback" in error["internal_message"] and "ValueError" in error["internal_message"]
    assert_no_leak(key, stdout.getvalue(), stderr.getvalue(), messages=lines)


# -- base_url: https except localhost ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://dust.tt",
        "http://eu.dust.tt/",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io:8080",
        "http://evil.example#@localhost",
        "http://localhost@evil.example",
        "http://evil.example/localhost",
        "ftp://dust.tt",
        "dust.tt",
        "https://",
        "javascript:alert(1)",
        "https://dust.tt?api_key=x",
        "https://user:pw@dust.tt",
    ],
)
def test_base_url_refused(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "api_key": FAKE_KEY,
                "workspace_id": "w",
                "space_id": "s",
                "data_source_id": "d",
                "base_url": url,
            }
        )
    assert "base_url" in info.value.message
    assert FAKE_KEY not in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://dust.tt",
        "https://eu.dust.tt/",
        "http://localhost:8080",
        "http://127.0.0.1:1",
        "http://[::1]:9",
    ],
)
def test_base_url_accepted(url: str) -> None:
    config = parse_config(
        {"api_key": FAKE_KEY, "workspace_id": "w", "space_id": "s", "data_source_id": "d", "base_url": url}
    )
    assert config.base_url == url.rstrip("/")


def test_write_to_plain_http_remote_host_fails_before_any_request(tmp_path: Path) -> None:
    """The refusal happens before a connection is attempted: the remote server never sees the key."""
    hits: list[Request] = []

    def answer(req: Request) -> Any:
        hits.append(req)
        return 200, {"data_sources": [DS]}

    with hostile_server(answer) as server:
        port = server.url.rsplit(":", 1)[1]
        # a name that resolves to the local server but is not "localhost": plain http must be refused
        config = _config(tmp_path, FAKE_KEY, f"http://localtest.me:{port}")
        result = _write(tmp_path, config)
    error = _one_trace(result)
    assert error["failure_type"] == "config_error" and "https" in error["message"]
    assert hits == []
    assert_result_clean(FAKE_KEY, result)


# -- path-like ids ------------------------------------------------------------------------------------


def test_path_like_ids_are_escaped_into_single_segments() -> None:
    """Unit-level: the ids built from path-like keys, quoted, stay one path segment each."""
    from destination_dust.client import _quote

    for value in ["../x", "..", ".", "%2F", "a?b", "a#b", "a/b/../../c", "%", "\\..\\"]:
        for made in (ids.document_id(StreamKey(None, "s"), [value], {}), ids.row_id([value], {})):
            quoted = _quote(made)
            assert "/" not in quoted and "?" not in quoted and "#" not in quoted
            assert quoted not in {".", ".."}


# -- against the emulator: a hostile echo through whole syncs, its logs, path-like ids, workspaces ------


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    """One emulator for this module: echoes the presented key in every error message, logs every request."""
    with EmulatorProcess(rate_limit=0, hostile_echo_key=True, access_log=True) as emulator:
        yield emulator


def _emulator_key(emu: EmulatorProcess, secret: str, workspace_id: str | None = None) -> str:
    wid = workspace_id or emu.config["workspace_id"]
    answer = emu.control.post(f"/workspaces/{wid}/keys", json={"secret": secret})
    if answer.status_code == 201:
        return str(answer.json()["key"]["secret"])
    raise AssertionError(answer.text)


EMULATOR_KEYS = [
    FAKE_KEY,
    "sk-" + "".join(_rng.choice(string.ascii_letters + string.digits) for _ in range(120)),
]


def _emulator_logs_clean(emu: EmulatorProcess, key: str) -> None:
    """Everything the emulator printed (stdout and stderr, access log on) holds no piece of the key."""
    logs = "\n".join(emu.output)
    assert "/api/v1/w/" in logs  # the access log is on: the requests were logged
    assert_no_leak(key, logs)


@pytest.mark.parametrize("key", EMULATOR_KEYS, ids=["fake-key", "long-random"])
def test_hostile_emulator_quota_error_mid_sync(tmp_path: Path, emu: EmulatorProcess, key: str) -> None:
    """Documents over the plan size answer 403 quoting the key; the sync fails, the key stays out."""
    emu.reset("all")
    _emulator_key(emu, key)
    emu.update_settings(doc_size_limit_mb=0.0005)  # ~500 characters
    try:
        config = write_json(
            tmp_path, "config.json", {**emu.config, "api_key": key, "document_upserts_per_minute": 0}
        )
        cat = write_json(tmp_path, "catalog.json", catalog(configured_stream("users", primary_key=[["id"]])))
        stdin = jsonl(record("users", {"id": i, "bio": "word " * 400}) for i in range(3))
        result = run_cli(["write", "--config", config, "--catalog", cat], stdin, timeout=60)
    finally:
        emu.update_settings(doc_size_limit_mb=2.0)
    error = _one_trace(result)
    assert error["failure_type"] == "config_error" and "quota" in error["message"]
    assert "****" in error["message"]  # the echo arrived, masked
    assert_result_clean(key, result)
    _emulator_logs_clean(emu, key)


@pytest.mark.parametrize("key", EMULATOR_KEYS, ids=["fake-key", "long-random"])
def test_a_workspace_key_opens_only_its_workspace(tmp_path: Path, emu: EmulatorProcess, key: str) -> None:
    emu.reset("all")
    key_a = _emulator_key(emu, key)
    other = emu.control.post("/workspaces", json={"name": "workspace B"}).json()
    wid_b = other["workspace"]["sId"]
    space_b = next(s["sId"] for s in other["spaces"] if s["kind"] == "global")
    ds_b = emu.control.post(f"/workspaces/{wid_b}/data_sources", json={"name": "folder-b"}).json()[
        "data_source"
    ]
    config_b = {
        **emu.config,
        "api_key": key_a,
        "workspace_id": wid_b,
        "space_id": space_b,
        "data_source_id": ds_b["sId"],
    }

    # the API itself refuses, with Dust's error type
    with emu.api_client(key_a) as api:
        answer = api.get(f"{emu.base_url}/api/v1/w/{wid_b}/spaces/{space_b}/data_sources")
    assert answer.status_code == 401 and answer.json()["error"]["type"] == "workspace_auth_error"

    path = write_json(tmp_path, "config.json", config_b)
    status = run_cli(["check", "--config", path])
    message = status.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert message["status"] == "FAILED" and "another workspace" in message["message"]
    assert_result_clean(key, status)

    cat = write_json(tmp_path, "catalog.json", catalog(configured_stream("users", primary_key=[["id"]])))
    result = run_cli(["write", "--config", path, "--catalog", cat], jsonl([record("users", {"id": 1})]))
    assert _one_trace(result)["failure_type"] == "config_error"
    assert_result_clean(key, result)
    holding = [ds for ds in emu.dump()["data_sources"] if ds["documents"] or ds["tables"]]
    assert holding == []  # nothing was written anywhere
    _emulator_logs_clean(emu, key)


PATH_LIKE = [
    "../x",
    "..",
    ".",
    "%2F",
    "a%2Fb",
    "a?b=1",
    "a#frag",
    "a/b/../../c",
    "..%2F..%2Fetc",
    "?",
    "#",
    "%",
]


@pytest.mark.parametrize("data_format", ["documents", "tables"])
def test_path_like_keys_and_stream_names_land_as_themselves(
    tmp_path: Path, emu: EmulatorProcess, data_format: str
) -> None:
    """Ids come from primary keys: ids with `../`, `%2F`, `?`, `#` reach Dust URL-encoded and are stored under
    exactly the id we computed; a CDC delete of such an id removes that one only."""
    emu.reset()
    streams = ["plain", "../ev%2Fil?x=1#y"]
    config = write_json(
        tmp_path, "config.json", {**emu.config, "data_format": data_format, "document_upserts_per_minute": 0}
    )
    cat = write_json(
        tmp_path,
        "catalog.json",
        catalog(*(configured_stream(s, mode="append_dedup", primary_key=[["id"]]) for s in streams)),
    )
    deleted = {"a#frag", ".."}
    messages = [record(s, {"id": pk, "v": f"{s}|{pk}"}) for s in streams for pk in PATH_LIKE]
    messages += [
        record(s, {"id": pk, "_ab_cdc_deleted_at": "2026-01-01T00:00:00Z"}) for s in streams for pk in deleted
    ]
    result = run_cli(["write", "--config", config, "--catalog", cat], jsonl(messages), timeout=60)
    assert result.returncode == 0, result.traces
    assert result.stderr == b""
    ds = data_source(emu.dump(), emu.config["data_source_id"])
    kept = [pk for pk in PATH_LIKE if pk not in deleted]
    if data_format == "documents":
        stored = sorted(d["document_id"] for d in ds["documents"])
        expected = sorted(ids.document_id(StreamKey(None, s), [pk], {}) for s in streams for pk in kept)
        assert stored == expected
        for doc in ds["documents"]:  # and each holds its own record
            assert any(
                f"{s}|{pk}" in doc["text"]
                for s in streams
                for pk in kept
                if ids.document_id(StreamKey(None, s), [pk], {}) == doc["document_id"]
            )
    else:
        assert len(ds["tables"]) == len(streams)
        for table in ds["tables"]:
            assert sorted(r["row_id"] for r in table["rows"]) == sorted(ids.row_id([pk], {}) for pk in kept)
            for row in table["rows"]:
                assert ids.row_id([row["value"]["v"].rsplit("|", 1)[1]], {}) == row["row_id"]
