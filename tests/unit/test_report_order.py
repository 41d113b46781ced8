"""REP-2 (issue 11, fast): the report query sorts the stored rows, then reads the list's columns and formats them;
the rows still come in list order (lists by name, each by line), manual numbers last, in the DataFrame and the CSV
alike, on both warehouses."""

from __future__ import annotations

import csv
import io

import pytest
from helpers import write_list, write_spec

from pipelines.plan import plan_file
from pipelines.report import campaign_report, export_csv
from pipelines.warehouse import load_plan


@pytest.fixture(params=["warehouse.sqlite", "warehouse.duckdb"])
def warehouse_name(request) -> str:
    return request.param


def test_rep2_rows_in_list_order_manual_last(bucket, warehouse_name):
    write_list(bucket / "b.csv", "Mobile;Prénom\n" + "".join(f"06{n:08d};B{n}\n" for n in range(1, 301)))
    write_list(bucket / "a.csv", "Mobile;Prénom\n" + "".join(f"07{n:08d};A{n}\n" for n in range(1, 201)))
    spec = write_spec(bucket, lists=["b.csv", "a.csv"], recipients=[{"mobile": "0655555555", "Prénom": "=Man"}])
    database = bucket / warehouse_name
    load_plan(database, "c1", plan_file(spec, bucket / "plan").out_dir)

    expected = ([("a.csv", str(n), f"A{n}") for n in range(1, 201)]
                + [("b.csv", str(n), f"B{n}") for n in range(1, 301)] + [("manual", "1", "=Man")])
    report = campaign_report(database, "c1")
    assert list(zip(report["REF_LIST"], report["ID_LINE"], report["Prénom"])) == expected
    path = bucket / "report.csv"
    assert export_csv(database, "c1", path) == len(expected)
    header, *rows = csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline=""), delimiter=";")
    at = header.index("Prénom")
    assert [(row[0], row[1], row[at]) for row in rows] == [
        (ref, line, "'" + name if name.startswith("=") else name) for ref, line, name in expected]
