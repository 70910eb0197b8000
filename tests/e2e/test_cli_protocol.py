"""The write loop through the real CLI against the emulator: states echoed verbatim, in order, never before
their records are stored; check answers for each failure cause; the key never printed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from dust_emulator.testing import EmulatorProcess
from tests.helpers import (
    CLI,
    FAKE_KEY,
    ROOT,
    catalog,
    complete,
    configured_stream,
    jsonl,
    record,
    run_cli,
    stream_state,
    write_json,
)

USERS = configured_stream("users", mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"])


def _config(emulator: EmulatorProcess, **overrides: Any) -> dict[str, Any]:
    return {**emulator.config, "document_upserts_per_minute": 0, **overrides}


def _files(tmp_path: Path, config: dict[str, Any], streams: dict[str, Any]) -> list[str]:
    return [
        "--config",
        write_json(tmp_path, "config.json", config),
        "--catalog",
        write_json(tmp_path, "k.json", streams),
    ]


def _check(emulator: EmulatorProcess, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    config = write_json(tmp_path, "check.json", _config(emulator, **overrides))
    result = run_cli(["check", "--config", config])
    assert result.returncode == 0
    assert FAKE_KEY.encode() not in result.stdout + result.stderr
    status: dict[str, Any] = result.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    return status


def test_check_succeeds_by_id_and_by_name(emulator: EmulatorProcess, tmp_path: Path) -> None:
    assert _check(emulator, tmp_path)["status"] == "SUCCEEDED"
    name = emulator.seed["data_source_name"]
    assert _check(emulator, tmp_path, data_source_id=name)["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"api_key": FAKE_KEY}, "rejected the API key"),
        ({"workspace_id": "nope"}, "workspace"),
        ({"space_id": "vlt_missing"}, "Space 'vlt_missing' was not found"),
        ({"data_source_id": "missing-folder"}, "emulator-folder"),  # lists what it can see
    ],
)
def test_check_names_each_cause(
    emulator: EmulatorProcess, tmp_path: Path, overrides: dict[str, Any], expected: str
) -> None:
    status = _check(emulator, tmp_path, **overrides)
    assert status["status"] == "FAILED"
    assert expected in status["message"]


def test_check_rejects_a_connector_managed_data_source_in_documents_mode(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    workspace, space = emulator.config["workspace_id"], emulator.config["space_id"]
    created = emulator.control.post(
        f"/workspaces/{workspace}/data_sources",
        json={"space_id": space, "name": "notion-managed", "connector_provider": "notion"},
    )
    assert created.status_code in (200, 201), created.text
    status = _check(emulator, tmp_path, data_source_id="notion-managed")
    assert status["status"] == "FAILED" and "notion" in status["message"]
    assert (
        _check(emulator, tmp_path, data_source_id="notion-managed", data_format="tables")["status"]
        == "SUCCEEDED"
    )


def test_check_against_something_that_is_not_dust(tmp_path: Path) -> None:
    class NotDust(threading.Thread):
        def run(self) -> None:
            import http.server

            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self) -> None:
                    self.send_response(404)
                    self.end_headers()
                    self.wfile.write(b"<html>nothing here</html>")

                def log_message(self, *args: Any) -> None:
                    pass

            self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
            self.port.append(self.server.server_port)
            self.server.serve_forever()

        port: list[int] = []  # noqa: RUF012

    server = NotDust(daemon=True)
    server.start()
    while not NotDust.port:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{NotDust.port[0]}"
    config = write_json(
        tmp_path,
        "c.json",
        {"api_key": FAKE_KEY, "workspace_id": "w", "space_id": "s", "data_source_id": "d", "base_url": url},
    )
    status = run_cli(["check", "--config", config]).of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "does not look like a Dust server" in status["message"]
    assert url in status["message"]


def test_check_never_writes(emulator: EmulatorProcess, tmp_path: Path) -> None:
    _check(emulator, tmp_path)
    counters = json.dumps(emulator.counters())
    assert "POST" not in counters and "DELETE" not in counters


def test_states_are_echoed_verbatim_in_order(emulator: EmulatorProcess, tmp_path: Path) -> None:
    # a platform-style state with an `id`, and a PyAirbyte-style line with every null and `global_`
    platform_state = (
        b'{"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"},'
        b' "stream_state": {"cursor": "2024-01-02"}}, "id": 12345, "sourceStats": {"recordCount": 2.0}}}'
    )
    pyairbyte_state = orjson.dumps(
        {
            "type": "STATE",
            "log": None,
            "spec": None,
            "connectionStatus": None,
            "catalog": None,
            "record": None,
            "trace": None,
            "control": None,
            "state": {
                "type": "GLOBAL",
                "stream": None,
                "global_": {
                    "shared_state": {"lsn": 7},
                    "stream_states": [
                        {
                            "stream_descriptor": {"name": "users", "namespace": None},
                            "stream_state": {"cursor": "x"},
                        }
                    ],
                },
                "data": None,
                "sourceStats": None,
                "destinationStats": None,
            },
        }
    )
    pyairbyte_record = orjson.dumps(
        {
            "type": "RECORD",
            "log": None,
            "spec": None,
            "connectionStatus": None,
            "state": None,
            "catalog": None,
            "trace": None,
            "control": None,
            "record": {
                "namespace": None,
                "stream": "users",
                "data": {"id": 3, "name": "Cy"},
                "emitted_at": 1,
                "meta": None,
                "file_reference": None,
            },
        }
    )
    stdin = (
        jsonl([record("users", {"id": 1, "name": "Ann"}), record("users", {"id": 2, "name": "Bo"})])
        + platform_state
        + b"\n"
        + pyairbyte_record
        + b"\n"
        + pyairbyte_state
        + b"\n"
    )
    result = run_cli(["write", *_files(tmp_path, _config(emulator), catalog(USERS))], stdin)
    assert result.returncode == 0, result.stdout
    first, second = result.state_lines
    assert first == platform_state.replace(
        b'"state": {', b'"state": {"destinationStats":{"recordCount":2.0},'
    )
    assert orjson.loads(first)["state"]["id"] == 12345
    echoed = orjson.loads(second)
    assert echoed["state"]["global_"]["shared_state"] == {"lsn": 7}
    assert echoed["state"]["destinationStats"] == {"recordCount": 1.0}
    assert second == pyairbyte_state.replace(
        b'"destinationStats":null', b'"destinationStats":{"recordCount":1.0}'
    )
    assert {d["document_id"] for d in emulator.documents()} == {"users-1", "users-2", "users-3"}


def test_a_state_is_held_while_its_records_are_in_flight(emulator: EmulatorProcess, tmp_path: Path) -> None:
    """With 400 ms per request, the state must not come out before the records' upserts are stored; we read
    stdout live and compare with the store at the moment each state line appears."""
    emulator.set_faults(latency_ms=400)
    config = _config(emulator, max_concurrent_requests=4)
    args = _files(tmp_path, config, catalog(USERS))
    proc = subprocess.Popen([*CLI, "write", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(
        jsonl([record("users", {"id": i}) for i in range(6)] + [stream_state("users", {"n": 1})])
    )
    proc.stdin.flush()
    started = time.monotonic()
    line = proc.stdout.readline()  # blocks until the connector prints something
    waited = time.monotonic() - started
    message = orjson.loads(line)
    while message["type"] != "STATE":
        message = orjson.loads(proc.stdout.readline())
    stored = {d["document_id"] for d in emulator.documents()}
    assert stored >= {f"users-{i}" for i in range(6)}, "state emitted before its records were stored"
    assert waited >= 0.35  # the state really waited for the slow upserts
    proc.stdin.write(jsonl([record("users", {"id": 99}), stream_state("users", {"n": 2})]))
    proc.stdin.close()
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 0
    assert b'"n":2' in rest


def test_the_key_never_appears_even_when_the_server_echoes_it(tmp_path: Path) -> None:
    with EmulatorProcess(hostile_echo_key=True) as hostile:
        stdin = jsonl([record("users", {"id": 1}), stream_state("users", {"n": 1})])
        wrong = {**hostile.config, "api_key": FAKE_KEY, "document_upserts_per_minute": 0}
        for command in (
            ["check", "--config", write_json(tmp_path, "c.json", wrong)],
            ["write", *_files(tmp_path, wrong, catalog(USERS))],
        ):
            result = run_cli(command, stdin)
            assert FAKE_KEY.encode() not in result.stdout + result.stderr
            assert result.messages  # it did answer
        real_key = hostile.config["api_key"]
        hostile.set_faults(error_5xx_rate=1.0, routes=["documents"])
        config = {**hostile.config, "document_upserts_per_minute": 0, "retry_deadline_seconds": 2}
        result = run_cli(["write", *_files(tmp_path, config, catalog(USERS))], stdin)
        assert result.returncode == 1 and result.traces
        assert real_key.encode() not in result.stdout + result.stderr
        with httpx.Client() as http:
            assert http.get(hostile.base_url + "/__emulator/health").status_code == 200
        assert real_key not in "\n".join(hostile.output)


def test_records_of_streams_not_in_the_catalog_are_skipped_with_one_warning(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    stdin = jsonl(
        [record("ghosts", {"id": i}) for i in range(3)] + [record("users", {"id": 1}), complete("users")]
    )
    result = run_cli(["write", *_files(tmp_path, _config(emulator), catalog(USERS))], stdin)
    assert result.returncode == 0
    assert sum("ghosts" in log for log in result.logs) == 1
    assert [d["document_id"] for d in emulator.documents()] == ["users-1"]


def test_a_namespace_that_is_not_text_is_an_unknown_stream_not_a_crash(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    odd = []
    for namespace in ([1], {"a": 1}):
        message = record("users", {"id": 1})
        message["record"]["namespace"] = namespace
        odd.append(message)
    stdin = jsonl([*odd, record("users", {"id": 2}), stream_state("users", {"n": 1})])
    stdin += b'{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"users","namespace":[1]}}}}\n'
    result = run_cli(["write", *_files(tmp_path, _config(emulator), catalog(USERS))], stdin)
    assert result.returncode == 0, result.stderr
    assert len(result.states) == 2
    assert [d["document_id"] for d in emulator.documents()] == ["users-2"]


def test_garbage_lines_are_skipped_without_echoing_them(emulator: EmulatorProcess, tmp_path: Path) -> None:
    secret_text = "customer-ssn-123-45-6789"
    stdin = b"\n".join([b"", secret_text.encode(), b'{"type":"BOGUS"}', b"[1,2]"]) + b"\n"
    stdin += jsonl([record("users", {"id": 5}), stream_state("users", {"n": 1})])
    result = run_cli(["write", *_files(tmp_path, _config(emulator), catalog(USERS))], stdin)
    assert result.returncode == 0
    assert secret_text.encode() not in result.stdout + result.stderr
    assert len(result.states) == 1
    assert [d["document_id"] for d in emulator.documents()] == ["users-5"]


def test_main_py_write(emulator: EmulatorProcess, tmp_path: Path) -> None:
    stdin = jsonl([record("users", {"id": 8}), stream_state("users", {"n": 1})])
    proc = subprocess.run(
        [sys.executable, "main.py", "write", *_files(tmp_path, _config(emulator), catalog(USERS))],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout
    assert b'"type":"STATE"' in proc.stdout
