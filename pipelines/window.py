"""The legal send window (SEND-2, PLUS-9): dated policies, Europe/Paris time, French public holidays.

Marketing campaigns are only sent inside the window of the account's policy; notification (transactional)
campaigns are not bound by it. Policies:

- `seed` (the default, the hosted product's rule): Monday to Saturday, 08:00-20:00, never on a public holiday;
- `charter-2024`: the operators' Business Messaging charter (af2m, in force since 2024-09-01): working days
  ("jours ouvrables": Monday to Saturday but public holidays), 08:00-22:00;
- `charter-2026`: the same days, 08:00-21:30, from 2026-03-01 (before that date, the 2024 hours apply).

Public holidays are France's (metropolitan) from the `holidays` package.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Hours:
    """One period of a policy: the days and hours it allows, from a date on."""

    opens: time
    closes: time
    weekdays: frozenset[int] = frozenset(range(6))  # Monday (0) to Saturday (5)
    since: date = date.min


@dataclass(frozen=True)
class WindowPolicy:
    name: str
    periods: tuple[Hours, ...]  # in date order: the last one whose `since` has come applies
    description: str

    def hours_on(self, day: date) -> Hours:
        applicable = [period for period in self.periods if period.since <= day]
        return applicable[-1]


POLICIES = {
    "seed": WindowPolicy("seed", (Hours(time(8), time(20)),),
                         "Monday to Saturday 08:00-20:00, not on public holidays (default)"),
    "charter-2024": WindowPolicy("charter-2024", (Hours(time(8), time(22)),),
                                 "operators' charter 2024: working days 08:00-22:00"),
    "charter-2026": WindowPolicy("charter-2026", (Hours(time(8), time(22)),
                                                  Hours(time(8), time(21, 30), since=date(2026, 3, 1))),
                                 "operators' charter 2026: working days 08:00-21:30 from 2026-03-01"),
}


class WindowError(ValueError):
    """A send time outside the legal window; names the next allowed time (SEND-2)."""

    def __init__(self, requested: datetime, allowed: datetime, policy: WindowPolicy):
        self.requested, self.allowed, self.policy = requested, allowed, policy
        super().__init__(
            f"send_at {requested.astimezone(PARIS):%A %d/%m/%Y %H:%M} (Europe/Paris) is outside the send window "
            f"({policy.description}); next allowed time: {allowed:%A %d/%m/%Y %H:%M} [SEND-2]")


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.France(years=year))


def is_holiday(day: date) -> bool:
    return day in _holidays(day.year)


def policy(name: str = "seed") -> WindowPolicy:
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown send-window policy {name!r}; choose one of {', '.join(POLICIES)}") from None


def _open_day(day: date, rules: WindowPolicy) -> Hours | None:
    hours = rules.hours_on(day)
    if day.weekday() not in hours.weekdays or is_holiday(day):
        return None
    return hours


def _at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, tzinfo=PARIS)


def is_open(rules: WindowPolicy, moment: datetime) -> bool:
    local = moment.astimezone(PARIS)
    hours = _open_day(local.date(), rules)
    return hours is not None and hours.opens <= local.time() < hours.closes


def next_opening(rules: WindowPolicy, moment: datetime) -> datetime:
    """`moment` itself when the window is open, else the next time it opens (Europe/Paris)."""
    local = moment.astimezone(PARIS)
    if is_open(rules, local):
        return local
    day = local.date()
    hours = _open_day(day, rules)
    if hours is not None and local.time() < hours.opens:
        return _at(day, hours.opens)
    for _ in range(370):
        day += timedelta(days=1)
        hours = _open_day(day, rules)
        if hours is not None:
            return _at(day, hours.opens)
    raise RuntimeError("no opening within a year")  # pragma: no cover - every policy opens weekly


def closing_time(rules: WindowPolicy, moment: datetime) -> datetime:
    """When the window that is open at `moment` closes (PLUS-9: messages expire then)."""
    local = moment.astimezone(PARIS)
    hours = _open_day(local.date(), rules)
    if hours is None or not hours.opens <= local.time() < hours.closes:
        raise ValueError(f"the window is closed at {local:%d/%m/%Y %H:%M}")
    return _at(local.date(), hours.closes)


def check_send_at(rules: WindowPolicy, send_at: datetime) -> None:
    """SEND-2: a scheduled marketing send outside the window is refused with the next allowed time."""
    if not is_open(rules, send_at):
        raise WindowError(send_at, next_opening(rules, send_at), rules)
