"""Pacing (PLUS-5): parts per second, slowed by throttling answers and recovering gradually."""

from __future__ import annotations

import time


class _RateLimiter:
    """Parts per second, slowed on throttling answers and recovering gradually (PLUS-5)."""

    def __init__(self, rate: float | None):
        self.ceiling = rate
        self.rate = rate
        self._next = time.monotonic()
        self._last_throttle = 0.0

    def wait(self) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
            now = self._next
        self._next = max(self._next, now - 0.01) + 1.0 / self.rate  # at most 10 ms of catch-up burst

    def throttled(self, observed: float) -> None:
        now = time.monotonic()
        if now - self._last_throttle > 0.2:  # one slow-down per burst of refusals
            base = self.rate if self.rate is not None else max(observed, 10.0)
            self.rate = max(1.0, base * 0.9)
            self._last_throttle = now
        self._next = max(self._next, now + 0.05)

    def recover(self) -> None:
        if self.rate is not None and self._last_throttle and time.monotonic() - self._last_throttle > 0.3:
            target = self.ceiling if self.ceiling is not None else self.rate * 1.25
            self.rate = min(target, self.rate * 1.05) if self.ceiling is not None else self.rate * 1.05
