"""Client-side sliding-window limiter for document upserts, mirroring Dust's limiter.

Dust counts document POSTs per workspace over a rolling 60 s and answers 429 with no Retry-After once 120
are in the window (other API clients of the workspace share that budget). We keep our own window so a sync
spends the budget evenly instead of bursting into 429s, and we adapt when Dust disagrees (someone else is
using the budget): on a 429 the allowed count is halved (multiplicative decrease) and each accepted upsert
gives back a fraction of one slot (additive increase), up to the configured limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit  # 0 = unlimited
        self.window = window_seconds
        self.allowed = float(limit)
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.rejections = 0

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()

    def acquire(self) -> float:
        """Block until one upsert may be sent; returns the seconds waited."""
        if not self.enabled:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._expire(now)
                if len(self._sent) < max(1, int(self.allowed)):
                    self._sent.append(now)
                    return waited
                # the oldest send leaves the window first; a small margin absorbs clock differences
                delay = self._sent[0] + self.window - now + 0.05
            self._sleep(delay)
            waited += delay

    def on_success(self) -> None:
        if self.enabled:
            with self._lock:
                self.allowed = min(float(self.limit), self.allowed + 1.0 / max(1.0, self.allowed))

    def on_rejected(self) -> float:
        """A 429 anyway: Dust's window is fuller than ours. Halve our rate and return how long to wait before
        trying again: until our oldest recorded send leaves the window (no Retry-After exists)."""
        with self._lock:
            self.rejections += 1
            if not self.enabled:
                return 1.0
            self.allowed = max(1.0, self.allowed / 2)
            now = self._clock()
            self._expire(now)
            # the rejected request was not counted by Dust: forget our slot for it
            if self._sent:
                self._sent.pop()
            if self._sent:
                return max(0.5, self._sent[0] + self.window - now + 0.05)
            return self.window / 4
