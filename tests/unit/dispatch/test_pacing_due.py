"""PLUS-5: a bind writes together only the parts whose rate slot is already due (RateLimiter.due)."""

from __future__ import annotations

from pipelines.dispatch.pacing import RateLimiter


def test_plus5_a_part_is_due_at_once_without_a_rate_and_at_its_slot_with_one():
    assert RateLimiter(None).due()
    now = [100.0]
    limiter = RateLimiter(10.0, clock=lambda: now[0], sleep=lambda seconds: now.__setitem__(0, now[0] + seconds))
    assert limiter.due()
    limiter.wait()  # the first part takes the slot: the next is due 0.1 s later
    assert not limiter.due()
    now[0] += 0.1
    assert limiter.due()
