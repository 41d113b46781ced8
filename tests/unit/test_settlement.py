"""SEND-8: every way a campaign run ends settles its credits (what was sent stays spent, the rest comes back), and
SEND-5: a reservation short of credits cuts the plan (status 8), on SQLite and PostgreSQL stores.

The send ledger is written as a sender writes it (`dispatch.Ledger`), for the parts each test says were sent.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from helpers import write_list, write_spec

from pipelines.campaign import WAREHOUSE, cancel_step, finish_step, reserve_step, run_note, settle_run, settle_step
from pipelines.layout import CampaignPaths, read_summary
from pipelines.settlement import sent_parts
from pipelines.status import NO_CREDIT
from pipelines.store import open_store
from pipelines.store.credits import balance, history, reservation, top_up

LONG = "x" * 200  # two GSM-7 parts
ROWS = [("0611111111", "Bonjour"), ("0622222222", LONG), ("0633333333", "Salut"), ("0644444444", "Coucou")]  # 5


@pytest.fixture
def engine(store_url, monkeypatch):
    """The store every campaign step opens (SMSFLOW_DB), with 100 credits on the default account."""
    monkeypatch.setenv("SMSFLOW_DB", store_url)
    engine = open_store(store_url)
    top_up(engine, "default", 100)
    return engine


def planned(bucket: Path, campaign: str, rows=ROWS) -> Path:
    from pipelines.plan import plan_file
    from pipelines.warehouse import load_plan

    folder = bucket / "specs" / campaign
    write_list(folder / "list.csv", "Mobile;Texte\n" + "".join(f"{m};{t}\n" for m, t in rows))
    plan_dir = plan_file(write_spec(folder, lists=["list.csv"], message="${Texte}"),
                         CampaignPaths.in_bucket(bucket, campaign).plan).out_dir
    load_plan(bucket / WAREHOUSE, campaign, plan_dir)  # the bucket's lake, as the DAG's plan step
    return plan_dir


def send(bucket: Path, campaign: str, outcomes: list[str | None]) -> None:
    """The ledger of a sender that reached the first parts: each outcome in part order (accepted, refused, none =
    on the wire, no answer); parts past the list were never sent."""
    from pipelines.dispatch.ledger import Ledger
    from pipelines.dispatch.parts import build_parts, sendable_rows

    paths = CampaignPaths.in_bucket(bucket, campaign)
    parts = build_parts(sendable_rows(paths.plan), campaign)[:len(outcomes)]
    ledger = Ledger(paths.ledger, "test", 1)
    ledger.intents([part.key for part in parts])
    for part, outcome in zip(parts, outcomes, strict=True):
        ledger.sent(part.key)
        if outcome is not None:
            ledger.outcome(part.key, 0 if outcome == "accepted" else 0x58, f"id-{part.order}")
    ledger.close()


def test_send8_finished_the_parts_sent_stay_spent(bucket, engine):
    plan_dir = planned(bucket, "c1")
    assert reserve_step(bucket, "c1", "default", plan_dir)["held"] == 5
    send(bucket, "c1", ["accepted"] * 5)
    result = finish_step(bucket, "c1", "default")
    assert (result["sent_parts"], result["credits_back"]) == (5, 0)
    assert balance(engine) == 95
    assert run_note("finished", parts=5, delivered=0) == "Sent: 5 parts accepted, 0 delivered"
    figures = result["figures"]  # REP-1 on the run's page: its note and its report's asset event
    assert figures["credits"] == 5 and figures["failed"] == 0 and figures["sent"] >= 1
    note = run_note("finished", parts=5, delivered=figures["delivered"], figures=figures, report="campaigns/c1/r.csv")
    assert note.startswith(f"Sent: 5 parts accepted to {figures['sent']} recipients, 0 delivered, 0 failed, ")
    assert note.endswith("0 STOP replies, 5 credits used; report: campaigns/c1/r.csv")


def test_send8_finished_with_refused_parts_gives_them_back(bucket, engine):
    plan_dir = planned(bucket, "c1")
    reserve_step(bucket, "c1", "default", plan_dir)
    send(bucket, "c1", ["accepted", "accepted", "accepted", "refused", "accepted"])
    assert finish_step(bucket, "c1", "default")["credits_back"] == 1
    assert balance(engine) == 96


def test_send8_failed_after_a_partial_send_gives_back_only_unsent_parts_and_says_what_was_sent(bucket, engine):
    plan_dir = planned(bucket, "c1")
    reserve_step(bucket, "c1", "default", plan_dir)
    send(bucket, "c1", ["accepted", "accepted", None])  # the third on the wire, unanswered: maybe at the SMSC
    assert sent_parts(CampaignPaths.in_bucket(bucket, "c1").ledger) == 3
    settled = cancel_step(bucket, "c1", "default", "failed at dispatch")
    assert settled == {"sent_parts": 3, "credits_back": 2}
    assert balance(engine) == 97
    note = run_note("failed", reason="failed at dispatch", credits_back=2, sent=3)
    assert note == "Failed, cancelled: failed at dispatch; 3 parts sent stay spent, 2 credits given back"
    assert "nothing" not in note


def test_send8_cancelled_while_scheduled_gives_everything_back(bucket, engine):
    plan_dir = planned(bucket, "c1")
    reserve_step(bucket, "c1", "default", plan_dir)
    assert balance(engine) == 95
    assert cancel_step(bucket, "c1", "default", "cancelled by admin") == {"sent_parts": 0, "credits_back": 5}
    assert balance(engine) == 100
    assert "nothing sent after the test" in run_note("cancelled", reason="cancelled by admin", credits_back=5)


def test_send8_timed_out_at_approval_gives_everything_back(bucket, engine):
    plan_dir = planned(bucket, "c1")
    reserve_step(bucket, "c1", "default", plan_dir)
    assert cancel_step(bucket, "c1", "default", "failed at approve (no answer in 24 h)")["credits_back"] == 5
    assert history(engine, campaign_id="c1")[-1]["reason"].startswith("cancelled: failed at approve (no answer")


def test_send8_cancelled_while_running_stops_between_batches_and_gives_back_the_unsent(bucket, engine):
    """The first batch (rows 1-2: 3 parts) went out, the cancel stopped the next one: whichever task ends the run
    (finish, or close), the 2 unsent parts come back, once."""
    plan_dir = planned(bucket, "c1")
    reserve_step(bucket, "c1", "default", plan_dir)
    send(bucket, "c1", ["accepted"] * 3)
    assert finish_step(bucket, "c1", "default")["credits_back"] == 2
    assert cancel_step(bucket, "c1", "default", "cancelled by admin")["credits_back"] == 0  # settled once
    assert balance(engine) == 97


def test_send8_a_run_marked_failed_by_hand_is_settled_by_the_next_reservation(bucket, engine):
    """Marking a waiting run failed skips `close`: its reservation stays held until the next reservation asks
    Airflow which runs ended (the DAG's reserve_credits) and settles them."""
    reserve_step(bucket, "waiting", "default", planned(bucket, "waiting"), run_id="manual__waiting")
    reserve_step(bucket, "running", "default", planned(bucket, "running"), run_id="manual__running")
    assert balance(engine) == 90
    states = {"manual__waiting": "failed", "manual__running": "running"}
    reserve_step(bucket, "next", "default", planned(bucket, "next"), run_id="manual__next",
                 ended=lambda held: states.get(held["run_id"]) in ("success", "failed"))
    assert reservation(engine, "waiting")["given_back"] == 5
    assert reservation(engine, "running")["settled_at"] is None
    assert balance(engine) == 90  # 5 back from the failed run, 5 held by the next


def test_send8_the_dags_failure_callback_settles_the_runs_reservation_once(bucket, engine):
    reserve_step(bucket, "c1", "default", planned(bucket, "c1"), run_id="manual__1")
    send(bucket, "c1", ["accepted"])
    assert settle_run(bucket, "manual__1", "run failed") == {"c1": 4}
    assert settle_run(bucket, "manual__1", "run failed") == {}
    assert settle_step(bucket, "c1", "close")["credits_back"] == 0
    assert balance(engine) == 99


def test_send5_a_reservation_short_of_credits_cuts_the_plan_to_whole_messages_in_list_order(bucket, engine):
    from pipelines.dispatch.parts import batch_count, sendable_rows
    from pipelines.store.credits import reserve

    reserve(engine, "default", "other", 97)  # another campaign reserved first: 3 credits left
    plan_dir = planned(bucket, "c1")
    reserved = reserve_step(bucket, "c1", "default", plan_dir)
    assert reserved == {"held": 3, "short": 2, "cut": 2, "limited": True}  # 1 + 2 parts fit; the rest: status 8
    plan = pl.read_parquet(CampaignPaths.of_plan(plan_dir).recipients)
    assert plan.get_column("STATUS_CODE").to_list() == [None, None, NO_CREDIT, NO_CREDIT]
    assert plan.get_column("STATUS_TEXT").to_list()[2] == plan.get_column("STATUS_TEXT").to_list()[3] is not None
    assert sendable_rows(plan_dir).height == 2 and batch_count(plan_dir, 1) == 2
    summary = read_summary(plan_dir)
    assert (summary.sendable, summary.credits, summary.credits_available) == (2, 3, 3)
    assert summary.status_counts == {"0": 2, str(NO_CREDIT): 2} and summary.parts == {"1": 1, "2": 1}
    # A retried task: the same reservation, the plan already cut asks no more.
    assert reserve_step(bucket, "c1", "default", plan_dir) == {"held": 3, "short": 0, "cut": 0, "limited": True}
    assert balance(engine) == 0
