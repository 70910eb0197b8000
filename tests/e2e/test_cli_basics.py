"""The CLI without a server: spec, config errors, unreachable hosts (stdout holds only Airbyte messages)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import jsonschema

from tests.helpers import FAKE_KEY, ROOT, run_cli, write_json

BASE = {"api_key": FAKE_KEY, "workspace_id": "w1", "space_id": "vlt_1", "data_source_id": "folder"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_spec_validates_and_lists_every_mode() -> None:
    result = run_cli(["spec"])
    assert result.returncode == 0
    (message,) = result.messages
    spec = message["spec"]
    jsonschema.Draft7Validator.check_schema(spec["connectionSpecification"])
    assert set(spec["supported_destination_sync_modes"]) == {"append", "append_dedup", "overwrite"}
    jsonschema.validate(BASE, spec["connectionSpecification"])


def test_main_py_works_like_the_script() -> None:
    proc = subprocess.run([sys.executable, "main.py", "spec"], cwd=ROOT, capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert b'"type":"SPEC"' in proc.stdout


def test_check_with_an_invalid_config_fails_with_the_field_named(tmp_path: Path) -> None:
    config = write_json(tmp_path, "c.json", {**BASE, "data_format": "csv"})
    result = run_cli(["check", "--config", config])
    assert result.returncode == 0
    status = result.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED"
    assert "data_format" in status["message"]


def test_check_on_an_unreachable_host_names_the_url_not_the_key(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    config = write_json(tmp_path, "c.json", {**BASE, "base_url": url, "request_timeout_seconds": 5})
    result = run_cli(["check", "--config", config])
    status = result.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED"
    assert url in status["message"]
    assert FAKE_KEY.encode() not in result.stdout + result.stderr


def test_check_refuses_plain_http_to_a_remote_host(tmp_path: Path) -> None:
    config = write_json(tmp_path, "c.json", {**BASE, "base_url": "http://dust.example.com"})
    status = run_cli(["check", "--config", config]).of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "https" in status["message"]


def test_write_with_a_bad_config_fails_before_reading(tmp_path: Path) -> None:
    config = write_json(tmp_path, "c.json", {**BASE, "api_key": ""})
    catalog = write_json(tmp_path, "k.json", {"streams": []})
    result = run_cli(["write", "--config", config, "--catalog", catalog], stdin=b"garbage\n" * 10)
    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["trace"]["error"]["failure_type"] == "config_error"
    assert "api_key" in trace["trace"]["error"]["message"]
    assert result.stderr == b""


def test_write_with_a_missing_catalog_file(tmp_path: Path) -> None:
    config = write_json(tmp_path, "c.json", BASE)
    result = run_cli(["write", "--config", config, "--catalog", str(tmp_path / "nope.json")])
    assert result.returncode == 1
    assert "nope.json" in result.traces[0]["trace"]["error"]["message"]
    assert result.traces[0]["trace"]["error"]["failure_type"] == "config_error"


def test_unknown_command_is_one_trace_not_a_usage_dump() -> None:
    result = run_cli(["read"])
    assert result.returncode == 1
    assert len(result.traces) == 1
    assert result.stderr == b""


def test_config_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{api_key: " + FAKE_KEY)
    result = run_cli(["check", "--config", str(path)])
    status = result.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "not valid JSON" in status["message"]
    assert FAKE_KEY.encode() not in result.stdout + result.stderr
