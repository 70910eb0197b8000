"""Dust's document-upsert rate limiter and the emulator's fault-injection plan.

``SlidingWindowLimiter`` mirrors Dust's Redis sorted-set limiter: a request is allowed when fewer
than ``limit`` allowed requests happened in the last ``window`` seconds; a blocked request is not
recorded.

``FaultPlan`` decides, per API request, whether to add latency or answer with a fault. Every random
draw comes from one ``random.Random(seed)``, so the same seed and the same request sequence give
the same faults. Faults only ever apply to ``/api/v1/`` routes.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

ROUTE_KINDS = ("spaces", "data_sources", "documents", "tables", "rows", "search")


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def configure(self, limit: int, window_s: float) -> None:
        with self._lock:
            self.limit, self.window_s = limit, window_s

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def try_acquire(self, key: str) -> bool:
        """Record and allow the request, or refuse it without recording. ``limit <= 0`` disables."""
        if self.limit <= 0:
            return True
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


@dataclass
class FaultSettings:
    """What to inject. Rates are probabilities in [0, 1] drawn per matching request."""

    seed: int = 0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_5xx_rate: float = 0.0
    error_5xx_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    reset_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    burst_429: int = 0  # the next N document POSTs answer 429 rate_limit_error
    burst_quota: int = 0  # the next N document POSTs answer 403 data_source_quota_error
    max_request_bytes: int = 0  # bodies larger than this answer 413 (0 = off)
    fail_once_per_route: bool = False  # first request of each (method, route template) answers 503
    routes: list[str] = field(default_factory=lambda: ["all"])  # route kinds the random faults target
    methods: list[str] = field(default_factory=lambda: ["all"])

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: FaultSettings | None = None) -> FaultSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        merged = asdict(base or cls()) | data
        settings = cls(**merged)
        settings.validate()
        return settings

    def validate(self) -> None:
        self.methods = ["all" if m.lower() == "all" else m.upper() for m in self.methods]
        for name in ("error_5xx_rate", "reset_rate", "slow_rate"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        for name in (
            "latency_ms",
            "latency_jitter_ms",
            "slow_seconds",
            "burst_429",
            "burst_quota",
            "max_request_bytes",
        ):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0")
        bad_kinds = set(self.routes) - {*ROUTE_KINDS, "all"}
        if bad_kinds:
            raise ValueError(f"unknown route kinds {sorted(bad_kinds)}; use {[*ROUTE_KINDS, 'all']}")
        if not self.error_5xx_statuses or any(not 500 <= s <= 599 for s in self.error_5xx_statuses):
            raise ValueError("error_5xx_statuses must be a non-empty list of 5xx statuses")


@dataclass
class FaultDecision:
    delay_s: float = 0.0
    status: int | None = None  # answer with this error status (5xx, 429, 403 quota, 413)
    reset: bool = False  # close the connection without an answer


class FaultPlan:
    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self.settings = settings or FaultSettings()
        self._rng = random.Random(self.settings.seed)
        self._seen_routes: set[str] = set()

    def replace(self, settings: FaultSettings) -> None:
        """Install new settings; the random sequence restarts from the seed."""
        with self._lock:
            self.settings = settings
            self._rng = random.Random(settings.seed)
            self._seen_routes.clear()

    def _targets(self, kind: str, method: str) -> bool:
        s = self.settings
        return ("all" in s.routes or kind in s.routes) and ("all" in s.methods or method in s.methods)

    def decide(self, kind: str, method: str, template: str, body_bytes: int) -> FaultDecision:
        with self._lock:
            s = self.settings
            decision = FaultDecision()
            if s.max_request_bytes and body_bytes > s.max_request_bytes:
                decision.status = 413
                return decision
            if kind == "documents" and method == "POST":
                if s.burst_429 > 0:
                    s.burst_429 -= 1
                    decision.status = 429
                    return decision
                if s.burst_quota > 0:
                    s.burst_quota -= 1
                    decision.status = 403
                    return decision
            if not self._targets(kind, method):
                return decision
            if s.latency_ms or s.latency_jitter_ms:
                decision.delay_s = (s.latency_ms + self._rng.random() * s.latency_jitter_ms) / 1000.0
            if s.fail_once_per_route:
                route_key = f"{method} {template}"
                if route_key not in self._seen_routes:
                    self._seen_routes.add(route_key)
                    decision.status = 503
                    return decision
            # Always draw the three numbers so one fault's rate does not shift the others' sequence.
            reset_draw, error_draw, slow_draw = self._rng.random(), self._rng.random(), self._rng.random()
            status_pick = self._rng.choice(s.error_5xx_statuses)
            if reset_draw < s.reset_rate:
                decision.reset = True
            elif error_draw < s.error_5xx_rate:
                decision.status = status_pick
            elif slow_draw < s.slow_rate:
                decision.delay_s += s.slow_seconds
            return decision
