"""The emulator as a process: banner, config file, persistence across restarts, clean stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from dust_emulator.testing import EmulatorProcess


def test_restart_with_a_file_db_keeps_ids_key_and_data(tmp_path: os.PathLike[str]) -> None:
    db = os.path.join(tmp_path, "emu.db")
    with EmulatorProcess(db_path=db) as emulator:
        first_config = dict(emulator.config)
        with emulator.api_client() as client:
            assert (
                client.post(f"{emulator.ds_path}/documents/kept", json={"text": "survives"}).status_code
                == 200
            )
            client.post(
                f"{emulator.ds_path}/tables",
                json={"name": "t", "description": "d", "title": "t", "table_id": "t1"},
            ).raise_for_status()
            client.post(
                f"{emulator.ds_path}/tables/t1/rows", json={"rows": [{"row_id": "1", "value": {"a": 1}}]}
            ).raise_for_status()
        emulator.restart()
        assert emulator.config == first_config  # same ids, same key, same port
        with emulator.api_client() as client:
            document = client.get(f"{emulator.ds_path}/documents/kept").json()["document"]
            assert document["text"] == "survives"
            rows = client.get(f"{emulator.ds_path}/tables/t1/rows").json()
            assert rows["rows"] == [{"row_id": "1", "value": {"a": 1}}]
            assert (
                client.get(f"{emulator.ds_path}/tables/t1").json()["table"]["schema"][0]["value_type"]
                == "int"
            )


def test_sigterm_and_sigint_stop_cleanly() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        emulator = EmulatorProcess().start()
        try:
            emulator.signal(signum)
            assert emulator.wait(10) == 0
            assert list(emulator.output)[-1] == "dust-emulator stopped"
        finally:
            emulator.close()


def test_banner_seed_and_config_out_never_print_the_key(tmp_path: os.PathLike[str]) -> None:
    config_path = os.path.join(tmp_path, "config.json")
    with EmulatorProcess(config_out=config_path, access_log=True) as emulator:
        banner = "\n".join(emulator.banner)
        assert emulator.api_key not in banner
        assert emulator.system_api_key not in banner
        seed_line = next(line for line in emulator.banner if line.startswith("dust-emulator seed "))
        seed = json.loads(seed_line[len("dust-emulator seed ") :])
        assert seed["workspace_id"] == emulator.config["workspace_id"]
        assert seed["data_source_id"] == emulator.config["data_source_id"]
        with open(config_path) as handle:
            written = json.load(handle)
        assert written == emulator.config
        assert set(written) == {"api_key", "workspace_id", "space_id", "data_source_id", "base_url"}
        assert written["api_key"].startswith("sk-") and written["api_key"][3:].isalnum()
        assert len(written["api_key"]) >= 30
        assert (os.stat(config_path).st_mode & 0o077) == 0
        wrong_key = "sk-" + "f" * 40
        with emulator.api_client() as client, emulator.api_client(wrong_key) as wrong:
            client.get(f"{emulator.ds_path}/documents/missing")
            wrong.get("/spaces")
    everything_printed = "\n".join(emulator.output)
    assert '"GET /api/v1/w/' in everything_printed  # the access log ran, and still shows no key
    for key in (emulator.api_key, emulator.system_api_key, wrong_key):
        assert key not in everything_printed


def test_console_script_and_module_entry_points_exist() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dust_emulator", "serve", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    for flag in (
        "--port",
        "--db",
        "--config-out",
        "--rate-limit",
        "--fault-5xx-rate",
        "--seed",
        "--hostile-echo-key",
        "--doc-size-limit-mb",
    ):
        assert flag in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "dust_emulator", "serve", "--fault-5xx-rate", "7"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "error_5xx_rate" in bad.stderr
