"""SEND-2 said in one line where a campaign is planned (pipelines/plan/summary.py: send_window_line)."""

from __future__ import annotations

from datetime import datetime

from helpers import write_list, write_spec

from pipelines.campaign import send_target
from pipelines.plan import plan_file
from pipelines.spec import PARIS, load_spec

SUNDAY_EVENING = datetime(2026, 11, 29, 21, 0, tzinfo=PARIS)


def _planned(bucket, **spec):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n+262692123456;Léo\n")
    path = write_spec(bucket, lists=["a.csv"], **spec)
    return load_spec(path), plan_file(path, bucket / "plan", check_send_at=False)


def test_send2_marketing_says_its_narrowed_window_and_the_next_opening_in_paris_time(bucket):
    from pipelines.plan.summary import send_window_line

    spec, result = _planned(bucket, type="marketing", message="Promo STOP 36184",
                            account={"send_window": "charter-2024", "allowed_countries": ["FR", "RE"]})
    opening = send_target(spec, SUNDAY_EVENING, result.out_dir)  # Réunion's Monday 08:00 comes first (PLUS-10)
    assert send_window_line(result.plan_summary, opening, SUNDAY_EVENING) == (
        "Marketing: sent Mon–Sat 08:00–22:00, not on public holidays, in each recipient's own time (SEND-2); "
        "next opening: Monday 30/11 05:00 Paris")
    assert send_window_line(result.plan_summary, opening, opening).endswith("(SEND-2); open now")


def test_send2_a_notification_is_not_held_to_the_window_and_says_its_send_time(bucket):
    from pipelines.plan.summary import send_window_line

    spec, result = _planned(bucket, send_at="2026-12-01T10:00:00+01:00")
    assert send_window_line(result.plan_summary, send_target(spec, SUNDAY_EVENING, result.out_dir),
                            SUNDAY_EVENING) == ("Notification: sent at any hour, the marketing window does not "
                                                "apply (SEND-2); sends from Tuesday 01/12 10:00 Paris")
