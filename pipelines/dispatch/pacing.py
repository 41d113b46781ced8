"""Pacing (PLUS-5): parts per second, slowed by throttling answers and recovering gradually; the error budget."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from pipelines.dispatch.errors import DispatchPaused


class RateLimiter:
    """Parts per second, slowed on throttling answers and recovering gradually (PLUS-5).

    `clock` and `sleep` are the time it reads and waits by (monotonic seconds; tests pass their own)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.ceiling = rate
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self._next = clock()
        self._last_throttle: float | None = None

    def wait(self) -> None:
        """Return when the next part may go (at once when there is no rate)."""
        if self.rate is None:
            return
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
            now = self._next
        self._next = max(self._next, now - 0.01) + 1.0 / self.rate  # at most 10 ms of catch-up burst

    def due(self) -> bool:
        """Whether a part may go now without waiting (always, when there is no rate)."""
        return self.rate is None or self._next <= self._clock()

    def throttled(self, observed: float) -> None:
        """The SMSC answered ESME_RTHROTTLED or ESME_RMSGQFUL: 10% slower (from `observed` parts/s when unpaced)."""
        now = self._clock()
        if self._last_throttle is None or now - self._last_throttle > 0.2:  # one slow-down per burst of refusals
            base = self.rate if self.rate is not None else max(observed, 10.0)
            self.rate = max(1.0, base * 0.9)
            self._last_throttle = now
        self._next = max(self._next, now + 0.05)

    def recover(self) -> None:
        """0.3 s after the last throttling answer, 5% faster per part, up to the ceiling (if any)."""
        if self.rate is not None and self._last_throttle is not None and self._clock() - self._last_throttle > 0.3:
            self.rate = min(self.ceiling, self.rate * 1.05) if self.ceiling is not None else self.rate * 1.05


class ErrorBudget:
    """PLUS-5: the share of permanent refusals among the last `window` submits that pauses the batch."""

    def __init__(self, budget: float, window: int):
        self.budget, self.window = budget, window
        self._recent: deque[bool] = deque(maxlen=window)
        self._refused = 0  # refusals in `_recent`, kept as a count so a check does not re-add the window
        self._codes: dict[int, int] = {}

    def accepted(self) -> None:
        self._record(False)

    def refused(self, status: int) -> None:
        self._record(True)
        self._codes[status] = self._codes.get(status, 0) + 1

    def _record(self, refused: bool) -> None:
        if len(self._recent) == self.window:
            self._refused -= self._recent[0]
        self._recent.append(refused)
        self._refused += refused

    def check(self) -> None:
        """DispatchPaused once at least min(window, 100) submits are answered and the refused share is over."""
        seen = len(self._recent)
        if seen >= min(self.window, 100) and self._refused / seen > self.budget:
            codes = ", ".join(f"0x{code:02X}×{count}" for code, count in sorted(self._codes.items()))
            raise DispatchPaused(
                f"error budget exceeded: {self._refused} of the last {seen} submits were refused "
                f"({self._refused / seen:.1%} > {self.budget:.0%}; codes {codes}); the batch is paused, nothing "
                f"more is sent until it is re-run [PLUS-5]")
