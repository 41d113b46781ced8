"""REP-2 (issue 11): the cells of a plan row that never change after the plan (REF_LIST, ID_LINE, INT_MOBILE, MF_*,
the list's columns) are formatted once when the plan is loaded, neutralised and quoted as the CSV writes them
(plan_recipients.report_head, report_tail, report_order); export_csv joins the statuses to them. The CSV keeps the
very bytes of write_csv(campaign_report), which formats every cell from the rows; warehouses and lakes written
before the cells get them on their next write connection."""

from __future__ import annotations

import pytest
from helpers import write_list, write_spec

from pipelines.plan import plan_file
from pipelines.report import campaign_report, export_csv, write_csv
from pipelines.warehouse import connect, load_plan

# Cells DuckDB's CSV writer quotes (empty, `;`, `"`, LF, CR) or not (tab, spaces), formulas (= + - @ tab CR), a
# header that needs both, accents, a `/` and a `~` in a header (JSON pointers), a row without its last cells.
LIST = ('Mobile;=Note;Nom;a/b~c\n'
        '0611111111;=1+1;"Du;pont";x\n'
        '0622222222;@SUM(A1);"a ""b"" c";\n'
        '0633333333;-2;"deux\nlignes";\tx\n'
        '0644444444;" lead";"cr\rz";+33 6 00\n'
        '0655555555;"";Zoé;"~"\n'
        'abc;+x;;\n')


@pytest.fixture(params=["warehouse.sqlite", "warehouse.duckdb"])
def warehouse_name(request) -> str:
    return request.param


def planned(bucket, database, campaign_id: str = "c1"):
    write_list(bucket / "t;1.csv", LIST)
    spec = write_spec(bucket, lists=["t;1.csv"], message="Bonjour ${Nom}",
                      recipients=[{"mobile": "0699999999", "Nom": "=Man"}])
    plan_dir = plan_file(spec, bucket / campaign_id / "plan").out_dir
    load_plan(database, campaign_id, plan_dir)
    return plan_dir


def same_bytes(bucket, database, campaign_id: str = "c1") -> bytes:
    """The CSV export_csv writes from the stored cells, checked against write_csv of the rows; returned."""
    expected = write_csv(campaign_report(database, campaign_id), bucket / "polars.csv").read_bytes()
    written = bucket / "duckdb.csv"
    assert export_csv(database, campaign_id, written) == campaign_report(database, campaign_id).height
    assert written.read_bytes() == expected
    return expected


def test_rep2_the_stored_cells_are_the_csvs_quoted_and_neutralised(bucket, warehouse_name):
    database = bucket / warehouse_name
    planned(bucket, database)
    text = same_bytes(bucket, database).decode("utf-8-sig")
    assert '"t;1.csv";1;+33611111111;' in text and "'=1+1" in text and '"a ""b"" c"' in text
    assert ";abc;'+x;\"\";\"\"\n" in text  # empty cells of a row read as "" (not NULL): quoted
    assert '"deux\nlignes"' in text and "'\tx" in text and "'+33 6 00" in text and ';"";Zoé;' in text
    assert text.rstrip("\n").endswith("manual;1;+33699999999;1;En cours de traitement;;;;;;;True;True;FR;;;'=Man;")
    with connect(database, read_only=True) as connection:  # what the export reads: the cells as the CSV has them
        head, tail = connection.execute("SELECT report_head, report_tail FROM plan_recipients "
                                        "WHERE id_line = 1 AND ref_list <> 'manual'").fetchone()
    assert (head, tail) == ('"t;1.csv";1;+33611111111', 'True;True;FR;0611111111;\'=1+1;"Du;pont";x')


def test_rep2_a_warehouse_from_before_the_cells_gets_them_on_its_next_write_connection(bucket, warehouse_name):
    """A single file and a version-5 lake (written before the cells): the columns are added and filled once, by
    the next write connection (the file's schema) or the lake's version 6; the CSV is byte for byte the same."""
    from pipelines import lake

    database = bucket / warehouse_name
    planned(bucket, database)
    before = same_bytes(bucket, database)
    with connect(database) as connection:
        for column in ("report_order", "report_head", "report_tail"):
            connection.execute(f"ALTER TABLE plan_recipients DROP COLUMN {column}")
        if lake.is_lake(database):
            connection.execute("DELETE FROM lake_schema")
            connection.execute("INSERT INTO lake_schema VALUES (5, current_timestamp)")
    lake.close_all()  # a new process: it finds version 5
    with connect(database, read_only=True) as connection:
        columns = connection.execute("SELECT column_name FROM information_schema.columns "
                                     "WHERE table_name = 'plan_recipients'").fetchall()
    assert ("report_head",) not in columns
    assert export_csv(database, "c1", bucket / "old.csv") == 7  # the rows' own query, before the backfill
    assert (bucket / "old.csv").read_bytes() == before
    connect(database).close()  # a write connection: the backfill
    with connect(database, read_only=True) as connection:
        assert connection.execute("SELECT count(*), count(report_head), count(report_tail), count(DISTINCT "
                                  "report_order) FROM plan_recipients").fetchone() == (7, 7, 7, 7)
    assert same_bytes(bucket, database) == before
