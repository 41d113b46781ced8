"""SEND-2: the legal send window, its dated policies and French public holidays."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.window import PARIS, WindowError, check_send_at, closing_time, is_open, next_opening, policy


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


@pytest.mark.parametrize("moment, expected", [
    ("2026-11-29T10:00", "2026-11-30T08:00"),  # Sunday → Monday 08:00
    ("2026-07-14T10:00", "2026-07-15T08:00"),  # 14 July → the next morning
    ("2026-11-28T20:00", "2026-11-30T08:00"),  # Saturday 20:00 → Monday 08:00
    ("2027-03-27T20:00", "2027-03-30T08:00"),  # Saturday 20:00 before Easter Monday → Tuesday 08:00
    ("2026-11-24T07:59", "2026-11-24T08:00"),  # before opening → same day 08:00
    ("2026-11-24T19:59", "2026-11-24T19:59"),  # open: now
    ("2026-12-24T20:00", "2026-12-26T08:00"),  # Christmas Eve evening → Saturday 26th
])
def test_send2_seed_policy_next_opening(moment, expected):
    assert next_opening(policy("seed"), paris(moment)) == paris(expected)


@pytest.mark.parametrize("name, moment, open_", [
    ("seed", "2026-11-24T20:00", False), ("charter-2024", "2026-11-24T21:59", True),
    ("charter-2024", "2026-11-24T22:00", False), ("charter-2026", "2026-11-24T21:29", True),
    ("charter-2026", "2026-11-24T21:30", False), ("charter-2026", "2026-02-27T21:45", True),  # before 2026-03-01
    ("charter-2024", "2026-11-29T10:00", False), ("charter-2026", "2026-11-28T10:00", True),  # Sunday / Saturday
    ("charter-2024", "2026-05-01T10:00", False),  # public holiday
])
def test_send2_each_policy_hours(name, moment, open_):
    assert is_open(policy(name), paris(moment)) is open_


def test_send2_window_in_utc_is_judged_in_paris_time():
    assert is_open(policy("seed"), datetime.fromisoformat("2026-07-15T06:30:00+00:00"))  # 08:30 Paris (CEST)
    assert not is_open(policy("seed"), datetime.fromisoformat("2026-12-15T06:30:00+00:00"))  # 07:30 Paris (CET)


def test_send2_schedule_outside_the_window_refused_with_next_allowed_time():
    with pytest.raises(WindowError) as error:
        check_send_at(policy("seed"), paris("2026-11-29T11:00"))
    assert error.value.allowed == paris("2026-11-30T08:00")
    assert "lundi" in str(error.value).lower() or "Monday 30/11/2026 08:00" in str(error.value)
    check_send_at(policy("seed"), paris("2026-11-30T08:00"))


def test_plus9_closing_time_is_the_end_of_the_current_window():
    assert closing_time(policy("charter-2026"), paris("2026-11-24T15:00")) == paris("2026-11-24T21:30")
    with pytest.raises(ValueError):
        closing_time(policy("seed"), paris("2026-11-24T21:00"))


def test_send2_unknown_policy():
    with pytest.raises(ValueError, match="seed, charter-2024, charter-2026"):
        policy("night")
