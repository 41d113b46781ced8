"""LIST-4: REF_LIST is unique per campaign whatever the file names, so such a campaign plans, dedupes (NUM-3)
and loads into the warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import write_list, write_spec

from pipelines.plan import plan_file
from pipelines.plan.io import list_names
from pipelines.warehouse import load_plan


def test_list4_names_of_lists_are_kept_when_unique_and_told_apart_when_not(tmp_path):
    def names(*paths: str) -> list[str]:
        return list_names([(Path(p).name, tmp_path / p) for p in paths])

    assert names("a.csv", "b.csv") == ["a.csv", "b.csv"]
    assert names("vip/clients.csv", "all/clients.csv", "b.csv") == ["vip/clients.csv", "all/clients.csv", "b.csv"]
    assert names("2024/x/clients.csv", "2025/x/clients.csv", "y/clients.csv") == [
        "2024/x/clients.csv", "2025/x/clients.csv", "y/clients.csv"]
    assert names("clients.csv", "clients.csv", "clients.csv") == ["clients.csv", "clients.csv (2)",
                                                                   "clients.csv (3)"]
    assert names("vip/clients.csv", "all/clients.csv", "vip/clients.csv") == [
        "vip/clients.csv", "all/clients.csv", "vip/clients.csv (2)"]
    assert names("crm/manual", "manual (2)") == ["crm/manual", "manual (2)"]  # `manual` is LIST-5's


def test_list4_num3_two_lists_of_one_name_and_one_list_twice_plan_and_load(bucket):
    write_list(bucket / "vip" / "clients.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Bob\n")
    write_list(bucket / "all" / "clients.csv", "GSM;Prénom\n0622222222;Bob\n0633333333;Cy\n")
    lists = ["vip/clients.csv", "all/clients.csv", "vip/clients.csv"]
    result = plan_file(write_spec(bucket, lists=lists, recipients=[{"mobile": "0644444444", "Prénom": "Di"}]),
                       bucket / "plan")
    frame = pl.read_parquet(result.recipients)
    assert frame.select("REF_LIST", "ID_LINE", "STATUS_CODE").rows() == [
        ("vip/clients.csv", 1, None), ("vip/clients.csv", 2, None),
        ("all/clients.csv", 1, 4), ("all/clients.csv", 2, None),
        ("vip/clients.csv (2)", 1, 4), ("vip/clients.csv (2)", 2, 4),  # NUM-3: every row of the copy
        ("manual", 1, None)]
    summary = result.plan_summary
    assert [(item.name, item.rows) for item in summary.lists] == [
        ("vip/clients.csv", 2), ("all/clients.csv", 2), ("vip/clients.csv (2)", 2), ("manual", 1)]
    assert (summary.duplicates, summary.sendable) == (3, 4)

    database = bucket / "warehouse.duckdb"
    assert load_plan(database, "c1", result.out_dir) == 7
    assert load_plan(database, "c1", result.out_dir) == 7  # idempotent
    with duckdb.connect(str(database), read_only=True) as connection:
        loaded = connection.execute("SELECT ref_list, count(*) FROM plan_recipients WHERE campaign_id = 'c1' "
                                    "GROUP BY ref_list ORDER BY ref_list").fetchall()
    assert loaded == [("all/clients.csv", 2), ("manual", 1), ("vip/clients.csv", 2), ("vip/clients.csv (2)", 2)]


def test_list4_a_plan_with_two_lists_of_one_name_is_refused_in_one_line_naming_it(bucket):
    """A plan written before REF_LIST was unique: the load names the list and says to plan again."""
    write_list(bucket / "clients.csv", "Mobile;Prénom\n0611111111;Ann\n")
    result = plan_file(write_spec(bucket, lists=["clients.csv", "clients.csv"]), bucket / "plan")
    old = pl.read_parquet(result.recipients).with_columns(pl.lit("clients.csv").alias("REF_LIST"))
    old.write_parquet(result.recipients)
    with pytest.raises(ValueError, match=r"REF_LIST 'clients.csv'.*plan the campaign again \[LIST-4\]"):
        load_plan(bucket / "warehouse.duckdb", "c1", result.out_dir)
