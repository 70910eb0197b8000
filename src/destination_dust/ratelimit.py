"""Client-side sliding-window limiter for document upserts, mirroring Dust's limiter.

Dust counts document POSTs per workspace over a rolling 60 s and answers 429 (no Retry-After) once 120 are
in the window; a blocked request is not counted, and every API key of the workspace shares the budget.
We keep our own window so a sync spends the whole budget without bursting into 429s:

- a send takes a slot when it leaves (`acquire`) and is timed when its answer arrives (`on_success`). Dust
  records it somewhere in between, so our copy of the window always expires *after* Dust's: with the same
  limit and window we never send early, whatever the latency, and we lose only one round trip per slot;
- a 429 (`on_rejected`) frees the slot without timing it (Dust did not count it either) and tells us that
  Dust's window is full right now: someone else is spending the budget. We lower our own allowance to what
  we had in the window at that moment and wait until our oldest send leaves it. Each later success gives
  back `RECOVERY_PER_SUCCESS` of a slot, up to the configured limit (additive increase): a 429 costs a round
  trip but no budget, so probing upwards is cheap;
- a send whose fate is unknown (timeout, reset: `on_unknown`) is timed as if it had been counted.

The clock and the sleep are injected so the unit tests run on a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

RECOVERY_PER_SUCCESS = 0.25
IDLE_POLL_SECONDS = 1.0  # how long a waiter sleeps when every slot is held by a send in flight
# A send leaves our window this long after the window's end: when Dust records a send at the very moment it
# leaves and it is answered at once, both windows end at the same instant, and that boundary, computed on two
# clocks (or only rounded differently: t + 60 - 60 != t in floats), must not make Dust refuse the next send.
EXPIRY_MARGIN_SECONDS = 0.005


class SlidingWindowLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 0 or window_seconds <= 0:
            raise ValueError("limit must be >= 0 and window_seconds > 0")
        self.limit = limit  # 0 = unlimited
        self.window = window_seconds
        self._span = window_seconds + EXPIRY_MARGIN_SECONDS  # how long a send counts for us
        self.allowed = float(limit)
        self._done: deque[float] = deque()  # answer times of the sends still in the window, oldest first
        self._pending = 0  # slots held by sends in flight
        self._changed = threading.Condition()
        self._clock = clock
        self._sleep = sleep
        self.rejections = 0
        self.waited_seconds = 0.0

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def in_window(self) -> int:
        """Sends that count against the window now (answered within it, or in flight)."""
        with self._changed:
            self._expire(self._clock())
            return len(self._done) + self._pending

    def _expire(self, now: float) -> None:
        # the same expression as the wait in acquire, so a wait that ends at the expiry always expires it
        while self._done and self._done[0] + self._span <= now:
            self._done.popleft()

    def _capacity(self) -> int:
        return max(1, int(self.allowed))

    def acquire(self) -> float:
        """Block until one upsert may be sent and take its slot; returns the seconds waited. The caller then
        reports exactly one of on_success, on_rejected or on_unknown."""
        if not self.enabled:
            return 0.0
        waited = 0.0
        while True:
            with self._changed:
                now = self._clock()
                self._expire(now)
                if len(self._done) + self._pending < self._capacity():
                    self._pending += 1
                    self.waited_seconds += waited
                    return waited
                if not self._done:
                    # every slot is held by a send in flight: its answer frees or times it
                    self._changed.wait(IDLE_POLL_SECONDS)
                    waited += self._clock() - now
                    continue
                delay = max(0.0, self._done[0] + self._span - now)
            self._sleep(delay)
            waited += delay

    def _release(self) -> None:
        self._pending = max(0, self._pending - 1)
        self._changed.notify_all()

    def give_back(self) -> None:
        """The slot was taken but nothing was sent."""
        if not self.enabled:
            return
        with self._changed:
            self._release()

    def on_success(self) -> None:
        if not self.enabled:
            return
        with self._changed:
            self._done.append(self._clock())
            self.allowed = min(float(self.limit), self.allowed + RECOVERY_PER_SUCCESS)
            self._release()

    def on_unknown(self) -> None:
        """No answer (timeout, reset): Dust may have counted the send, so we count it too."""
        if not self.enabled:
            return
        with self._changed:
            self._done.append(self._clock())
            self._release()

    def on_rejected(self) -> float:
        """A 429: Dust's window is full although ours is not. Free the slot (Dust did not count the send),
        lower our allowance to what we hold in the window, and return how long to wait before trying again:
        until our oldest send leaves the window (Dust gives no Retry-After)."""
        with self._changed:
            self.rejections += 1
            if not self.enabled:
                return 1.0
            now = self._clock()
            self._expire(now)
            self._release()
            ours = len(self._done) + self._pending
            self.allowed = max(1.0, min(self.allowed, float(ours)))
            if self._done:
                return max(0.0, self._done[0] + self._span - now)
            return self.window / max(1, self.limit)  # nothing of ours in the window: one slot's share
