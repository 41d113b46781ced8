"""REP-1 with PLUS-7: the report shows the rows capped by the frequency cap and those held out."""

from __future__ import annotations

import polars as pl
from helpers import mobiles, write_list, write_spec

from pipelines.plan import plan_file
from pipelines.report import campaign_report, campaign_stats
from pipelines.warehouse import load_plan


def test_rep1_plus7_stats_and_categories_show_capped_and_holdout_rows(bucket):
    numbers = mobiles(200)
    write_list(bucket / "a.csv", "Mobile;Prénom\n" + "".join(f"{n};P\n" for n in numbers))
    result = plan_file(write_spec(bucket, lists=["a.csv"], type="marketing", message="Promo STOP 36184",
                                  options={"holdout": 20}), bucket / "plan")
    plan = pl.read_parquet(result.recipients)
    held = plan.filter(pl.col("STATUS_CODE") == 41).height
    assert held > 0
    # Two sendable rows as the plan writes numbers at the account's cap (the store's input, PLUS-7).
    capped = plan.with_row_index().filter(pl.col("STATUS_CODE").is_null()).get_column("index").head(2)
    plan.with_columns(pl.when(pl.int_range(pl.len()).is_in(capped.implode())).then(pl.lit(40, pl.Int32))
                      .otherwise(pl.col("STATUS_CODE")).alias("STATUS_CODE")).write_parquet(result.recipients)
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", result.out_dir)

    figures = campaign_stats(database, "c1")
    assert (figures["capped"], figures["holdout"], figures["sent"]) == (2, held, 0)
    texts = {item["code"]: (item["text"], item["recipients"]) for item in figures["statuses"]}
    assert texts[40] == ("Pression commerciale : plafond de fréquence atteint", 2)
    assert texts[41] == ("Groupe témoin, non envoyé", held)
    assert campaign_report(database, "c1", "capped").get_column("STATUS_CODE").to_list() == ["40", "40"]
    assert campaign_report(database, "c1", "holdout").height == held
