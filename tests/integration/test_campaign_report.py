"""REP-1, REP-2, CAMP-4: the CSV report, the figures at a glance and the campaign list, from the warehouse."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
from helpers import smsflow, write_list, write_spec

from pipelines.dispatch import SmscSettings, campaign_dirs, send_plan
from pipelines.plan import plan_file
from pipelines.report import (
    REPORT_COLUMNS,
    campaign_report,
    campaign_stats,
    list_campaigns,
)
from pipelines.status import BILLED, DELIVERED, STOP_REQUESTED
from pipelines.warehouse import load_dispatch, load_plan


def sent_campaign(smsc, bucket: Path) -> Path:
    simulator = smsc(rules=[{"value": "22", "outcome": "UNDELIV"}],
                     replies=[{"number": "33611111111", "text": "Merci", "delay": 0.0},
                              {"number": "33611111111", "text": "STOP", "delay": 0.0}])
    rows = ["0611111111;=HYPERLINK(\"x\");Nîmes", "0611111122;@Zoé;-1", "0611111111;Ann;Lyon", "abc;+x;Paris",
            "0611111133;Léo;Dijon"]
    write_list(bucket / "list.csv", "Mobile;Prénom;Ville\n" + "\n".join(rows) + "\n")
    plan = plan_file(write_spec(bucket, lists=["list.csv"]), bucket / "c1" / "plan").out_dir
    send_plan(plan, SmscSettings.from_url(simulator.url(linger=30.0)))
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan)
    load_dispatch(database, "c1", *campaign_dirs(plan))
    return database


def test_rep2_csv_columns_order_encoding_dates_replies_and_formula_neutralisation(smsc, bucket):
    database = sent_campaign(smsc, bucket)
    result = smsflow("report", "c1", "--db", str(database), "--out", str(bucket / "c1.csv"), timeout=60)
    assert result.returncode == 0, result.stderr
    raw = (bucket / "c1.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert list(rows[0]) == REPORT_COLUMNS + ["Mobile", "Prénom", "Ville"]
    first, undelivered, duplicate, invalid, delivered = rows
    assert (first["STATUS_CODE"], first["STATUS_TEXT"], first["REPLY"]) == ("17", "Délivré + STOP demandé",
                                                                           "Merci#STOP")
    assert first["INT_MOBILE"] == "+33611111111" and first["Prénom"] == "'=HYPERLINK(\"x\")"
    assert undelivered["STATUS_CODE"] == "20" and undelivered["DELIVERYDATE"] == ""
    assert undelivered["Prénom"] == "'@Zoé" and undelivered["Ville"] == "'-1"
    assert (duplicate["STATUS_CODE"], duplicate["STATUS_TEXT"]) == ("4", "Doublons")
    assert (invalid["STATUS_CODE"], invalid["MF_VALID"], invalid["MF_ALLOW"]) == ("2", "False", "False")
    assert delivered["STATUS_CODE"] == "16" and delivered["MF_COUNTRY"] == "FR"
    day, hour = delivered["DELIVERYDATE"].split(" ")
    assert len(day.split("/")) == 3 and len(hour.split(":")) == 3


def test_rep1_categories_stats_and_camp4_campaign_list(smsc, bucket):
    database = sent_campaign(smsc, bucket)
    assert campaign_report(database, "c1", "delivered").get_column("STATUS_CODE").to_list() == ["17", "16"]
    assert campaign_report(database, "c1", "invalid").height == 1
    assert campaign_report(database, "c1", "duplicates").height == 1
    assert campaign_report(database, "c1", "not_delivered").get_column("STATUS_CODE").to_list() == ["20"]
    figures = campaign_stats(database, "c1")
    assert (figures["sent"], figures["delivered"], figures["delivery_rate"], figures["stops"]) == (3, 2, 0.6667, 1)
    listed = list_campaigns(database, search="TES")
    assert listed.select("campaign_id", "name", "status").rows() == [("c1", "Test", "finished")]
    assert list_campaigns(database, status="draft").is_empty()
    result = smsflow("stats", "c1", "--db", str(database), "--json", timeout=60)
    assert json.loads(result.stdout)["delivered"] == 2


def test_rep1_campaign_stats_view_and_bl1_blacklists_table(smsc, bucket):
    from pipelines.warehouse import load_blacklist

    database = sent_campaign(smsc, bucket)
    write_list(bucket / "own.txt", "0611111111\n06 22 22 22 22\nnot a number\n")
    assert load_blacklist(database, "acme", "own", bucket / "own.txt") == 2
    assert load_blacklist(database, "acme", "own", bucket / "own.txt") == 2  # replaced, not added
    with duckdb.connect(str(database), read_only=True) as connection:
        stats = connection.execute("SELECT recipients, sent, delivered, delivery_rate, replies, stops "
                                   "FROM campaign_stats WHERE campaign_id = 'c1'").fetchone()
        listed = connection.execute("SELECT int_mobile FROM blacklists WHERE account_id = 'acme' ORDER BY 1").fetchall()
    figures = campaign_stats(database, "c1")
    per_status = {status["code"]: status["recipients"] for status in figures["statuses"]}  # from the report rows
    assert stats == (sum(per_status.values()), sum(n for code, n in per_status.items() if code in BILLED),
                     sum(n for code, n in per_status.items() if code in DELIVERED), 0.6667, figures["replies"],
                     per_status[STOP_REQUESTED])
    assert listed == [("+33611111111",), ("+33622222222",)]


def test_plus4_one_derivation_the_report_and_recipient_statuses_agree_on_real_events(smsc, bucket):
    """Receipts in hex, a two-part message, UNDELIV, a reply and an "Arrêt": the warehouse's report and
    dlr.recipient_statuses (the same views, in memory) give every sent row the same status and delivery date."""
    import polars as pl

    from pipelines.dispatch import ledger_state
    from pipelines.dlr import read_events, recipient_statuses

    simulator = smsc(message_id_format="hex", rules=[{"value": "22", "outcome": "UNDELIV"}],
                     replies=[{"number": "33611111111", "text": "Arrêt", "delay": 0.0},
                              {"number": "33633333333", "text": "Merci", "delay": 0.0}])
    rows = ["0611111111;Ann", "0611111122;Bob", f"0633333333;{'É' * 200}", "0611111144;Léo"]
    write_list(bucket / "list.csv", "Mobile;Prénom\n" + "\n".join(rows) + "\n")
    plan = plan_file(write_spec(bucket, lists=["list.csv"]), bucket / "c1" / "plan").out_dir
    send_plan(plan, SmscSettings.from_url(simulator.url(linger=30.0)))
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan)
    ledger_dir, events_dir = campaign_dirs(plan)
    load_dispatch(database, "c1", ledger_dir, events_dir)
    report = campaign_report(database, "c1").select("ID_LINE", "STATUS_CODE", "DELIVERYDATE", "REPLY").rows()
    in_memory = recipient_statuses(pl.read_parquet(plan / "recipients.parquet"), ledger_state(ledger_dir),
                                   read_events(events_dir)).select(
        pl.col("ID_LINE").cast(pl.String), pl.col("STATUS_CODE").cast(pl.String),
        pl.col("DELIVERYDATE").dt.convert_time_zone("Europe/Paris").dt.strftime("%d/%m/%Y %H:%M:%S"), "REPLY").rows()
    assert report == in_memory
    assert [(line, code, reply) for line, code, _, reply in report] == [
        ("1", "17", "Arrêt"), ("2", "20", None), ("3", "16", "Merci#Merci"), ("4", "16", None)]  # a reply per part
    assert pl.read_parquet(plan / "recipients.parquet").get_column("PARTS").to_list() == [1, 1, 2, 1]
