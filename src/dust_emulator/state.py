"""Everything one running emulator holds: the store, run-time settings, the rate limiter, the
fault plan and the request counters. Routes and control routes share one ``EmulatorState``."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from typing import Any

from .limits import FaultPlan, FaultSettings, SlidingWindowLimiter
from .store import Store

MIB = 1024 * 1024


@dataclass
class Settings:
    rate_limit: int = 120  # document POSTs per window per workspace (0 = off)
    rate_window_s: float = 60.0
    doc_size_limit_mb: float = 2.0  # plan limit on a document's text (-1 = unlimited)
    doc_body_limit_bytes: int = 8 * MIB  # 413 above this, document routes
    table_body_limit_bytes: int = 1 * MIB  # 413 above this, table and row routes
    hostile_echo_key: bool = False  # echo the presented API key in error messages (security tests)
    async_delay_ms: int = 0  # how long an async:true upsert stays invisible

    def update(self, data: dict[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self)}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        for name, value in data.items():
            current = getattr(self, name)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be a boolean")
            elif isinstance(current, (int, float)):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{name} must be a number")
                value = type(current)(value)
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Counters:
    """Answers counted by ``"<METHOD> <route kind>"`` and by route template, per status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.by_route: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.by_template: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.total = 0

    def record(self, method: str, kind: str, template: str, status: str) -> None:
        with self._lock:
            self.by_route[f"{method} {kind}"][status] += 1
            self.by_template[f"{method} {template}"][status] += 1
            self.total += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_status: dict[str, int] = defaultdict(int)
            for statuses in self.by_route.values():
                for status, count in statuses.items():
                    by_status[status] += count
            return {
                "routes": {route: dict(statuses) for route, statuses in self.by_route.items()},
                "templates": {route: dict(statuses) for route, statuses in self.by_template.items()},
                "totals": {"requests": self.total, "by_status": dict(by_status)},
            }


class EmulatorState:
    def __init__(
        self, store: Store, settings: Settings | None = None, faults: FaultSettings | None = None
    ) -> None:
        self.store = store
        self.settings = settings or Settings()
        # What ``/__emulator/reset`` goes back to: the settings and faults the process started with.
        self.startup_settings = Settings(**self.settings.as_dict())
        # a copy: the live plan counts bursts down in place
        self.startup_faults = FaultSettings(**asdict(faults)) if faults else FaultSettings()
        self.limiter = SlidingWindowLimiter(self.settings.rate_limit, self.settings.rate_window_s)
        self.faults = FaultPlan(faults)
        self.counters = Counters()
        self.seed: dict[str, Any] | None = None
        self.base_url: str = ""

    def apply_settings(self, data: dict[str, Any]) -> None:
        self.settings.update(data)
        self.limiter.configure(self.settings.rate_limit, self.settings.rate_window_s)

    def restore_startup(self, *, settings: bool = True, faults: bool = True) -> None:
        if settings:
            self.settings = Settings(**self.startup_settings.as_dict())
            self.limiter.configure(self.settings.rate_limit, self.settings.rate_window_s)
        if faults:
            self.faults.replace(FaultSettings(**asdict(self.startup_faults)))

    def connector_config(self) -> dict[str, Any]:
        """The destination's config pointing at the default seed."""
        if self.seed is None:
            return {}
        return {
            "api_key": self.seed["api_key"],
            "workspace_id": self.seed["workspace_id"],
            "space_id": self.seed["space_id"],
            "data_source_id": self.seed["data_source_id"],
            "base_url": self.base_url,
        }
