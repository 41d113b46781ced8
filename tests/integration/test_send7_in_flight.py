"""SEND-7: parts in flight when a sender is killed follow the campaign's policy (hold or resend).

The simulator is frozen (SIGSTOP) while the sender fills its window, so exactly `window` parts are written and
unanswered when the sender is killed (SIGKILL); the simulator then takes them (SIGCONT) and, with `receipts:
stored`, keeps their receipts for the next bind, or with `receipts: session` loses them with the dead session.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from helpers import make_plan, mobiles, smsflow, start_smsflow, wait_until

from pipelines.dispatch import SmscSettings, campaign_dirs, ledger_state, send_plan
from pipelines.dlr import read_events, recipient_statuses

WINDOW = 16
ROWS = 400


def _ledger_events(plan_dir: Path) -> Counter:
    ledger_dir, _ = campaign_dirs(plan_dir)
    counts = Counter()
    for path in ledger_dir.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                counts[json.loads(line)["event"]] += 1
            except json.JSONDecodeError:
                pass
    return counts


def _kill_with_a_full_window_in_flight(simulator, plan_dir: Path) -> None:
    """Start a send, freeze the SMSC mid-send, kill the sender once its whole window is unanswered."""
    sender = start_smsflow("send", str(plan_dir), "--smsc", simulator.url(), "--tps", "400", "--window", str(WINDOW))
    try:
        wait_until(lambda: len(simulator.records("part")) >= 100, what="the send to be under way")
        os.kill(simulator.process.pid, signal.SIGSTOP)
        wait_until(lambda: (lambda c: c["sent"] - c["accepted"] == WINDOW)(_ledger_events(plan_dir)),
                    what="a full window in flight")
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait()
    finally:
        os.kill(simulator.process.pid, signal.SIGCONT)
    written = _ledger_events(plan_dir)["sent"]
    wait_until(lambda: len(simulator.records("part")) == written, what="the SMSC to take the written parts")


def _copies(simulator) -> Counter:
    return Counter(p["destination"] for p in simulator.records("part"))


@pytest.mark.parametrize("receipts", ["stored", "session"])
@pytest.mark.parametrize("policy", ["hold", "resend"])
def test_send7_parts_in_flight_at_a_kill_follow_the_policy(smsc, bucket, receipts, policy):
    simulator = smsc(receipt_delay=0.05, receipts=receipts)
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(ROWS))])
    _kill_with_a_full_window_in_flight(simulator, plan_dir)
    grace = 30.0 if receipts == "stored" else 1.0  # session: the receipts died with the killed sender
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(ambiguous_grace=grace)), in_flight=policy)
    copies = _copies(simulator)
    assert len(copies) == ROWS  # nobody is missing: the parts in flight had reached the SMSC
    duplicates = sum(count - 1 for count in copies.values())
    if receipts == "stored":  # every part in flight is proven taken by its stored receipt: neither held nor resent
        assert (report.confirmed_by_receipt, report.held, report.resent, duplicates) == (WINDOW, 0, 0, 0)
    elif policy == "hold":  # at most once: no proof, not sent again
        assert (report.confirmed_by_receipt, report.held, report.resent, duplicates) == (0, WINDOW, 0, 0)
    else:  # at least once: sent again, the duplicates are the window in flight
        assert (report.confirmed_by_receipt, report.held, report.resent, duplicates) == (0, 0, WINDOW, WINDOW)
    outcomes = Counter(ledger_state(campaign_dirs(plan_dir)[0]).get_column("outcome").to_list())
    assert outcomes == Counter({"accepted": ROWS - report.held, **({"held": report.held} if report.held else {})})


def test_send7_held_parts_show_as_held_and_an_operator_may_release_them(smsc, bucket):
    from pipelines.warehouse import load_dispatch, load_plan

    simulator = smsc(receipt_delay=0.05, receipts="session")
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(ROWS))])
    _kill_with_a_full_window_in_flight(simulator, plan_dir)
    settings = SmscSettings.from_url(simulator.url(ambiguous_grace=0.5))
    first = send_plan(plan_dir, settings, in_flight="hold")
    assert first.held == WINDOW
    again = smsflow("send", str(plan_dir), "--smsc", simulator.url(ambiguous_grace=0.5), "--in-flight", "hold")
    assert again.returncode == 0, again.stderr  # still held, nothing sent; the operator is told how to release
    said = " ".join(again.stderr.split())
    assert "0 parts accepted" in said and f"{WINDOW} in flight and held" in said and "--release-held" in said
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    plan = pl.read_parquet(plan_dir / "recipients.parquet")
    statuses = recipient_statuses(plan, ledger_state(ledger_dir), read_events(events_dir))
    held = statuses.filter(pl.col("HELD"))
    assert held.height == WINDOW and set(held.get_column("STATUS_CODE")) == {1}
    assert set(held.get_column("REASON")) == {"in flight when the sender stopped"}
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", ledger_dir, events_dir)
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        in_sql = connection.execute("SELECT held, held_parts FROM campaign_stats WHERE campaign_id = 'c1'").fetchone()
    assert in_sql == (WINDOW, WINDOW)
    stats = smsflow("stats", "c1", "--db", str(database))
    assert f"{WINDOW} messages held ({WINDOW} parts)" in " ".join(stats.stdout.split()), stats.stdout + stats.stderr
    before = len(simulator.records("part"))
    released = smsflow("send", str(plan_dir), "--smsc", simulator.url(ambiguous_grace=0.5), "--release-held")
    assert released.returncode == 0, released.stderr
    said = " ".join(released.stderr.split())
    assert f"{WINDOW} parts accepted" in said and f"{WINDOW} held and released" in said and "in flight and held" not in said
    assert len(simulator.records("part")) == before + WINDOW
    statuses = recipient_statuses(plan, ledger_state(ledger_dir), read_events(events_dir))
    assert not statuses.get_column("HELD").any()


def test_send7_stats_count_resent_and_held_parts(smsc, bucket):
    from pipelines.warehouse import load_dispatch, load_plan

    simulator = smsc(receipt_delay=0.05, receipts="session")  # no stored receipt proves the window taken
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(ROWS))])
    _kill_with_a_full_window_in_flight(simulator, plan_dir)
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(ambiguous_grace=0.5)), in_flight="resend")
    assert (report.resent, report.held) == (WINDOW, 0)
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", ledger_dir, events_dir)
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        in_sql = connection.execute("SELECT resent_parts, held_parts, held FROM campaign_stats "
                                    "WHERE campaign_id = 'c1'").fetchone()
    assert in_sql == (report.resent, 0, 0)
    stats = smsflow("stats", "c1", "--db", str(database))
    said = " ".join(stats.stdout.split())
    assert f"{report.resent} parts resent (in flight when a sender stopped, SEND-7)" in said, said + stats.stderr
    assert "messages held" not in said


def test_send7_the_spec_option_reaches_the_plan_summary_and_the_send(smsc, bucket):
    simulator = smsc()
    plan_dir = make_plan(bucket, [("0611111111", "Bonjour")], options={"in_flight": "hold"})
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["campaign"]["in_flight"] == "hold"
    from pipelines.dispatch import in_flight_policy

    assert in_flight_policy(summary["campaign"]["type"], summary["campaign"]["in_flight"]) == "hold"
    assert send_plan(plan_dir, SmscSettings.from_url(simulator.url())).accepted == 1
