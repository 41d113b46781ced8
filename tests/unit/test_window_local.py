"""PLUS-10 (with SEND-2, PLUS-9): the send window judged in a recipient's place: its zone and its holidays."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pipelines.window import (METROPOLE, PARIS, Place, closing_time, earliest_opening, is_holiday, is_open,
                              next_opening, policy)

SEED = policy("seed")
REUNION, TAHITI = Place("Indian/Reunion", "974"), Place("Pacific/Tahiti", "PF")
MARTINIQUE = Place("America/Martinique", "972")


def at(text: str, zone: str = "Europe/Paris") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def test_plus10_the_window_is_judged_in_the_recipients_zone():
    morning = at("2026-11-24T10:00")  # Tuesday: 13:00 in Réunion, Monday 23:00 in Tahiti
    assert is_open(SEED, morning) and is_open(SEED, morning, METROPOLE)
    assert is_open(SEED, morning, REUNION)
    assert not is_open(SEED, morning, TAHITI)
    assert is_open(SEED, morning, "Europe/Paris")  # a zone name is a place too


def test_plus10_next_opening_and_closing_time_are_the_places_own():
    morning = at("2026-11-24T10:00")
    assert next_opening(SEED, morning, TAHITI) == at("2026-11-24T08:00", "Pacific/Tahiti")
    assert next_opening(SEED, morning, TAHITI) == at("2026-11-24T19:00")
    assert closing_time(SEED, morning, REUNION) == at("2026-11-24T17:00")  # 20:00 in Réunion (PLUS-9)
    assert closing_time(SEED, morning, REUNION).tzinfo == ZoneInfo("Indian/Reunion")
    # Saturday 20:00 in Tahiti is Sunday 07:00 in Paris: Tahiti opens again on Monday 08:00, its own time
    assert next_opening(SEED, at("2026-11-28T20:00", "Pacific/Tahiti"), TAHITI) == \
        at("2026-11-30T08:00", "Pacific/Tahiti")
    with pytest.raises(ValueError, match="Pacific/Tahiti"):
        closing_time(SEED, morning, TAHITI)


def test_plus10_overseas_holidays_close_the_window_there_only():
    # 22 May 2026 (a Friday): abolition of slavery in Martinique; 20 December 2027 (a Monday): in Réunion
    assert is_holiday(at("2026-05-22T10:00").date(), MARTINIQUE) and not is_holiday(at("2026-05-22T10:00").date())
    assert not is_open(SEED, at("2026-05-22T10:00", "America/Martinique"), MARTINIQUE)
    assert is_open(SEED, at("2026-05-22T10:00"), METROPOLE)
    assert not is_open(SEED, at("2027-12-20T10:00", "Indian/Reunion"), REUNION)
    assert next_opening(SEED, at("2027-12-20T10:00", "Indian/Reunion"), REUNION) == \
        at("2027-12-21T08:00", "Indian/Reunion")
    assert is_open(SEED, at("2027-12-20T10:00"))
    # national holidays hold everywhere: 14 July in Tahiti
    assert not is_open(SEED, at("2026-07-14T10:00", "Pacific/Tahiti"), TAHITI)
    assert Place.of_zone("America/Martinique") == MARTINIQUE and Place.of_zone("Europe/Berlin").holidays is None


def test_plus10_earliest_opening_is_the_first_place_to_open_in_paris_time():
    night = at("2026-11-24T21:00")  # closed in Paris (until 08:00) and Réunion (05:00 Paris); Tahiti: 10:00
    assert earliest_opening(SEED, [METROPOLE, REUNION, TAHITI], night) == night
    assert earliest_opening(SEED, [METROPOLE, REUNION], night) == at("2026-11-25T05:00")
    assert earliest_opening(SEED, [METROPOLE, REUNION], night).tzinfo == PARIS
    assert earliest_opening(SEED, ["Europe/Paris"], night) == at("2026-11-25T08:00")
    assert earliest_opening(SEED, [], night) == at("2026-11-25T08:00")  # no place: metropolitan France
