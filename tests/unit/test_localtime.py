"""PLUS-10: each recipient's place (time zone, French holidays) from its number, phonenumbers first."""

from __future__ import annotations

import polars as pl
import pytest
from helpers import make_plan

from pipelines.localtime import (REGION_ZONES, describe_fallbacks, fallbacks, place_of_number, plan_places,
                                 with_places)
from pipelines.window import Place


@pytest.mark.parametrize("number, zone, holidays", [
    ("+590690001234", "America/Guadeloupe", "971"), ("+596696201234", "America/Martinique", "972"),
    ("+594694201234", "America/Cayenne", "973"), ("+508551234", "America/Miquelon", "PM"),
    ("+681821234", "Pacific/Wallis", "WF"), ("+687751234", "Pacific/Noumea", "NC"),
    ("+262262123456", "Indian/Reunion", "974"),  # a Réunion landline: phonenumbers names one zone
    ("+33612345678", "Europe/Paris", None), ("+32470123456", "Europe/Brussels", None),
])
def test_plus10_a_number_phonenumbers_gives_one_zone_is_judged_in_it(number, zone, holidays):
    assert place_of_number(number) == (zone, holidays, "phonenumbers")


@pytest.mark.parametrize("number, zone, holidays", [
    ("+262692123456", "Indian/Reunion", "974"),  # a Réunion mobile: 'Indian/Mayotte' or 'Indian/Reunion'
    ("+262639012345", "Indian/Mayotte", "976"),  # a Mayotte mobile: the same two zones, Mayotte's region
    ("+68987123456", "Pacific/Tahiti", "PF"),  # Polynesia: Gambier, Marquesas or Tahiti
    ("+262639123456", "Indian/Reunion", "974"),  # 'Etc/Unknown' and no region: the country code's (+262: RE)
])
def test_plus10_several_zones_or_etc_unknown_fall_back_to_the_regions_zone(number, zone, holidays):
    assert place_of_number(number) == (zone, holidays, "region")


def test_plus10_a_number_with_no_zone_stays_in_paris_and_is_counted():
    assert place_of_number("+14155552671")[2] == "phonenumbers"  # one zone: America/Los_Angeles
    assert place_of_number("+999123") == ("Europe/Paris", None, "default")
    assert place_of_number("not a number") == ("Europe/Paris", None, "default")


def test_plus10_every_overseas_region_has_a_fallback_zone_that_exists():
    from zoneinfo import ZoneInfo

    assert {"RE", "YT", "GP", "BL", "MF", "MQ", "GF", "PM", "WF", "NC", "PF"} <= set(REGION_ZONES)
    for zone in REGION_ZONES.values():
        ZoneInfo(zone)


def test_plus10_places_are_joined_onto_the_rows_in_order_duplicates_and_nulls_kept():
    numbers = ["+33611111111", "+262692123456", None, "+68987123456", "+33622222222", "+262692123456",
               "+590690001234", "+999123"]
    rows = pl.DataFrame({"INT_MOBILE": numbers, "ID_LINE": range(len(numbers))})
    placed = with_places(rows)
    assert placed.get_column("ID_LINE").to_list() == list(range(len(numbers)))
    assert placed.get_column("ZONE").to_list() == [
        "Europe/Paris", "Indian/Reunion", "Europe/Paris", "Pacific/Tahiti", "Europe/Paris", "Indian/Reunion",
        "America/Guadeloupe", "Europe/Paris"]
    assert placed.get_column("HOLIDAYS").to_list() == [None, "974", None, "PF", None, "974", "971", None]
    assert placed.get_column("ZONE_SOURCE").to_list() == [
        "phonenumbers", "region", "default", "region", "phonenumbers", "region", "phonenumbers", "default"]
    assert with_places(placed).columns == placed.columns  # placing twice replaces, never duplicates


def test_plus10_fallbacks_are_counted_per_zone_and_said_in_one_line():
    placed = with_places(pl.DataFrame({"INT_MOBILE": ["+262692123456", "+262692123457", "+68987123456",
                                                      "+33611111111", "+999123"]}))
    counts = fallbacks(placed)
    assert counts == {"Indian/Reunion (by region)": 2, "Pacific/Tahiti (by region)": 1,
                      "Europe/Paris (no zone known)": 1}
    line = describe_fallbacks(counts)
    assert line.startswith("4 recipients' time zone") and "2 in Indian/Reunion (by region)" in line
    assert line.endswith("[PLUS-10]")
    assert fallbacks(with_places(pl.DataFrame({"INT_MOBILE": ["+33611111111"]}))) == {}


def test_plus10_plan_places_counts_the_sendable_recipients_of_each_place(bucket):
    rows = [("0611111111", "a"), ("0622222222", "b"), ("+262692123456", "c"), ("+68987123456", "d"),
            ("+590690001234", "e")]  # Guadeloupe is not allowed: not sendable, not counted
    plan_dir = make_plan(bucket, rows, account={"allowed_countries": ["FR", "RE", "PF"]})
    assert plan_places(plan_dir) == {Place(): 2, Place("Indian/Reunion", "974"): 1,
                                     Place("Pacific/Tahiti", "PF"): 1}
