"""PLUS-8 in the store (both backends): keyed hashes, every table erased, opt-outs still holding, retention."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import duckdb
import polars as pl
import pytest
from helpers import write_list, write_spec
from sqlalchemy import Text, cast, insert, select

from pipelines.erase import cutoff, erase_number, purge
from pipelines.links.clicks import CLICKS_SCHEMA, events_folder
from pipelines.links.load import load_click_batches
from pipelines.plan import plan_file
from pipelines.warehouse import load_plan
from pipelines.store.blacklists import add_numbers, blacklist_numbers
from pipelines.store.erase import EraseError, erase_key, erased_opt_outs, erasure_history, number_hashes
from pipelines.store.lists import import_list
from pipelines.store.pressure import record_sends
from pipelines.store.schema import campaigns, metadata, sends

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def rows_holding(store, digits: str) -> list[str]:
    found = []
    with store.begin() as connection:
        for table in metadata.sorted_tables:
            for column in table.columns:
                if column.type.__class__.__name__ in ("String", "Text", "JSON"):
                    if connection.execute(select(column).where(cast(column, Text).like(f"%{digits}%"))).first():
                        found.append(f"{table.name}.{column.name}")
    return found


def test_plus8_the_erase_hash_is_keyed_per_store_and_stable(store):
    assert erase_key(store) == erase_key(store)
    hashes = number_hashes(store, pl.Series(["+33611111111", None, "+33611111111"]))
    assert re.fullmatch(r"hmac:[0-9a-f]{64}", hashes[0]) and hashes[1] is None and hashes[0] == hashes[2]


def test_plus8_erase_replaces_the_number_in_every_store_table_and_its_opt_out_holds(store, bucket):
    write_list(bucket / "vip.csv", "Mobile,Nom\n06 11 11 11 11,Zoé\n0622222222,Bob\n", encoding="cp1252")
    import_list(store, "default", "vip", bucket / "vip.csv")
    add_numbers(store, "own", "default", ["0611111111", "0633333333"], source="stop", campaign_id="c1",
                text="STOP")
    add_numbers(store, "global", "default", ["+33611111111"], source="cli")
    record_sends(store, "default", "c1", "marketing", pl.Series(["+33611111111", "+33622222222"]), at=NOW)
    assert rows_holding(store, "611111111")

    report = erase_number(store, "+33 6 11 11 11 11", bucket=bucket, by="dpo")

    assert rows_holding(store, "611111111") == []
    assert {"blacklist", "opt_out_audit", "sends", "saved_list_rows"} <= set(report.store)
    assert report.files == ["vip.csv"] and "611111111" not in (bucket / "vip.csv").read_text(encoding="cp1252")
    assert blacklist_numbers(store)["own"].sort().to_list() == sorted([report.number_hash, "+33633333333"])
    blocked = erased_opt_outs(store, "default").blocked(pl.Series(["+33611111111", "+33622222222"]))
    assert blocked["own"].to_list() == blocked["global"].to_list() == ["+33611111111"]
    assert rows_holding(store, "622222222")  # nobody else's rows changed
    (audit,) = erasure_history(store)
    assert audit["number_hash"] == report.number_hash and "611111111" not in audit["detail"]

    add_numbers(store, "own", "default", ["0611111111"], source="stop")  # opted out again, then erased again
    erase_number(store, "0611111111", bucket=bucket)
    assert blacklist_numbers(store)["own"].sort().to_list() == sorted([report.number_hash, "+33633333333"])


def test_plus8_a_text_that_is_no_number_is_refused(store, bucket):
    with pytest.raises(EraseError, match="PLUS-8"):
        erase_number(store, "not a number", bucket=bucket)


def test_plus8_retention_ages():
    assert cutoff("24m", NOW) == datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
    assert cutoff("1y", datetime(2028, 2, 29, tzinfo=timezone.utc)) == datetime(2027, 2, 28, tzinfo=timezone.utc)
    assert cutoff("90d", NOW) == NOW - timedelta(days=90)
    with pytest.raises(ValueError, match="PLUS-8"):
        cutoff("2 weeks", NOW)


def test_plus8_purge_erases_old_campaigns_personal_data_and_keeps_their_figures(store, bucket):
    write_list(bucket / "list.csv", "Mobile;Prénom\n0611111111;Zoé\n0622222222;Bob\nabc;Nul\n")
    spec = write_spec(bucket, lists=["list.csv"], message="Bonjour ${Prénom} https://shop.example.com/?qui=${Prénom}",
                      tracking={"domain": "sms.ex.fr", "preview": {"title": "${Prénom}", "description": "Pour ${Prénom}"}})
    for campaign_id, ended in (("old", NOW - timedelta(days=800)), ("recent", NOW - timedelta(days=30))):
        plan = plan_file(spec, bucket / "campaigns" / campaign_id / "plan").out_dir
        (plan.parent / "report").mkdir()
        (plan.parent / "report" / f"{campaign_id}.csv").write_text("INT_MOBILE\n+33611111111\n", encoding="utf-8")
        record_sends(store, "default", campaign_id, "notification", pl.Series(["+33611111111"]), at=ended)
        load_plan(bucket / "warehouse.duckdb", campaign_id, plan)
        with store.begin() as connection:
            connection.execute(insert(campaigns).values(
                id=campaign_id, account_id="default", name="Test", type="notification", status="finished",
                spec="lists: [list.csv]\ntest: {numbers: ['06 11 11 11 11']}\n", created_at=ended, updated_at=ended))
        links = pl.read_parquet(plan / "links.parquet")  # URL-3: each recipient clicked once
        events_folder(bucket).mkdir(parents=True, exist_ok=True)
        links.select("token", pl.lit(campaign_id).alias("campaign_id"), "ref_list", "id_line", "link",
                     pl.lit("click").alias("kind"), pl.lit(ended).alias("at"), pl.lit("person").alias("agent_class"),
                     pl.lit(False).alias("bot"), pl.lit("192.0.2.0/24").alias("ip_prefix"),
                     pl.lit("Zoé's phone").alias("user_agent")).cast(CLICKS_SCHEMA) \
            .write_parquet(events_folder(bucket) / f"w-{campaign_id}.parquet")
    assert load_click_batches(bucket / "warehouse.duckdb", bucket).events == 4

    result = purge(store, bucket=bucket, older_than="24m", now=NOW)

    assert [c["campaign"] for c in result["campaigns"]] == ["old"]
    old = pl.read_parquet(bucket / "campaigns" / "old" / "plan" / "recipients.parquet")
    assert old.get_column("INT_MOBILE").str.starts_with("hmac:").to_list() == [True, True, None]
    assert old.get_column("MOBILE_RAW").null_count() == 3 and old.get_column("Prénom").null_count() == 3
    assert old.get_column("STATUS_CODE").to_list() == [None, None, 2]  # counts per status kept
    assert not (bucket / "campaigns" / "old" / "report" / "old.csv").exists()
    with duckdb.connect(str(bucket / "warehouse.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT campaign_id, count(*) FILTER (WHERE int_mobile LIKE '+33%'), count(mobile_raw), "
                                  "count(*) FROM plan_recipients GROUP BY ALL ORDER BY 1").fetchall() == [
            ("old", 0, 0, 3), ("recent", 2, 3, 3)]
    recent = pl.read_parquet(bucket / "campaigns" / "recent" / "plan" / "recipients.parquet")
    assert recent.get_column("INT_MOBILE").to_list()[:2] == ["+33611111111", "+33622222222"]
    with store.begin() as connection:
        numbers = dict(connection.execute(select(sends.c.campaign_id, sends.c.number)).all())
        stored = connection.execute(select(campaigns.c.spec).where(campaigns.c.id == "old")).scalar()
    assert numbers["recent"] == "+33611111111" and numbers["old"].startswith("hmac:")
    assert "11 11" not in stored and "hmac:" in stored
    # Tracked links (URL-2, URL-4): the old campaign's personalised targets and previews and its clicks' address
    # and agent go; tokens, links and click times stay; the recent campaign's are untouched.
    def links_of(campaign_id: str) -> pl.DataFrame:
        return pl.read_parquet(bucket / "campaigns" / campaign_id / "plan" / "links.parquet")

    assert links_of("old").select(pl.col("target", "title", "description").null_count().sum()).row(0) == (2, 2, 2)
    assert links_of("old").get_column("token").null_count() == 0
    assert links_of("recent").get_column("title").to_list() == ["Zoé", "Bob"]
    clicks = pl.read_parquet(events_folder(bucket) / "w-old.parquet")
    assert clicks.get_column("user_agent").null_count() == clicks.get_column("ip_prefix").null_count() == 2
    assert pl.read_parquet(events_folder(bucket) / "w-recent.parquet").get_column("user_agent").null_count() == 0
    with duckdb.connect(str(bucket / "warehouse.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT campaign_id, count(user_agent), count(ip_prefix), count(*) FROM clicks "
                                  "GROUP BY ALL ORDER BY 1").fetchall() == [("old", 0, 0, 2), ("recent", 2, 2, 2)]
    assert purge(store, bucket=bucket, older_than="24m", now=NOW)["campaigns"][0]["store"] == \
        {"sends": 0, "opt_out_audit": 0, "send_ledger": 0}  # purged again: nothing left to change
