"""SEND-2, PLUS-10, ACC-2: when a campaign may start — the account's window as the campaign narrowed it, opening
first in whichever recipients' time zone opens first."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pipelines.campaign import send_target
from pipelines.plan import plan_campaign
from pipelines.spec import validate_spec

PARIS = ZoneInfo("Europe/Paris")


def _plan(tmp_path, numbers: list[str], **account):
    spec = validate_spec({"name": "Soldes", "type": "marketing", "message": "Soldes ! STOP 36184",
                          "recipients": [{"mobile": number} for number in numbers],
                          "account": {"allowed_countries": ["FR", "PF"], **account}}, "spec")
    return spec, plan_campaign(spec, tmp_path, tmp_path / "plan").out_dir


def test_plus10_a_paris_evening_is_a_tahiti_morning_so_the_campaign_starts_now(tmp_path):
    spec, plan_dir = _plan(tmp_path, ["0612345678", "+68987123456"])
    evening = datetime(2026, 11, 24, 21, 0, tzinfo=PARIS)  # Tuesday: Paris closed, Tahiti 10:00
    assert send_target(spec, evening, plan_dir) == evening
    assert send_target(spec, evening) > evening  # without the plan: Paris time only


def test_plus10_metropolitan_recipients_wait_for_the_paris_opening(tmp_path):
    spec, plan_dir = _plan(tmp_path, ["0612345678"])
    evening = datetime(2026, 11, 24, 21, 0, tzinfo=PARIS)
    assert send_target(spec, evening, plan_dir) == datetime(2026, 11, 25, 8, 0, tzinfo=PARIS)


def test_acc2_the_plan_s_narrowed_window_is_the_one_waited_for(tmp_path):
    spec, plan_dir = _plan(tmp_path, ["0612345678"], send_window="charter-2024")
    evening = datetime(2026, 11, 24, 21, 0, tzinfo=PARIS)  # open until 22:00 under the 2024 charter
    assert send_target(spec, evening, plan_dir) == evening
