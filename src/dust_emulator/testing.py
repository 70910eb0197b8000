"""Start an emulator for tests: as a subprocess (real process: kill, restart, SIGTERM) or in a
thread (fast). Both expose the same small API:

    with running_emulator(rate_limit=20, rate_window=10) as emu:
        emu.base_url            # "http://127.0.0.1:PORT"
        emu.config              # destination config: api_key, workspace_id, space_id,
                                #   data_source_id, base_url
        emu.system_api_key      # the seeded system key (exempt from the rate limit)
        emu.control.get("/counters").json()
        emu.dump()              # documents, tables, rows of every data source
        emu.set_faults(error_5xx_rate=0.5, seed=3)
        emu.restart()           # subprocess only: same --db file, same port

Keyword flags map to CLI flags: ``rate_limit=20`` -> ``--rate-limit 20``; ``True`` -> bare flag.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from .limits import FaultSettings
from .state import MIB, Settings

READY_MARK = "dust-emulator listening on "


class _EmulatorHandle:
    base_url: str
    config: dict[str, Any]
    seed: dict[str, Any]
    control: httpx.Client

    def _load_config(self) -> None:
        self.control = httpx.Client(base_url=self.base_url + "/__emulator", timeout=10.0)
        answer = self.control.get("/config").json()
        self.config = answer["config"]
        self.seed = answer["seed"]

    @property
    def api_key(self) -> str:
        return str(self.config["api_key"])

    @property
    def system_api_key(self) -> str:
        return str(self.seed["system_api_key"])

    @property
    def ds_path(self) -> str:
        """``/spaces/{space}/data_sources/{ds}`` of the seeded data source (relative to api_client)."""
        return f"/spaces/{self.config['space_id']}/data_sources/{self.config['data_source_id']}"

    def api_client(self, api_key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client for ``/api/v1/w/{workspace}`` with the (given or seeded) key."""
        headers = {"Authorization": f"Bearer {api_key or self.api_key}"}
        return httpx.Client(
            base_url=f"{self.base_url}/api/v1/w/{self.config['workspace_id']}",
            headers=headers,
            timeout=kwargs.pop("timeout", 10.0),
            **kwargs,
        )

    def dump(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control.get("/dump").json()
        return result

    def documents(self, data_source_id: str | None = None) -> list[dict[str, Any]]:
        wanted = data_source_id or self.config["data_source_id"]
        for ds in self.dump()["data_sources"]:
            if ds["sId"] == wanted:
                docs: list[dict[str, Any]] = ds["documents"]
                return docs
        return []

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control.get("/counters").json()
        return result

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.control.put("/faults", json=faults).raise_for_status().json()
        return result

    def clear_faults(self) -> None:
        self.control.delete("/faults").raise_for_status()

    def update_settings(self, **settings: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.control.patch("/settings", json=settings).raise_for_status().json()
        return result

    def reset(self, scope: str = "data") -> None:
        self.control.post("/reset", json={"scope": scope}).raise_for_status()


def _cli_args(flags: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False or value is None:
            continue
        else:
            args += [flag, str(value)]
    return args


class EmulatorProcess(_EmulatorHandle):
    """``python -m dust_emulator serve`` in a subprocess, over real HTTP."""

    def __init__(self, db_path: str | None = None, startup_timeout_s: float = 20.0, **flags: Any) -> None:
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="dust-emulator-")
            db_path = os.path.join(self._tmpdir.name, "emulator.db")
        self.db_path = db_path
        self.flags = flags
        self.port = int(flags.pop("port", 0))
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[str] | None = None
        self.output: deque[str] = deque(maxlen=500)
        self.banner: list[str] = []

    def start(self) -> EmulatorProcess:
        command = [
            sys.executable,
            "-m",
            "dust_emulator",
            "serve",
            "--port",
            str(self.port),
            "--db",
            self.db_path,
        ]
        command += _cli_args(self.flags)
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        ready = threading.Event()
        base_url: list[str] = []
        process = self.process

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                self.output.append(line.rstrip("\n"))
                if not ready.is_set():
                    self.banner.append(line.rstrip("\n"))
                if line.startswith(READY_MARK):
                    base_url.append(line[len(READY_MARK) :].strip())
                    ready.set()
            ready.set()

        threading.Thread(target=pump, name="dust-emulator-output", daemon=True).start()
        if not ready.wait(self.startup_timeout_s) or not base_url:
            self.stop()
            raise RuntimeError("dust-emulator did not start:\n" + "\n".join(self.output))
        self.base_url = base_url[0]
        self.port = int(self.base_url.rsplit(":", 1)[1])
        self._load_config()
        return self

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout_s: float = 10.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        if getattr(self, "control", None) is not None:
            self.control.close()
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)
        code = self.process.returncode
        self.process = None
        return code

    def restart(self) -> EmulatorProcess:
        """Stop and start again on the same database file and the same port."""
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()

    def __enter__(self) -> EmulatorProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class EmulatorThread(_EmulatorHandle):
    """The emulator in a background thread of this process: quick to start, same HTTP API."""

    def __init__(
        self, db_path: str = ":memory:", settings: Settings | None = None, faults: FaultSettings | None = None
    ) -> None:
        from .server import EmulatorServer, build_state

        self.state = build_state(db_path, settings, faults)
        self.server = EmulatorServer(self.state)

    def start(self) -> EmulatorThread:
        self.server.start_in_thread()
        self.base_url = self.server.base_url
        self._load_config()
        return self

    def stop(self) -> None:
        self.control.close()
        self.server.stop()

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@contextmanager
def running_emulator(**flags: Any) -> Iterator[EmulatorProcess]:
    """A subprocess emulator for the duration of the block (see ``EmulatorProcess``)."""
    emulator = EmulatorProcess(**flags)
    with emulator:
        yield emulator


def thread_settings(**overrides: Any) -> Settings:
    """Settings for ``EmulatorThread`` with CLI-like names (``doc_body_limit_mb`` ...)."""
    settings = Settings()
    for name in ("doc_body_limit_mb", "table_body_limit_mb"):
        if name in overrides:
            overrides[name.replace("_mb", "_bytes")] = int(overrides.pop(name) * MIB)
    settings.update(overrides)
    return settings


def wait_until(predicate: Any, timeout_s: float = 5.0, interval_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


# ---- pytest fixtures (imported by tests/emulator/conftest.py; re-exportable from any conftest) ----

try:
    import pytest
except ImportError:  # pytest is a dev dependency; the helpers above work without it
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def dust_emulator_process() -> Iterator[EmulatorProcess]:
        """One subprocess emulator for the session (small rate-limit window for quick tests)."""
        with running_emulator(rate_limit=20, rate_window=10) as emulator:
            yield emulator

    @pytest.fixture
    def emulator(dust_emulator_process: EmulatorProcess) -> Iterator[EmulatorProcess]:
        """The session emulator, emptied before each test: no documents, tables or rows, counters
        at zero, rate-limit windows cleared, settings and faults back to their startup values."""
        if dust_emulator_process.process is None or dust_emulator_process.process.poll() is not None:
            dust_emulator_process.start()
        dust_emulator_process.reset("all")
        yield dust_emulator_process
