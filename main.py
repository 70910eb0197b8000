"""Airbyte entrypoint: `python main.py spec|check|write ...` (same as the `destination-dust` script)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from destination_dust.__main__ import run

if __name__ == "__main__":
    run()
