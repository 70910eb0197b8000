"""PyAirbyte's own venv, built once and cached under .cache/pyairbyte-venv.

PyAirbyte pins airbyte-cdk < 7 and a long tail of heavy packages (~740 MB): it never shares the project's
venv. The cache is keyed on the pins file (tests/pyairbyte/requirements.txt) and the Python version: change
either and the next run rebuilds it. Concurrent test runs in one checkout wait on a lock file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PINS = Path(__file__).resolve().parent / "requirements.txt"
VENV = ROOT / ".cache" / "pyairbyte-venv"
STAMP = VENV / ".pins-sha256"
BUILD_TIMEOUT_S = 40 * 60


def cache_key() -> str:
    digest = hashlib.sha256(PINS.read_bytes())
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()


def _is_current(key: str) -> bool:
    return STAMP.is_file() and STAMP.read_text().strip() == key and (VENV / "bin" / "source-faker").exists()


def build_venv() -> tuple[Path, float]:
    """The venv's python and how long this call spent building it (0 when the cache was current)."""
    key = cache_key()
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "pyairbyte-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_current(key):
            return VENV / "bin" / "python", 0.0
        started = time.monotonic()
        shutil.rmtree(VENV, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
        steps = [
            [sys.executable, "-m", "venv", str(VENV)],
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"],
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(PINS)],
        ]
        for step in steps:
            proc = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env)
            if proc.returncode != 0:
                shutil.rmtree(VENV, ignore_errors=True)
                pytest.fail(f"building the PyAirbyte venv failed at {step[-1]!r}:\n{proc.stderr[-4000:]}")
        STAMP.write_text(key + "\n")
        return VENV / "bin" / "python", time.monotonic() - started


@pytest.fixture(scope="session")
def pyairbyte_python() -> Path:
    python, seconds = build_venv()
    if seconds:
        print(f"\nbuilt the PyAirbyte venv in {seconds:.0f}s ({VENV})", file=sys.stderr)
    return python
