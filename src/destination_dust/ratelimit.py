"""Client-side sliding-window limiter for document upserts, mirroring Dust's limiter, and how we share it.

Dust counts document POSTs per workspace over a rolling 60 s and answers 429 (no Retry-After) once 120 are
in the window; a refused request is not counted, and every API key of the workspace shares the budget.

Alone (state *free*) we keep our own copy of the window, so a sync spends the whole budget without a 429:

- a send takes a slot when it leaves (`acquire`) and is timed when its answer arrives (`on_success`). Dust
  records it somewhere in between, so our copy of the window always expires *after* Dust's: with the same
  limit and window we never send early, whatever the latency, and we lose only one round trip per slot;
- a send whose fate is unknown (timeout, reset: `on_unknown`) is timed as if it had been counted.

Shared (state *blocked*, from a 429 until a probe is accepted): Dust's window is full although ours is not,
so another client of the workspace is spending the budget. The sharing policy:

- our allowance drops to the sends we hold in the window: we refill only the slots our own sends free, and
  the other client keeps the ones it frees, so neither takes the other's share by racing;
- beyond that allowance, one *probe* at a time, at most one per `window / PROBES_PER_WINDOW` (5 s), asks
  whether budget is free again. A refused request costs Dust's budget nothing, so this is how we find out
  at once when the other client's burst ends, instead of waiting for our own oldest send to leave;
- an accepted probe means the budget is free again (*recovering*): the allowance beyond what we hold doubles
  every round trip (each success lets two more go), so it is whole again within a few round trips (7 for
  120), while a probe that only caught a slot a steady client was about to refill costs one more 429, not
  one per request in flight;
- when a recovery is refused before `STRAY_SLOTS` sends got through, the probe found stray slots: most
  likely the slack a steady client needs (its send a window later may arrive a few ms before its own old
  one leaves Dust's window, and only a free slot absorbs that). We hand them back (our allowance returns to
  what it was before the probe, so the next of ours to leave the window are not refilled) and probe half as
  often, down to once per window, until a recovery gets further: probing does not take a steady client's
  share slot by slot over a long sync;
- no probe while `REJECTIONS_PER_WINDOW` 429s are in the last window: the probes pause until older 429s
  leave it (the sends already in flight when Dust starts refusing add theirs).

The share setting is the limit itself (`document_upserts_per_minute`): we never hold more than it in the
window, probes included, so a limit below Dust's 120 leaves the rest to the other clients whatever they do.

The thread that takes a slot reports its outcome (that is how a probe's answer is recognised). The clock and
the sleep are injected so the unit tests run on a fake clock; the sleep may raise to abandon a wait (no slot
is held while it sleeps).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

PROBES_PER_WINDOW = 12  # while blocked: one probe per 5 s of Dust's 60 s window
REJECTIONS_PER_WINDOW = 24  # no probe while this many 429s are in the last window
STRAY_SLOTS = 4  # a recovery refused before this many sends got through found stray slots, not free budget
IDLE_POLL_SECONDS = 1.0  # how long a waiter sleeps at most while an answer (a send in flight) decides
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
        self.probe_interval = window_seconds / PROBES_PER_WINDOW
        self._span = window_seconds + EXPIRY_MARGIN_SECONDS  # how long a send counts for us
        self.allowed = limit  # sends we may hold in the window: the limit, or our share while blocked
        self.blocked = False
        self._done: deque[float] = deque()  # answer times of the sends still in the window, oldest first
        self._pending = 0  # slots held by sends in flight
        self._prober: int | None = None  # the thread whose send in flight is the probe
        self._recovered = 0  # sends accepted since the last accepted probe, while recovering
        self._share = limit  # the allowance we had when the last accepted probe left
        self._spacing = 1  # probe interval multiplier: doubles after each stray probe, up to one per window
        self._next_probe_at = 0.0
        self._rejected_at: deque[float] = deque()  # times of the 429s in the last window
        self._changed = threading.Condition()
        self._clock = clock
        self._sleep = sleep
        self.rejections = 0
        self.probes = 0
        self.waited_seconds = 0.0

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def in_window(self) -> int:
        """Sends that count against the window now (answered within it, or in flight)."""
        with self._changed:
            self._expire(self._clock())
            return self._held()

    def recent_rejections(self) -> int:
        """429s received in the last window."""
        with self._changed:
            self._expire(self._clock())
            return len(self._rejected_at)

    def _held(self) -> int:
        return len(self._done) + self._pending

    def _expire(self, now: float) -> None:
        # the same expression as the wake-up in acquire, so a wait that ends at the expiry always expires it
        while self._done and self._done[0] + self._span <= now:
            self._done.popleft()
        while self._rejected_at and self._rejected_at[0] + self.window <= now:
            self._rejected_at.popleft()

    def _probe_due(self) -> float | None:
        """When the next probe may leave (None: not blocked, a probe in flight, or our whole limit held)."""
        if not self.blocked or self._prober is not None or self._held() >= self.limit:
            return None
        if len(self._rejected_at) >= REJECTIONS_PER_WINDOW:
            return max(self._next_probe_at, self._rejected_at[0] + self.window)
        return self._next_probe_at

    def _try_take(self, now: float) -> bool:
        held = self._held()
        if held < self.allowed:
            self._pending += 1
            return True
        due = self._probe_due()
        if due is not None and due <= now:
            self._pending += 1
            self._prober = threading.get_ident()
            self.probes += 1
            return True
        return False

    def acquire(self) -> float:
        """Block until one upsert may be sent and take its slot; returns the seconds waited. The same thread
        then reports exactly one of on_success, on_rejected, on_unknown or give_back."""
        if not self.enabled:
            return 0.0
        waited = 0.0
        while True:
            with self._changed:
                now = self._clock()
                self._expire(now)
                if self._try_take(now):
                    self.waited_seconds += waited
                    return waited
                due = self._probe_due()
                wakes = [] if due is None else [due]
                if self._done:
                    wakes.append(self._done[0] + self._span)
                if self._prober is not None or not wakes:
                    # an answer in flight decides (an accepted probe lets more go at once): wait to be told
                    timeout = min([IDLE_POLL_SECONDS, *(max(0.0, t - now) for t in wakes)])
                    self._changed.wait(timeout)
                    waited += self._clock() - now
                    continue
                delay = max(0.0, min(wakes) - now)
            self._sleep(delay)
            waited += delay

    def _release(self) -> bool:
        """Free the caller's slot; True when it was the probe."""
        self._pending = max(0, self._pending - 1)
        self._changed.notify_all()
        if self._prober == threading.get_ident():
            self._prober = None
            return True
        return False

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
            if self._release():  # the probe was accepted: the budget is free again
                self.blocked = False
                self._share = self.allowed
                self.allowed = min(self.limit, self._held() + 1)
                self._recovered = 1
            elif not self.blocked and self.allowed < self.limit:  # recovering: double every round trip
                self.allowed = min(self.limit, self.allowed + 2)
                self._recovered += 1
                if self.allowed == self.limit:
                    self._spacing = 1

    def on_unknown(self) -> None:
        """No answer (timeout, reset): Dust may have counted the send, so we count it too."""
        if not self.enabled:
            return
        with self._changed:
            now = self._clock()
            self._done.append(now)
            if self._release():
                self._next_probe_at = now + self.probe_interval * self._spacing

    def on_rejected(self) -> None:
        """A 429: Dust's window is full although ours is not. Free the slot (Dust did not count the send) and
        block: our allowance becomes what we hold in the window (less the stray slot, see the module
        docstring), and the next probe waits one probe interval (more after stray probes)."""
        with self._changed:
            self.rejections += 1
            if not self.enabled:
                return
            now = self._clock()
            self._expire(now)
            self._rejected_at.append(now)
            was_probe = self._release()
            # only a few got through: stray slots, likely the slack a steady client needs; we hand them back
            # (our next slots to free are not refilled) and probe half as often
            stray = not self.blocked and 0 < self._recovered < STRAY_SLOTS
            if stray:
                self._spacing = min(PROBES_PER_WINDOW, self._spacing * 2)
            elif not self.blocked and self._recovered:  # a real recovery, then a full window again
                self._spacing = 1
            if was_probe or not self.blocked:
                self._next_probe_at = now + self.probe_interval * self._spacing
            self.blocked = True
            self._recovered = 0
            held = self._held()
            self.allowed = max(0, min(self._share, held - 1)) if stray else min(self.allowed, held)
