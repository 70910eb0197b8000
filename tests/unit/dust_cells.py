"""What Dust's rows endpoint and core accept as a cell: the contract every cell the connector sends must meet.

Written from Dust's side (its limits spelled out here, not imported from cells.py), so that the tests that
check cells against it would catch a converter and its constants drifting together."""

from __future__ import annotations

import math
import re
from typing import Any

_SAFE_INTEGER = 2**53  # Dust's front parses JSON numbers as doubles
_FIRST_MS = -62135596800000  # 0001-01-01T00:00:00Z
_LAST_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")  # lone surrogates (no UTF-8) and NUL (Postgres text)


def dust_accepts(cell: Any) -> bool:
    if cell is None or isinstance(cell, bool):
        return True
    if isinstance(cell, str):
        return not _UNSTORABLE.search(cell)
    if isinstance(cell, int):
        return -_SAFE_INTEGER <= cell <= _SAFE_INTEGER
    if isinstance(cell, float):
        return math.isfinite(cell)
    if isinstance(cell, dict):
        epoch = cell.get("epoch")
        return (
            set(cell) == {"type", "epoch"}
            and cell.get("type") == "datetime"
            and isinstance(epoch, int)
            and not isinstance(epoch, bool)
            and _FIRST_MS <= epoch <= _LAST_MS
            and (epoch >= 0 or epoch % 1000 == 0)  # Dust's core renders no negative epoch with milliseconds
        )
    return False
