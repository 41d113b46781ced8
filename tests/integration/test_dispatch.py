"""Dispatch over TCP to the simulator process: parts on the wire, ledger, resume after kill -9, throttling."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from helpers import make_plan, mobiles, smsflow, start_smsflow

from pipelines.dispatch import DispatchPaused, SmscSettings, campaign_dirs, ledger_state, send_plan
from pipelines.dlr import keyed_rows, read_events, recipient_statuses, split_part_keys


def assert_every_part_once(simulator, plan_dir: Path) -> None:
    plan = pl.read_parquet(plan_dir / "recipients.parquet").filter(pl.col("STATUS_CODE").is_null())
    parts = simulator.records("part")
    counts = Counter((p["destination"], p["ref"], p["seq"]) for p in parts)
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1][:5]
    assert len(parts) == plan.get_column("PARTS").sum()
    messages = {m["destination"]: m for m in simulator.records("message")}
    expected = {number.lstrip("+"): message for number, message in plan.select("INT_MOBILE", "MESSAGE").iter_rows()}
    assert {d: m["text"] for d, m in messages.items()} == expected


def test_send6_parts_on_the_wire_equal_the_plan_escape_and_surrogate_pairs_at_boundaries(smsc, bucket):
    simulator = smsc()
    gsm_long = "a" * 152 + "€" + ("b" * 151 + "€") * 4 + "c" * 100  # € straddles every 153 boundary: 6 parts
    ucs2_long = "ж" * 66 + "😀" + "ж" * 64 + "😀" + "ж" * 3  # an emoji at each 67 boundary: 66 + 66 + 5 units
    rows = [("0611111111", gsm_long), ("0622222222", ucs2_long), ("0633333333", "Court")]
    plan_dir = make_plan(bucket, rows, options={"ucs2": True, "replace_non_gsm7": False})
    plan = pl.read_parquet(plan_dir / "recipients.parquet")
    assert plan.get_column("PARTS").to_list() == [6, 3, 1]
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url()))
    assert report.accepted == 10
    assert_every_part_once(simulator, plan_dir)
    codings = {p["destination"]: p["data_coding"] for p in simulator.records("part")}
    assert codings == {"33611111111": 0, "33622222222": 8, "33633333333": 0}
    sources = {(p["source"], p["source_ton"]) for p in simulator.records("part")}
    assert sources == {("36184", 3)}  # MSG-1: the short code when no sender is set


def test_enc1_packed_gsm7_reaches_the_handset_exactly(smsc, bucket):
    """An SMSC that takes packed GSM7 (3GPP TS 23.038 §6.1.2.1.1) reads every text back exactly, including
    lengths that leave 7 spare bits (once read as a trailing '@') or none."""
    simulator = smsc(gsm7_packed=True)
    rows = [("0611111111", "abcdefg"), ("0622222222", "x" * 159 + "y"), ("0633333333", "abcdefgh"),
            ("0644444444", "a" * 152 + "€" + "b" * 200)]
    plan_dir = make_plan(bucket, rows)
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(gsm7_packed="true")))
    assert report.accepted == 1 + 1 + 1 + 3
    assert_every_part_once(simulator, plan_dir)


def test_plus1_rerun_skips_what_the_ledger_holds(smsc, bucket):
    simulator = smsc()
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(50))], sender="MABOUTIQUE")
    settings = SmscSettings.from_url(simulator.url())
    assert send_plan(plan_dir, settings).accepted == 50
    again = send_plan(plan_dir, settings)
    assert (again.accepted, again.skipped) == (0, 50)
    assert_every_part_once(simulator, plan_dir)
    assert {(p["source"], p["source_ton"]) for p in simulator.records("part")} == {("MABOUTIQUE", 5)}


def test_plus1_kill_9_at_random_points_then_resume_sends_every_part_exactly_once(smsc, bucket):
    """The send process is killed with SIGKILL several times mid-batch; the re-runs finish the job."""
    simulator = smsc(receipt_delay=0.05)
    rows = [(m, ("Offre spéciale no %d pour vous " % i) * (1 + i % 3)) for i, m in enumerate(mobiles(1500))]
    plan_dir = make_plan(bucket, rows)
    total_parts = pl.read_parquet(plan_dir / "recipients.parquet").get_column("PARTS").sum()
    send = ["send", str(plan_dir), "--smsc", simulator.url(ambiguous_grace=10.0, fsync_group=16), "--tps", "800",
            "--window", "32"]
    rng = random.Random(20261124)
    kills = 0
    for _ in range(4):
        sent_before = len(simulator.records("part"))
        kill_after = rng.randint(20, 600)  # parts into this run: each kill lands at a different point
        process = start_smsflow(*send)
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if len(simulator.records("part")) - sent_before >= kill_after:
                os.kill(process.pid, signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.01)
        process.wait()
    assert kills == 4
    assert 0 < len(simulator.records("part")) < total_parts
    final = smsflow(*send)
    assert final.returncode == 0, final.stderr
    assert_every_part_once(simulator, plan_dir)


def test_plus5_throttled_parts_are_retried_in_order(smsc, bucket):
    """A refused part goes again after the parts already in flight and before every part not sent yet."""
    simulator = smsc(tps_per_bind=200, queue_full={"every": 50, "burst": 3})
    plan_dir = make_plan(bucket, [(m, f"Message {i:04d}") for i, m in enumerate(mobiles(600))])
    window = 16
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(window=window)))
    assert report.accepted == 600 and report.throttled > 0
    order = [int(p["text"].split()[1]) for p in simulator.records("part")]  # plan rows, as the SMSC took them
    throttled = _throttled_rows(plan_dir)
    assert throttled and set(order) == set(range(600))
    retried = [row for row in order if row in throttled]
    never_refused = [row for row in order if row not in throttled]
    assert retried == sorted(retried) and never_refused == sorted(never_refused)  # each in plan order
    for row in retried:  # only the parts already in flight when it was refused (its window) went out before it
        overtaking = [later for later in order[:order.index(row)] if later > row]
        assert len(overtaking) < window and all(later - row < window for later in overtaking), (row, overtaking)
    assert_every_part_once(simulator, plan_dir)


def _throttled_rows(plan_dir: Path) -> set[int]:
    ledger_dir, _ = campaign_dirs(plan_dir)
    lines = [json.loads(line) for path in ledger_dir.glob("*.jsonl") for line in path.read_text().splitlines()]
    keys = [line["key"] for line in lines if line["event"] == "throttled"]
    throttled = split_part_keys(pl.DataFrame({"key": keys}, schema={"key": pl.String}))
    rows = keyed_rows(pl.read_parquet(plan_dir / "recipients.parquet")).select("MESSAGE_KEY", "_plan_row")
    return set(throttled.join(rows, on="MESSAGE_KEY").get_column("_plan_row").to_list())


def test_plus5_error_budget_pauses_the_batch(smsc, bucket):
    simulator = smsc(refuse_prefixes=["336"])
    plan_dir = make_plan(bucket, [(m, "x") for m in mobiles(400)])
    with pytest.raises(DispatchPaused, match="error budget exceeded"):
        send_plan(plan_dir, SmscSettings.from_url(simulator.url(window=8)))
    assert len(simulator.records("part")) == 0
    refused = ledger_state(campaign_dirs(plan_dir)[0]).filter(pl.col("outcome") == "refused")
    assert 100 <= refused.height < 400  # stopped early, not after burning the list


@pytest.mark.parametrize("id_format", ["decimal", "hex"])
def test_plus4_statuses_from_receipts_and_replies(smsc, bucket, id_format):
    simulator = smsc(message_id_format=id_format, rules=[{"value": "22", "outcome": "UNDELIV"},
                                                         {"value": "33", "outcome": "EXPIRED"}],
                     replies=[{"number": "33611111111", "text": " stop ! ", "delay": 0.0},
                              {"number": "33644444444", "text": "Merci", "delay": 0.0}])
    rows = [("0611111111", "A"), ("0611111122", "B" * 200), ("0611111133", "C"), ("0644444444", "D")]
    plan_dir = make_plan(bucket, rows)
    send_plan(plan_dir, SmscSettings.from_url(simulator.url(linger=30.0)))
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    plan = pl.read_parquet(plan_dir / "recipients.parquet")
    statuses = recipient_statuses(plan, ledger_state(ledger_dir), read_events(events_dir))
    assert dict(statuses.select("INT_MOBILE", "STATUS_CODE").iter_rows()) == {
        "+33611111111": 17, "+33611111122": 20, "+33611111133": 22, "+33644444444": 16}
    replies = dict(statuses.select("INT_MOBILE", "REPLY").iter_rows())
    assert replies["+33611111111"] == " stop ! " and replies["+33644444444"] == "Merci"


def test_send6_several_binds_in_parallel_processes_share_the_rows(smsc, bucket):
    simulator = smsc()
    plan_dir = make_plan(bucket, [(m, f"Message {i} " * (1 + i % 2) * 10) for i, m in enumerate(mobiles(300))])
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(binds=2)))
    assert report.accepted == pl.read_parquet(plan_dir / "recipients.parquet").get_column("PARTS").sum()
    assert_every_part_once(simulator, plan_dir)
    assert len(list(campaign_dirs(plan_dir)[0].glob("*bind-1*.jsonl"))) == 1  # each bind keeps its own ledger


class Clock:
    """A clock the test moves: the send window is judged at `moment`."""

    def __init__(self, moment):
        self.moment = moment

    def __call__(self):
        return self.moment


def test_send2_plus9_window_closing_mid_batch_pauses_and_the_rerun_resumes(smsc, bucket):
    from datetime import datetime

    from pipelines.dispatch import WindowClosed, validity_period
    from pipelines.window import PARIS

    simulator = smsc()
    plan_dir = make_plan(bucket, [(m, f"Promo {i}") for i, m in enumerate(mobiles(2000))],
                         type="marketing", message="${Texte} STOP 36184")
    clock = Clock(datetime(2026, 11, 24, 19, 0, tzinfo=PARIS))  # a Tuesday; the seed window closes at 20:00
    closes = datetime(2026, 11, 24, 20, 0, tzinfo=PARIS)

    def progress(count: int) -> None:
        progress.answered += count
        if progress.answered >= 500:
            clock.moment = closes

    progress.answered = 0
    settings = SmscSettings.from_url(simulator.url(window=32))
    with pytest.raises(WindowClosed) as paused:
        send_plan(plan_dir, settings, clock=clock, progress=progress)
    sent = len(simulator.records("part"))
    assert 500 <= sent <= 500 + 32 and paused.value.sent == sent  # what was in flight is answered, no more
    assert paused.value.reopens == datetime(2026, 11, 25, 8, 0, tzinfo=PARIS)
    assert {p["validity_period"] for p in simulator.records("part")} == {validity_period(closes)}  # PLUS-9
    with pytest.raises(WindowClosed):  # still closed: nothing goes out
        send_plan(plan_dir, settings, clock=clock)
    assert len(simulator.records("part")) == sent
    clock.moment = paused.value.reopens
    send_plan(plan_dir, settings, clock=clock)
    assert_every_part_once(simulator, plan_dir)


def test_plus4_warehouse_view_derives_the_same_statuses_from_events(smsc, bucket):
    """The DuckDB view message_status and pipelines.dlr agree, and loads are idempotent (REP-3)."""
    from pipelines.warehouse import campaign_statuses, load_dispatch, load_plan

    simulator = smsc(message_id_format="hex", rules=[{"value": "22", "outcome": "UNDELIV"},
                                                     {"value": "44", "outcome": "NONE"}],
                     replies=[{"number": "33611111111", "text": "Arrêt", "delay": 0.0},
                              {"number": "33633333333", "text": "Merci", "delay": 0.0}])
    rows = [("0611111111", "A"), ("0611111122", "B" * 200), ("0633333333", "C" * 300), ("0611111144", "D")]
    plan_dir = make_plan(bucket, rows)
    send_plan(plan_dir, SmscSettings.from_url(simulator.url(linger=5.0)))  # 44 never gets a receipt: the whole linger
    database = bucket / "warehouse.duckdb"
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    load_plan(database, "c1", plan_dir)
    assert load_dispatch(database, "c1", ledger_dir, events_dir) == load_dispatch(database, "c1", ledger_dir,
                                                                                  events_dir)
    in_sql = {(r[0], r[1]): (r[3], r[5]) for r in campaign_statuses(database, "c1")}
    plan = pl.read_parquet(plan_dir / "recipients.parquet")
    in_polars = {(r["REF_LIST"], r["ID_LINE"]): (r["STATUS_CODE"], r["REPLY"]) for r in recipient_statuses(
        plan, ledger_state(ledger_dir), read_events(events_dir)).iter_rows(named=True)}
    assert in_sql == in_polars
    assert sorted(code for code, _ in in_sql.values()) == [16, 17, 20, 24]


def test_plus4_late_receipts_from_the_long_lived_receiver_join_their_campaign(smsc, bucket):
    """A receipt that arrives after the send (to `smsflow receive`) still lands on its part."""
    from pipelines.dispatch import receive
    from pipelines.warehouse import campaign_statuses, load_dispatch, load_plan

    simulator = smsc(receipt_delay=1.5, replies=[{"number": "33611111111", "text": "STOP", "delay": 0.0}])
    plan_dir = make_plan(bucket, [("0611111111", "A"), ("0622222222", "B")])
    send_plan(plan_dir, SmscSettings.from_url(simulator.url()))  # no linger: the receipts come later
    received = receive(SmscSettings.from_url(simulator.url()), bucket / "events", seconds=60,
                       until=lambda report: report.receipts >= 2 and report.replies >= 1)
    assert (received.receipts, received.replies) == (2, 1)
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", *campaign_dirs(plan_dir))
    assert {row[3] for row in campaign_statuses(database, "c1")} == {24}  # sent, no receipt yet
    load_dispatch(database, "c1", *campaign_dirs(plan_dir), shared_events=bucket / "events")
    assert sorted(row[3] for row in campaign_statuses(database, "c1")) == [16, 17]


def test_plus1_a_contact_inserted_at_line_1_and_re_planned_gets_its_message_and_nobody_gets_one_twice(smsc, bucket):
    """The ledger knows parts by what was sent: a re-plan of a changed CRM export resumes correctly."""
    from pipelines.warehouse import campaign_statuses, load_dispatch, load_plan

    simulator = smsc(receipt_delay=0.0)
    contacts = [("0611111111", "Bonjour Ann"), ("0622222222", "Bonjour Bob"), ("0633333333", "Bonjour Eve")]
    plan_dir = make_plan(bucket, contacts)
    settings = SmscSettings.from_url(simulator.url(linger=30.0))
    assert send_plan(plan_dir, settings).accepted == 3
    newcomer = ("0644444444", "Bonjour Zoé")
    assert make_plan(bucket, [newcomer] + contacts) == plan_dir  # re-planned into the same folder
    again = send_plan(plan_dir, settings)
    assert (again.accepted, again.skipped, again.not_in_plan) == (1, 3, 0)
    received = Counter((m["destination"], m["text"]) for m in simulator.records("message"))
    assert received == Counter({("33611111111", "Bonjour Ann"): 1, ("33622222222", "Bonjour Bob"): 1,
                                ("33633333333", "Bonjour Eve"): 1, ("33644444444", "Bonjour Zoé"): 1})
    plan = pl.read_parquet(plan_dir / "recipients.parquet")
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    statuses = recipient_statuses(plan, ledger_state(ledger_dir), read_events(events_dir))
    assert dict(statuses.select("INT_MOBILE", "STATUS_CODE").iter_rows()) == {
        "+33644444444": 16, "+33611111111": 16, "+33622222222": 16, "+33633333333": 16}
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", ledger_dir, events_dir)
    assert {row[2]: row[3] for row in campaign_statuses(database, "c1")} == {
        "+33644444444": 16, "+33611111111": 16, "+33622222222": 16, "+33633333333": 16}


def test_plus1_a_message_changed_after_sending_is_counted_not_in_plan_and_sent_in_its_new_form(smsc, bucket,
                                                                                               caplog):
    simulator = smsc(receipt_delay=0.0)
    plan_dir = make_plan(bucket, [("0611111111", "Bonjour Ann"), ("0622222222", "Bonjour Bob")])
    settings = SmscSettings.from_url(simulator.url())
    send_plan(plan_dir, settings)
    make_plan(bucket, [("0611111111", "Bonjour Ann, -20 %")])  # Bob left the list, Ann's text changed
    with caplog.at_level("WARNING", logger="pipelines.dispatch"):
        again = send_plan(plan_dir, settings)
    assert (again.accepted, again.not_in_plan) == (1, 2)
    assert "no longer in the plan" in caplog.text
    statuses = recipient_statuses(pl.read_parquet(plan_dir / "recipients.parquet"),
                                  ledger_state(campaign_dirs(plan_dir)[0]), read_events(campaign_dirs(plan_dir)[1]))
    assert statuses.height == 1 and statuses.row(0, named=True)["INT_MOBILE"] == "+33611111111"


def test_plus1_an_old_ledger_keyed_by_list_line_is_refused_not_resumed(smsc, bucket):
    from pipelines.dlr import LedgerFormatError

    simulator = smsc()
    plan_dir = make_plan(bucket, [("0611111111", "Bonjour Ann")])
    ledger_dir, _ = campaign_dirs(plan_dir)
    ledger_dir.mkdir(parents=True)
    (ledger_dir / "batch-all-bind-0-1-1-abc.jsonl").write_text(
        json.dumps({"key": "list.csv\x1f1\x1f1", "event": "accepted", "status": 0, "message_id": "7", "ts": 1.0})
        + "\n")
    with pytest.raises(LedgerFormatError, match="earlier smsflow"):
        send_plan(plan_dir, SmscSettings.from_url(simulator.url()))
    assert simulator.records("part") == []
