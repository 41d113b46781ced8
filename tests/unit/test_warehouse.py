"""REP-3: plans are queryable in DuckDB; loads are idempotent; analysts read while nothing is locked."""

from __future__ import annotations

import json

import duckdb
from helpers import write_list, write_spec

from pipelines.plan import plan_file
from pipelines.warehouse import load_plan, queries, status_breakdown


def test_rep3_plan_loaded_into_duckdb_idempotently(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom;Ville\n0611111111;Ann;Nîmes\n0611111111;Ann;Nîmes\nabc;Zoé;\n")
    result = plan_file(write_spec(bucket, lists=["a.csv"]), bucket / "plan")
    database = bucket / "warehouse.duckdb"
    assert load_plan(database, "camp-1", result.out_dir) == 3
    assert load_plan(database, "camp-1", result.out_dir) == 3  # re-load changes nothing
    assert status_breakdown(database, "camp-1") == [
        (0, "Envoyable", 1, 1), (2, "Numéro mal formaté", 1, 0), (4, "Doublons", 1, 0)]
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute("SELECT id_line, fields->>'Ville', fields->>'Mobile' FROM plan_recipients "
                                  "ORDER BY id_line").fetchall()
        summary = connection.execute("SELECT summary FROM plan_summaries WHERE campaign_id = 'camp-1'").fetchone()
    assert rows == [(1, "Nîmes", "0611111111"), (2, "Nîmes", "0611111111"), (3, "", "abc")]
    assert json.loads(summary[0])["rows"] == 3


def test_rep3_sql_files_hold_named_blocks():
    assert {"create_schema"} <= set(queries("schema.sql"))
    assert {"delete_plan", "insert_plan", "upsert_summary", "status_breakdown"} <= set(queries("plan.sql"))
