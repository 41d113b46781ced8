"""The legal send window (SEND-2, PLUS-9, PLUS-10): dated policies, in the recipient's local time, French holidays.

Marketing campaigns are only sent inside the window of the account's policy; notification (transactional)
campaigns are not bound by it. Policies:

- `seed` (the default, the hosted product's rule): Monday to Saturday, 08:00-20:00, never on a public holiday;
- `charter-2024`: the operators' Business Messaging charter (af2m, in force since 2024-09-01): working days
  ("jours ouvrables": Monday to Saturday but public holidays), 08:00-22:00;
- `charter-2026`: the same days, 08:00-21:30, from 2026-03-01 (before that date, the 2024 hours apply).

The window is judged in a `Place`'s time zone (PLUS-10: `pipelines.localtime` finds each recipient's;
Europe/Paris when none is given). Public holidays are France's from the `holidays` package: metropolitan
France's, plus the local ones of an overseas place (its `holidays` subdivision of France: 971 Guadeloupe,
972 Martinique, 973 Guyane, 974 Réunion, 976 Mayotte, BL, MF, NC, PF, PM, WF, TF).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

# The French holidays of a time zone named alone (a `holidays` subdivision of France); a zone not listed keeps
# metropolitan France's. `pipelines.localtime` picks the subdivision from the number's region when it knows it
# (St-Martin and St-Barthélemy share Guadeloupe's zone, not its holidays).
ZONE_HOLIDAYS = {
    "America/Guadeloupe": "971", "America/Martinique": "972", "America/Cayenne": "973", "Indian/Reunion": "974",
    "Indian/Mayotte": "976", "America/St_Barthelemy": "BL", "America/Marigot": "MF", "Pacific/Noumea": "NC",
    "Pacific/Tahiti": "PF", "Pacific/Marquesas": "PF", "Pacific/Gambier": "PF", "America/Miquelon": "PM",
    "Pacific/Wallis": "WF", "Indian/Kerguelen": "TF",
}


@dataclass(frozen=True)
class Place:
    """Where a recipient's window is judged (PLUS-10): a time zone, and the French public holidays there (a
    `holidays` subdivision of France for an overseas place; None: metropolitan France's)."""

    zone: str = "Europe/Paris"
    holidays: str | None = None

    @classmethod
    def of_zone(cls, zone: str) -> Place:
        """A place known by its time zone only: the holidays of that zone's overseas territory, if any."""
        return cls(zone, ZONE_HOLIDAYS.get(zone))

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.zone)

    def __str__(self) -> str:
        return self.zone if self.holidays is None else f"{self.zone} (holidays of {self.holidays})"


METROPOLE = Place()


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _place(where: Place | str | None) -> Place:
    if where is None:
        return METROPOLE
    return Place.of_zone(where) if isinstance(where, str) else where


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


@lru_cache(maxsize=256)
def _holidays(year: int, subdivision: str | None = None) -> frozenset[date]:
    import holidays

    return frozenset(holidays.France(years=year, subdiv=subdivision))


def is_holiday(day: date, where: Place | str | None = None) -> bool:
    """A French public holiday at `where` (metropolitan France when None)."""
    return day in _holidays(day.year, _place(where).holidays)


def policy(name: str = "seed") -> WindowPolicy:
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown send-window policy {name!r}; choose one of {', '.join(POLICIES)}") from None


def _open_day(day: date, rules: WindowPolicy, place: Place) -> Hours | None:
    hours = rules.hours_on(day)
    if day.weekday() not in hours.weekdays or is_holiday(day, place):
        return None
    return hours


def _at(day: date, moment: time, place: Place) -> datetime:
    return datetime.combine(day, moment, tzinfo=place.tz)


def is_open(rules: WindowPolicy, moment: datetime, where: Place | str | None = None) -> bool:
    """The window is open at `moment` for a recipient at `where` (PLUS-10; Europe/Paris when None)."""
    place = _place(where)
    local = moment.astimezone(place.tz)
    hours = _open_day(local.date(), rules, place)
    return hours is not None and hours.opens <= local.time() < hours.closes


def next_opening(rules: WindowPolicy, moment: datetime, where: Place | str | None = None) -> datetime:
    """`moment` itself when the window is open at `where`, else the next time it opens there (in its zone)."""
    place = _place(where)
    local = moment.astimezone(place.tz)
    if is_open(rules, local, place):
        return local
    day = local.date()
    hours = _open_day(day, rules, place)
    if hours is not None and local.time() < hours.opens:
        return _at(day, hours.opens, place)
    for _ in range(370):
        day += timedelta(days=1)
        hours = _open_day(day, rules, place)
        if hours is not None:
            return _at(day, hours.opens, place)
    raise RuntimeError("no opening within a year")  # pragma: no cover - every policy opens weekly


def earliest_opening(rules: WindowPolicy, places: Iterable[Place | str], now: datetime) -> datetime:
    """PLUS-10: the first time, from `now`, the window is open for any of `places` (time zone names or Places;
    `now` itself if it is open for one), in Europe/Paris time. No place: metropolitan France's opening."""
    openings = [next_opening(rules, now, where) for where in set(places)] or [next_opening(rules, now)]
    return min(openings).astimezone(PARIS)


def closing_time(rules: WindowPolicy, moment: datetime, where: Place | str | None = None) -> datetime:
    """When the window that is open at `moment` at `where` closes (PLUS-9: messages expire then)."""
    place = _place(where)
    local = moment.astimezone(place.tz)
    hours = _open_day(local.date(), rules, place)
    if hours is None or not hours.opens <= local.time() < hours.closes:
        raise ValueError(f"the window is closed at {local:%d/%m/%Y %H:%M} ({place})")
    return _at(local.date(), hours.closes, place)


def check_send_at(rules: WindowPolicy, send_at: datetime) -> None:
    """SEND-2: a scheduled marketing send outside the window is refused with the next allowed time."""
    if not is_open(rules, send_at):
        raise WindowError(send_at, next_opening(rules, send_at), rules)
