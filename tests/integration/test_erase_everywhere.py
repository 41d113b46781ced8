"""PLUS-8: after a full campaign, an erased number is found in no file under the bucket and no table, and its
opt-out still blocks it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
from helpers import write_list, write_spec
from sqlalchemy import String, Text, cast, select

from pipelines.account import prepare_account
from pipelines.dispatch import SmscSettings, campaign_dirs, send_plan
from pipelines.erase import erase_number
from pipelines.layout import CampaignPaths
from pipelines.links.clicks import CLICKS_SCHEMA, events_folder
from pipelines.links.load import load_click_batches
from pipelines.plan import plan_file
from pipelines.report import campaign_report, campaign_stats, write_csv
from pipelines.spec import load_spec
from pipelines.status import BLACKLIST_OWN
from pipelines.store import open_store
from pipelines.optouts import apply_opt_outs_from_events
from pipelines.store.blacklists import blacklist_numbers
from pipelines.store.erase import erasure_history
from pipelines.store.lists import import_list
from pipelines.store.pressure import record_campaign_sends
from pipelines.store.schema import metadata
from pipelines.warehouse import load_dispatch, load_plan

TARGET = "+33622222222"
FORMS = ("+33622222222", "33622222222", "0622222222", "06 22 22 22 22", "06.22.22.22.22", "+33 6 22 22 22 22")


def needles() -> list[bytes]:
    """The number's written forms as bytes in UTF-8 (= Windows-1252 for digits) and UTF-16 both ways."""
    return [form.encode(codec) for form in FORMS for codec in ("utf-8", "utf-16-le", "utf-16-be")]


def files_holding_it(bucket: Path) -> list[str]:
    found = []
    for path in bucket.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(bucket)}: {needle!r}" for needle in needles() if needle in data]
    return found


def warehouse_rows_holding_it(database: Path) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE data_type IN ('VARCHAR', 'JSON')"
        ).fetchall()
        return [(table, column) for table, column in columns if connection.execute(
            f'SELECT count(*) FROM "{table}" WHERE "{column}"::VARCHAR LIKE ?', ["%622222222%"]).fetchone()[0]]


def store_rows_holding_it(store) -> list[tuple]:
    found = []
    with store.begin() as connection:
        for table in metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, (String, Text)) or column.type.__class__.__name__ == "JSON":
                    rows = connection.execute(select(column).where(cast(column, Text).like("%622222222%"))).all()
                    found += [(table.name, column.name, row[0]) for row in rows]
    return found


def full_campaign(smsc, bucket: Path, store) -> Path:
    """plan → send to the simulator (the number answers STOP) → opt-outs → load → report, as the DAG does."""
    write_list(bucket / "lists" / "clients.csv",
               "Mobile;Prénom;Ville\n0611111111;Zoé;Nîmes\n06 22 22 22 22;Bob;Sète\n0633333333;Eve;Lyon\n",
               encoding="cp1252")
    write_list(bucket / "lists" / "excel.txt", "\ufeffMobile\tPrénom\r\n+33 6 22 22 22 22\tBob\r\n", "utf-16-le")
    import_list(store, "default", "vip", bucket / "lists" / "clients.csv")
    simulator = smsc(replies=[{"number": "33622222222", "text": "STOP", "delay": 0.0}])
    spec_path = write_spec(bucket / "campaigns" / "c1", lists=["../../lists/clients.csv", "../../lists/excel.txt"],
                           message="Bonjour ${Prénom} https://shop.example.com/vip?qui=${Prénom}",  # tracked (URL-2)
                           tracking={"domain": "sms.ex.fr", "preview": {"title": "${Prénom}, vos soldes",
                                                                      "description": "Pour ${Prénom}"}})
    prepared = prepare_account(store, load_spec(spec_path))
    plan_dir = plan_file(spec_path, bucket / "campaigns" / "c1" / "plan", inputs=prepared.inputs,
                         spec=prepared.spec).out_dir
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(linger=30.0)))
    assert (report.accepted, report.replies) == (3, 1)
    record_campaign_sends(store, plan_dir)
    paths = CampaignPaths.of_plan(plan_dir)
    assert apply_opt_outs_from_events(store, paths.events, campaign_id="c1", account_id="default")
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", *campaign_dirs(plan_dir))
    clicked(bucket, plan_dir)
    assert load_click_batches(database, bucket).events == 3
    write_csv(campaign_report(database, "c1"), paths.report)
    paths.stats.write_text(json.dumps(campaign_stats(database, "c1"), ensure_ascii=False), encoding="utf-8")
    return plan_dir


def clicked(bucket: Path, plan_dir: Path) -> None:
    """A rolled click batch (URL-3): Zoé, Bob and Eve click their link once each."""
    from datetime import datetime, timezone

    links = pl.read_parquet(plan_dir / "links.parquet").filter(pl.col("link") == 1).sort("ref_list", "id_line")
    assert links.height == 3  # Zoé, Bob, Eve (Bob again in excel.txt: a duplicate, not sent)
    events_folder(bucket).mkdir(parents=True, exist_ok=True)
    links.select("token", pl.lit("c1").alias("campaign_id"), "ref_list", "id_line", "link",
                 pl.lit("click").alias("kind"), pl.lit(datetime(2026, 3, 1, tzinfo=timezone.utc)).alias("at"),
                 pl.lit("person").alias("agent_class"), pl.lit(False).alias("bot"),
                 pl.lit("192.0.2.0/24").alias("ip_prefix"), pl.lit("Mozilla/5.0 Bob's phone").alias("user_agent")
                 ).cast(CLICKS_SCHEMA).write_parquet(events_folder(bucket) / "w-1-1.parquet")


def tracked_rows(frame: pl.DataFrame, columns: list[str]) -> dict:
    """(ref_list, id_line) -> the columns' values, of a links.parquet or a click batch."""
    return {(row[0], row[1]): row[2:] for row in frame.select("ref_list", "id_line", *columns).iter_rows()}


def report_cells_hold(database: Path, campaign_id: str, out: Path, text: str) -> None:
    """REP-2's stored cells (plan_recipients.report_head, report_tail: formatted at plan load) written again from the
    erased or purged fields: export_csv, which joins them, writes the bytes of write_csv(campaign_report), which
    formats the rows' own columns; and the cells hold `text`."""
    from pipelines.report import export_csv

    expected = write_csv(campaign_report(database, campaign_id), out / "rows.csv").read_bytes()
    assert export_csv(database, campaign_id, out / "cells.csv") > 0
    assert (out / "cells.csv").read_bytes() == expected
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM plan_recipients WHERE campaign_id = ? AND contains("
                                  "report_head || report_tail, ?)", [campaign_id, text]).fetchone()[0]


def test_plus8_erase_after_a_full_campaign_leaves_the_number_in_no_file_and_no_table(smsc, bucket, tmp_path):
    store = open_store(bucket=bucket)  # SQLite in the bucket: its file is searched too
    plan_dir = full_campaign(smsc, bucket, store)
    assert blacklist_numbers(store)["own"].to_list() == [TARGET]
    assert files_holding_it(bucket) and store_rows_holding_it(store)  # it was everywhere
    stats_before = json.loads(CampaignPaths.of_plan(plan_dir).stats.read_text(encoding="utf-8"))

    report = erase_number(store, "06 22 22 22 22", bucket=bucket, by="dpo@example.com")

    assert files_holding_it(bucket) == []
    assert warehouse_rows_holding_it(bucket / "warehouse.duckdb") == []
    assert store_rows_holding_it(store) == []
    assert report.skipped == [] and report.number_hash.startswith("hmac:")
    # The list's "+33 6 22 22 22 22" was neutralised in the stored cells ('+33 …): the cells are redone, not patched.
    report_cells_hold(bucket / "warehouse.duckdb", "c1", tmp_path, report.number_hash)
    assert {"lists/clients.csv", "lists/excel.txt", "campaigns/c1/plan/recipients.parquet",
            "campaigns/c1/report/c1.csv"} <= set(report.files)
    # Files keep their format: the cp1252 list is still cp1252 with its accents, the UTF-16 one keeps its BOM.
    assert (bucket / "lists" / "clients.csv").read_bytes().decode("cp1252").splitlines()[2] == \
        f"{report.number_hash};Bob;Sète"
    assert (bucket / "lists" / "excel.txt").read_bytes().startswith(b"\xff\xfeM\x00")
    # The campaign's figures hold (the plan, ledger and warehouse join on the hash as they did on the number).
    database = bucket / "warehouse.duckdb"
    assert campaign_stats(database, "c1")["sent"] == stats_before["sent"] == 3
    assert campaign_stats(database, "c1")["stops"] == stats_before["stops"] == 1
    # A tracked campaign (URL-2, URL-3): Bob's personalised target and preview texts are gone from the plan's links
    # (his links answer 404 from then on), his clicks keep their time and link but not his address and agent, in
    # the click batch and in the warehouse; the others' are untouched.
    bob, zoe = {("clients.csv", 2)}, ("clients.csv", 1)
    links = tracked_rows(pl.read_parquet(plan_dir / "links.parquet"), ["target", "title", "description", "token"])
    assert all(links[key][:3] == (None, None, None) and links[key][3] for key in bob)
    assert links[zoe][:3] == ("https://shop.example.com/vip?qui=Zo%C3%A9", "Zoé, vos soldes", "Pour Zoé")
    batch = tracked_rows(pl.read_parquet(events_folder(bucket) / "w-1-1.parquet"), ["ip_prefix", "user_agent"])
    assert all(batch[key] == (None, None) for key in bob) and batch[zoe] == ("192.0.2.0/24", "Mozilla/5.0 Bob's phone")
    assert {"campaigns/c1/plan/links.parquet", "events/links/w-1-1.parquet"} <= set(report.files)
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.sql("SELECT count(*) FILTER (WHERE user_agent IS NULL AND ip_prefix IS NULL), count(*) "
                              "FROM clicks").fetchone() == (1, 3)
    assert campaign_stats(database, "c1")["clicks"] == 3
    (audit,) = erasure_history(store)
    assert (audit["number_hash"], audit["by"]) == (report.number_hash, "dpo@example.com")

    # Its opt-out still holds: the next plan hashes its numbers and finds this one on the own blacklist (14).
    spec_path = write_spec(bucket / "campaigns" / "c2", lists=["../../lists/again.csv"], message="Re ${Prénom}")
    write_list(bucket / "lists" / "again.csv", "Mobile;Prénom\n0611111111;Zoé\n0622222222;Bob\n")
    prepared = prepare_account(store, load_spec(spec_path))
    assert TARGET not in prepared.inputs.blacklists.get("own", pl.Series([], dtype=pl.String)).to_list()
    inputs = prepared.inputs
    second = plan_file(spec_path, bucket / "campaigns" / "c2" / "plan", inputs=inputs, spec=prepared.spec).out_dir
    assert dict(pl.read_parquet(second / "recipients.parquet").select("INT_MOBILE", "STATUS_CODE").iter_rows()) == \
        {"+33611111111": None, TARGET: BLACKLIST_OWN}


def test_plus8_a_purged_campaign_keeps_no_list_field_in_its_report_cells(smsc, bucket, tmp_path):
    """Retention: the list's fields and raw numbers go from the plan rows, so from REP-2's stored cells too (written
    again from the purged rows, numbers as hashes); the CSV still has the bytes of the rows' own formatting."""
    from pipelines.erase import purge_campaign

    store = open_store(bucket=bucket)
    full_campaign(smsc, bucket, store)
    database = bucket / "warehouse.duckdb"
    purge_campaign(store, bucket, "c1", [database])

    report_cells_hold(database, "c1", tmp_path, "hmac:")
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM plan_recipients WHERE regexp_matches(report_head || "
                                  "report_tail, '\\+33|Zoé|Nîmes|Bob|Sète')").fetchone() == (0,)
