"""Pacing on its own (pipelines/dispatch/pacing.py): the rate limiter on a controllable clock, the error budget (PLUS-5)."""

from __future__ import annotations

import pytest

from pipelines.dispatch import DispatchPaused
from pipelines.dispatch.pacing import ErrorBudget, RateLimiter
from pipelines.smpp import pdu as P


class Clock:
    """Monotonic seconds that move only when the limiter sleeps or the test says so."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(rate: float | None, clock: Clock) -> RateLimiter:
    return RateLimiter(rate, clock=clock, sleep=clock.sleep)


def test_plus5_parts_go_out_at_the_rate_counted_in_parts():
    clock = Clock()
    pacing = limiter(10.0, clock)
    for _ in range(21):
        pacing.wait()
    assert clock.now == pytest.approx(1002.0)  # 21 parts at 10/s: the first at once, then one every 0.1 s
    assert clock.slept == pytest.approx([0.1] * 20)


def test_plus5_an_idle_sender_catches_up_at_most_10_ms():
    clock = Clock()
    pacing = limiter(100.0, clock)
    pacing.wait()
    clock.now += 5.0  # nothing sent for 5 s: no burst of 500 parts
    resumed = clock.now
    for _ in range(11):
        pacing.wait()
    # 11 parts at 100/s take 0.1 s after the first; the idle time buys 10 ms of it, not 5 s.
    assert clock.now - resumed == pytest.approx(0.09)


def test_plus5_no_rate_never_waits():
    clock = Clock()
    pacing = limiter(None, clock)
    for _ in range(1000):
        pacing.wait()
        pacing.recover()
    assert clock.slept == [] and pacing.rate is None


def test_plus5_throttling_slows_down_once_per_burst_and_pauses_50_ms():
    clock = Clock()
    pacing = limiter(100.0, clock)
    pacing.throttled(observed=0.0)
    pacing.throttled(observed=0.0)  # the same burst of refusals: one slow-down
    assert pacing.rate == pytest.approx(90.0)
    clock.now += 0.21
    pacing.throttled(observed=0.0)
    assert pacing.rate == pytest.approx(81.0)
    started = clock.now
    pacing.wait()
    assert clock.now == pytest.approx(started + 0.05)


def test_plus5_a_throttle_at_clock_zero_still_counts():
    clock = Clock(now=0.0)
    pacing = limiter(100.0, clock)
    pacing.throttled(observed=0.0)
    assert pacing.rate == pytest.approx(90.0)
    clock.now = 0.31
    pacing.recover()
    assert pacing.rate == pytest.approx(94.5)


def test_plus5_unpaced_sender_slows_from_the_rate_it_observed():
    clock = Clock()
    pacing = limiter(None, clock)
    pacing.throttled(observed=2000.0)
    assert pacing.rate == pytest.approx(1800.0)
    clock.now += 0.31
    pacing.recover()
    assert pacing.rate == pytest.approx(1890.0)  # no ceiling: 5% per part until throttled again


def test_plus5_recovery_waits_300_ms_then_climbs_back_to_the_ceiling():
    clock = Clock()
    pacing = limiter(100.0, clock)
    pacing.throttled(observed=0.0)
    clock.now += 0.2
    pacing.recover()
    assert pacing.rate == pytest.approx(90.0)  # too soon after the throttling answer
    clock.now += 0.11
    rates = []
    for _ in range(4):
        pacing.recover()
        rates.append(pacing.rate)
    assert rates == pytest.approx([94.5, 99.225, 100.0, 100.0])


def refuse(budget: ErrorBudget, count: int, status: int = P.ESME_RINVDSTADR) -> None:
    for _ in range(count):
        budget.refused(status)


def accept(budget: ErrorBudget, count: int) -> None:
    for _ in range(count):
        budget.accepted()


def test_plus5_error_budget_waits_for_100_answers_before_judging():
    budget = ErrorBudget(0.05, window=1000)
    refuse(budget, 99)
    budget.check()  # 99 refusals of 99: too few answers to judge
    budget.refused(P.ESME_RINVDSTADR)
    with pytest.raises(DispatchPaused):
        budget.check()


def test_plus5_error_budget_pauses_over_the_share_and_names_the_codes():
    budget = ErrorBudget(0.05, window=1000)
    accept(budget, 94)
    refuse(budget, 4, P.ESME_RINVDSTADR)
    refuse(budget, 2, P.ESME_RSUBMITFAIL)
    with pytest.raises(DispatchPaused, match=r"6 of the last 100 submits were refused \(6\.0% > 5%; "
                                             r"codes 0x0B×4, 0x45×2\).*\[PLUS-5\]"):
        budget.check()


def test_plus5_error_budget_at_the_share_does_not_pause():
    budget = ErrorBudget(0.05, window=1000)
    accept(budget, 95)
    refuse(budget, 5)
    budget.check()


def test_plus5_error_budget_looks_at_the_last_window_only():
    budget = ErrorBudget(0.05, window=100)
    refuse(budget, 50)
    accept(budget, 100)  # the refusals slid out of the window
    budget.check()
    refuse(budget, 6)
    with pytest.raises(DispatchPaused, match="6 of the last 100"):
        budget.check()
