"""Issue 11, "Continuous loading" (PLUS-4, REP-1, REP-2): receipts and replies that reach smsflow after a campaign
finished reach the warehouse, `smsflow stats` and the REP-2 CSV within 60 s through the long-lived
`smsflow receive --load`, with no manual command; the campaigns a micro-batch belongs to are found on the ledgers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from helpers import smsflow_here, start_smsflow, wait_until, write_list, write_spec

from pipelines.campaign import WAREHOUSE
from pipelines.dlr import EVENT_SCHEMA
from pipelines.events import campaigns_of_events

CONTACTS = "Mobile;Texte\n0611111111;Bonjour Ann\n0622222222;Bonjour Bob\n0633333333;Bonjour Eve\n"


def figures(database: Path, env: dict) -> dict:
    result = smsflow_here("stats", "c1", "--db", str(database), "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def csv_statuses(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return {row["INT_MOBILE"]: row["STATUS_CODE"] for row in csv.DictReader(stream, delimiter=";")}


def test_issue11_a_late_receipt_reaches_stats_and_the_csv_within_60_s_through_receive_load(smsc, bucket):
    """Done when #2: a campaign is sent and loaded (its report written) before any receipt reached smsflow; then
    the receipts and Bob's STOP reach the long-lived `smsflow receive --load` (a real process), and `smsflow stats`
    and the campaign's REP-2 CSV show them within 60 s, with no `smsflow load`."""
    simulator = smsc(receipt_delay=1.0, replies=[{"number": "33622222222", "text": "STOP", "delay": 0.2}])
    env = {"SMSFLOW_DB": f"sqlite:///{bucket / 'smsflow.db'}"}
    write_list(bucket / "list.csv", CONTACTS)
    spec = write_spec(bucket, lists=["list.csv"], message="${Texte}")
    plan_dir = bucket / "campaigns" / "c1" / "plan"
    database = bucket / WAREHOUSE  # the bucket's warehouse, where the receiver loads
    for command in (("plan", str(spec), "--out", str(plan_dir), "--no-contracts"),
                    ("send", str(plan_dir), "--smsc", simulator.url(linger=0.0)),  # gone before any receipt
                    ("load", str(plan_dir.parent), "--db", str(database), "--late-events", str(bucket / "events")),
                    ("report", "c1", "--db", str(database))):
        result = smsflow_here(*command, env=env)
        assert result.returncode == 0, (command, result.stderr)
    report = plan_dir.parent / "report" / "c1.csv"
    assert (figures(database, env)["delivered"], figures(database, env)["stops"]) == (0, 0)
    assert set(csv_statuses(report).values()) == {"24"}  # sent, no receipt yet
    output = bucket / "receiver.out"
    with output.open("w", encoding="utf-8") as sink:
        receiver = start_smsflow("receive", str(bucket / "events"), "--smsc", simulator.url(), "--load", "--seconds",
                                 "120", env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT)
    try:
        # The CSV is written once the load committed; the lake is read once then (an analyst polling it in a loop
        # while the receiver reads it crashed the receiver with SIGBUS now and then: reported to the lake's owner).
        wait_until(lambda: csv_statuses(report) == {"+33611111111": "16", "+33622222222": "17",
                                                    "+33633333333": "16"} or receiver.poll() is not None,
                   timeout=60, what="the late receipts in the REP-2 CSV")
        assert receiver.poll() is None, output.read_text(encoding="utf-8")[-3000:]
        assert (figures(database, env)["delivered"], figures(database, env)["stops"]) == (3, 1)  # smsflow stats
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)
    told = " ".join(output.read_text(encoding="utf-8").split())
    assert "loaded into the warehouse: campaign c1; report of c1 written again [PLUS-4]" in told, told


def events(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{**dict.fromkeys(EVENT_SCHEMA), **row} for row in rows], schema=EVENT_SCHEMA)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def test_issue11_a_batchs_campaigns_are_found_by_message_id_and_by_the_last_send_to_a_replying_number():
    """A receipt's campaign holds its message id, written as the SMSC answered it or in the other base (hex/decimal,
    leading zeros); a reply's is the campaign that last sent to the number before it; nothing matches nothing."""
    parts = pl.DataFrame({"campaign": ["old", "old", "new", "other"],
                          "number": ["+33611111111", "+33622222222", "+33611111111", "+33633333333"],
                          "message_id": ["00FF", "100", "200", "300"],
                          "ts": [1000.0, 1000.0, 2000.0, 1500.0]})
    assert campaigns_of_events(events([{"kind": "receipt", "message_id": "255"}]), parts) == ["old"]  # 0xFF
    assert campaigns_of_events(events([{"kind": "receipt", "message_id": "0200"}]), parts) == ["new"]
    assert campaigns_of_events(events([{"kind": "receipt", "message_id": "999999"}]), parts) == []
    reply = {"kind": "reply", "handset": "33611111111", "text": "STOP"}
    assert campaigns_of_events(events([{**reply, "received_at": at(2500)}]), parts) == ["new"]
    assert campaigns_of_events(events([{**reply, "received_at": at(1200)}]), parts) == ["old"]
    assert campaigns_of_events(events([{**reply, "received_at": at(500)}]), parts) == []  # before any send
    assert campaigns_of_events(events([]), parts) == []


def test_issue11_the_ledger_index_reads_what_was_sent_a_line_being_written_later_a_cut_line_stops_the_file(bucket):
    """The campaigns' send ledgers as LedgerIndex reads them: accepted parts with their number (the part key's
    first field); a last line without its newline yet is read once it is whole; a line cut by a crash ends what is
    read of its file, as the ledger's own reader does; a changed file is read again."""
    from pipelines.events import LedgerIndex

    def record(number: str, message_id: str) -> str:
        return json.dumps({"key": f"{number}\x1fab\x1f0\x1f1", "event": "accepted", "status": 0,
                           "message_id": message_id, "ts": 3.0}) + "\n"

    ledger = bucket / "campaigns" / "c1" / "dispatch" / "ledger"
    ledger.mkdir(parents=True)
    cut = ledger / "batch-0.jsonl"
    cut.write_text(record("+33611111111", "M1") + '{"key": "+3362\n' + record("+33633333333", "M3"))
    growing = ledger / "batch-1.jsonl"
    growing.write_text(json.dumps({"event": "open", "ts": 1.0}) + "\n" + record("+33644444444", "M4")[:30])
    index = LedgerIndex(bucket)
    assert sorted(index.parts().get_column("message_id").to_list()) == ["M1"]
    growing.write_text(json.dumps({"event": "open", "ts": 1.0}) + "\n" + record("+33644444444", "M4"))
    parts = index.parts()
    assert sorted(parts.select("campaign", "number", "message_id").rows()) == [
        ("c1", "+33611111111", "M1"), ("c1", "+33644444444", "M4")]


def test_plus4_a_campaigns_events_include_its_receipts_and_replies_that_reached_the_long_lived_receiver(bucket):
    """with_shared_events: the campaign's own events, plus, from the shared folder, the receipts of its parts (not
    another campaign's) and the replies received after its first submit."""
    from helpers import make_plan

    from pipelines.dispatch import ledger_state
    from pipelines.dlr import EventWriter, keyed_rows, part_key, part_rows
    from pipelines.dlr import with_shared_events

    plan_dir = make_plan(bucket, [("0611111111", "Bonjour Ann"), ("0622222222", "Bonjour Bob")])
    plan = pl.read_parquet(plan_dir / "recipients.parquet")
    ledger_dir = plan_dir.parent / "dispatch" / "ledger"
    ledger_dir.mkdir(parents=True)
    keys = keyed_rows(plan).get_column("MESSAGE_KEY").to_list()
    (ledger_dir / "batch-0.jsonl").write_text("".join(json.dumps(
        {"key": part_key(key, 1), "event": "accepted", "status": 0, "message_id": str(1000 + index), "ts": 5000.0})
        + "\n" for index, key in enumerate(keys)), encoding="utf-8")
    ledger = part_rows(plan, ledger_state(ledger_dir))
    own = events([{"kind": "receipt", "message_id": "1000", "stat": "DELIVRD", "received_at": at(5001)}])
    shared = bucket / "events"
    writer = EventWriter(shared, "receiver-1")
    for event in ({"kind": "receipt", "message_id": "1001", "stat": "DELIVRD", "received_at": at(6000)},
                  {"kind": "receipt", "message_id": "7777", "stat": "DELIVRD", "received_at": at(6000)},
                  {"kind": "reply", "handset": "33622222222", "text": "STOP", "received_at": at(6001)},
                  {"kind": "reply", "handset": "33622222222", "text": "old", "received_at": at(4000)}):
        writer.add(**{**dict.fromkeys(EVENT_SCHEMA), **event})
    writer.flush()
    merged = with_shared_events(ledger, own, shared)
    assert sorted(merged.select("kind", "message_id", "text").rows(), key=str) == sorted(
        [("receipt", "1000", None), ("receipt", "1001", None), ("reply", None, "STOP")], key=str)
    assert with_shared_events(ledger, own, bucket / "nothing-here").equals(own)


def test_plus4_an_announced_batch_the_worker_cannot_see_is_refused_naming_the_bucket(bucket):
    """The sms_events DAG's files: names relative to the bucket (or absolute), each once; one missing fails the
    run (a worker on another bucket) instead of loading nothing."""
    import pytest

    from pipelines.events import batch_files

    (bucket / "events").mkdir()
    batch = bucket / "events" / "receiver-1-1-a.parquet"
    batch.write_bytes(b"")
    assert batch_files(bucket, ["events/receiver-1-1-a.parquet", str(batch)]) == [batch]
    with pytest.raises(FileNotFoundError, match=r"1 announced micro-batch file\(s\) not found.*SMSFLOW_BUCKET"):
        batch_files(bucket, ["events/receiver-1-1-a.parquet", "events/gone.parquet"])
