"""MSG-1, PLUS-9: the fields of a submitted part — source address, validity period (pipelines/dispatch/parts.py)."""

from __future__ import annotations

from pipelines.dispatch import source_address, validity_period


def test_msg1_source_address_ton():
    assert source_address("MABOUTIQUE") == (5, 0, "MABOUTIQUE")
    assert source_address("36184") == (3, 0, "36184")


def test_plus9_validity_period_is_smpp_absolute_time():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    until = datetime(2026, 11, 24, 20, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert validity_period(until) == "261124200000004+"
    assert validity_period(None) == ""
