"""REP-3: plans are queryable in DuckDB; loads are idempotent; analysts read while nothing is locked."""

from __future__ import annotations

import json

import duckdb
import pytest
from helpers import write_list, write_spec

from pipelines.plan import plan_file
from pipelines.queries import queries
from pipelines.warehouse import connect, load_plan, status_breakdown


@pytest.fixture(params=["warehouse.sqlite", "warehouse.duckdb"])
def warehouse_name(request) -> str:
    """The warehouse as a DuckLake (its SQLite catalog's name) and as the single DuckDB file of old."""
    return request.param


def test_rep3_plan_loaded_into_duckdb_idempotently(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom;Ville\n0611111111;Ann;Nîmes\n0611111111;Ann;Nîmes\nabc;Zoé;\n")
    result = plan_file(write_spec(bucket, lists=["a.csv"]), bucket / "plan")
    database = bucket / "warehouse.duckdb"  # on a lake: tests/integration/test_lake.py
    assert load_plan(database, "camp-1", result.out_dir) == 3
    assert load_plan(database, "camp-1", result.out_dir) == 3  # re-load changes nothing
    assert status_breakdown(database, "camp-1") == [
        (0, "Envoyable", 1, 1), (2, "Numéro mal formaté", 1, 0), (4, "Doublons", 1, 0)]
    with connect(database, read_only=True) as connection:
        rows = connection.execute("SELECT id_line, fields->>'Ville', fields->>'Mobile' FROM plan_recipients "
                                  "ORDER BY id_line").fetchall()
        summary = connection.execute("SELECT summary FROM plan_summaries WHERE campaign_id = 'camp-1'").fetchone()
    assert rows == [(1, "Nîmes", "0611111111"), (2, "Nîmes", "0611111111"), (3, "", "abc")]
    assert json.loads(summary[0])["rows"] == 3


def test_rep3_sql_files_hold_named_blocks():
    assert {"create_schema"} <= set(queries("schema.sql"))
    assert {"delete_plan", "insert_plan", "insert_summary", "status_breakdown"} <= set(queries("plan.sql"))


def _sent_plan(bucket, ledger_records, replies):
    """A planned campaign with a hand-written send ledger (dispatch/ledger) and replies (events/)."""
    import polars as pl

    from pipelines.dispatch import campaign_dirs
    from pipelines.dlr import EventWriter, keyed_rows, part_key

    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Bob\n0633333333;Eve\n")
    plan_dir = plan_file(write_spec(bucket, lists=["a.csv"]), bucket / "c1" / "plan").out_dir
    keys = dict(keyed_rows(pl.read_parquet(plan_dir / "recipients.parquet")).select("ID_LINE", "MESSAGE_KEY")
                .iter_rows())
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    ledger_dir.mkdir(parents=True)
    (ledger_dir / "batch-1.jsonl").write_text("".join(
        json.dumps({"key": part_key(keys[line], 1), **record}) + "\n" for line, record in ledger_records), "utf-8")
    writer = EventWriter(events_dir)
    for kind, message_id, stat, handset, text in replies:
        writer.add(kind=kind, message_id=message_id, stat=stat, handset=handset, text=text, err="", done_date="",
                   service="36184")
    writer.flush()
    return plan_dir, ledger_dir, events_dir


def test_plus4_the_warehouse_and_recipient_statuses_are_one_derivation(bucket, warehouse_name):
    """No final receipt after the validity → 10 even after ENROUTE; a held recipient who replied STOP is 17 and
    not held; a full-width STOP is 17 exactly when it joins the blacklist: in the warehouse and in memory alike."""
    import time

    import polars as pl

    from pipelines.dispatch import ledger_state
    from pipelines.dlr import read_events, recipient_statuses, stop_numbers
    from pipelines.warehouse import connect, load_dispatch

    long_ago = time.time() - 49 * 3600
    plan_dir, ledger_dir, events_dir = _sent_plan(bucket, [
        (1, {"event": "accepted", "status": 0, "message_id": "A", "ts": long_ago}),
        (2, {"event": "held", "status": None, "message_id": None, "ts": time.time()}),
        (3, {"event": "accepted", "status": 0, "message_id": "C", "ts": time.time()}),
    ], [("receipt", "A", "ENROUTE", "33611111111", ""), ("reply", None, None, "33622222222", "STOP"),
        ("receipt", "C", "DELIVRD", "33633333333", ""), ("reply", None, None, "33633333333", "Ｓｔｏｐ")])
    database = bucket / warehouse_name
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", ledger_dir, events_dir)
    with connect(database, read_only=True) as connection:
        in_sql = connection.execute("SELECT id_line, status_code, held, reason FROM message_status "
                                    "WHERE campaign_id = 'c1' ORDER BY id_line").fetchall()
    in_memory = recipient_statuses(pl.read_parquet(plan_dir / "recipients.parquet"), ledger_state(ledger_dir),
                                   read_events(events_dir)).select("ID_LINE", "STATUS_CODE", "HELD", "REASON").rows()
    eve_stopped = "+33633333333" in stop_numbers(read_events(events_dir))
    assert in_sql == in_memory == [(1, 10, False, None), (2, 17, False, None), (3, 17 if eve_stopped else 16, False,
                                                                                 None)]


def test_plus4_late_receipts_match_under_the_campaigns_id_convention_in_the_warehouse(bucket):
    """An SMSC that answers hex ids and writes decimal receipts, part A's receipt "10" arriving late in the shared
    folder, where it spells part 10's id, beside another SMSC's hex receipt "1F": the campaign's own receipts
    vote for its id convention too, so A's receipt is kept and goes to A, the other SMSC's is not loaded, and the
    warehouse agrees with recipient_statuses on all the events (one matcher: status.sql's receipt_parts)."""
    import time
    from datetime import datetime, timezone

    import polars as pl

    from pipelines.dispatch import ledger_state
    from pipelines.dlr import EventWriter, read_events, recipient_statuses
    from pipelines.warehouse import connect, load_dispatch, load_plan

    now = time.time()
    plan_dir, ledger_dir, events_dir = _sent_plan(bucket, [
        (1, {"event": "accepted", "status": 0, "message_id": "A", "ts": now}),
        (2, {"event": "accepted", "status": 0, "message_id": "10", "ts": now}),
        (3, {"event": "accepted", "status": 0, "message_id": "1F", "ts": now}),
    ], [("receipt", "16", "DELIVRD", "33622222222", ""), ("receipt", "31", "DELIVRD", "33633333333", "")])
    shared = EventWriter(bucket / "shared-events")
    for minute, (message_id, stat, handset) in enumerate([("10", "UNDELIV", "33611111111"),
                                                          ("1F", "UNDELIV", "33644444444"),  # another SMSC's
                                                          ("99999", "DELIVRD", "33699999999")]):
        shared.add(kind="receipt", message_id=message_id, stat=stat, handset=handset, text="", err="",
                   done_date="", service="36184",
                   received_at=datetime.fromtimestamp(now + 60 * (minute + 1), timezone.utc))
    shared.flush()
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    loaded = load_dispatch(database, "c1", ledger_dir, events_dir, shared_events=bucket / "shared-events")
    with connect(database, read_only=True) as connection:
        in_sql = connection.execute("SELECT id_line, status_code FROM message_status WHERE campaign_id = 'c1' "
                                    "ORDER BY id_line").fetchall()
    all_events = pl.concat([read_events(events_dir), read_events(bucket / "shared-events")])
    in_memory = recipient_statuses(pl.read_parquet(plan_dir / "recipients.parquet"), ledger_state(ledger_dir),
                                   all_events).select("ID_LINE", "STATUS_CODE").rows()
    assert in_sql == in_memory == [(1, 20), (2, 16), (3, 16)]
    assert loaded == (3, 3)  # 3 parts; 2 receipts of its own and A's late one
    with connect(database, read_only=True) as connection:
        assert connection.execute("SELECT DISTINCT id_convention FROM receipt_parts").fetchall() == [
            ("decimal receipt, hex id",)]


def test_send7_campaign_stats_count_held_and_resent_parts_in_a_warehouse_made_before_them(bucket):
    """A warehouse file whose `parts` predates the `resent` column gains it on the next write connection, and
    campaign_stats counts the parts resent (their `resend` record overwritten by `accepted`) and held."""
    import time

    from pipelines.report import campaign_stats
    from pipelines.warehouse import connect, load_dispatch

    now = time.time()
    plan_dir, ledger_dir, events_dir = _sent_plan(bucket, [
        (1, {"event": "accepted", "status": 0, "message_id": "A", "ts": now}),
        (2, {"event": "resend", "evidence": "in flight when the sender stopped", "ts": now + 1}),
        (2, {"event": "intent", "ts": now + 2}),
        (2, {"event": "accepted", "status": 0, "message_id": "B", "ts": now + 3}),
        (3, {"event": "held", "evidence": "in flight when the sender stopped", "ts": now + 1}),
    ], [])
    database = bucket / "warehouse.duckdb"
    with connect(database) as connection:
        connection.execute("ALTER TABLE parts DROP COLUMN resent")  # the file as an older smsflow left it
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", ledger_dir, events_dir)
    with connect(database, read_only=True) as connection:
        parts = connection.execute("SELECT id_line, outcome, resent FROM parts ORDER BY id_line").fetchall()
        figures = connection.execute("SELECT held, held_parts, resent_parts FROM campaign_stats").fetchall()
    assert parts == [(1, "accepted", False), (2, "accepted", True), (3, "held", False)]
    assert figures == [(1, 1, 1)]
    stats = campaign_stats(database, "c1")
    assert (stats["held"], stats["held_parts"], stats["resent_parts"]) == (1, 1, 1)


def test_rep3_the_lake_attaches_offline_from_the_extension_packages(tmp_path):
    """The DuckLake, SQLite and PostgreSQL extensions load from their PyPI packages' files (built for the pinned
    duckdb), DuckDB's own downloads turned off and its extension folder empty: no network is needed."""
    from pipelines import lake

    connection = lake.session()
    connection.execute("SET extension_directory = ?", [str(tmp_path / "no-extensions")])
    loaded = connection.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded AND extension_name "
                                "IN ('ducklake', 'sqlite_scanner', 'postgres_scanner') ORDER BY 1").fetchall()
    assert loaded == [("ducklake",), ("postgres_scanner",), ("sqlite_scanner",)]
    assert lake.extension_file("ducklake").parts[-4:] == (
        "duckdb_extension_ducklake", "extensions", f"v{duckdb.__version__}", "ducklake.duckdb_extension")
    assert connection.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone() == (False,)
    connection.execute(f"ATTACH 'ducklake:sqlite:{tmp_path / 'w.sqlite'}' AS w (DATA_PATH '{tmp_path / 'w'}/')")
    connection.execute("CREATE TABLE w.t AS SELECT 1 AS n")
    assert connection.execute("SELECT n FROM w.t").fetchall() == [(1,)]
    assert not (tmp_path / "no-extensions").exists()  # nothing was downloaded there


def test_rep3_a_warehouse_location_names_a_lake_or_a_file(tmp_path, monkeypatch):
    """bucket/warehouse.sqlite: a lake with its data beside it; a .duckdb path: the single file of old, unless
    SMSFLOW_WAREHOUSE names a PostgreSQL catalog, which then holds every warehouse's catalog (data in the bucket)."""
    from pipelines import lake

    monkeypatch.delenv("SMSFLOW_WAREHOUSE", raising=False)
    monkeypatch.delenv("SMSFLOW_WAREHOUSE_DATA", raising=False)
    local = lake.locate(tmp_path / "bucket" / "warehouse.sqlite")
    assert (local.kind, local.data) == ("sqlite", tmp_path / "bucket" / "warehouse")
    assert local.attach_sql() == f"ducklake:sqlite:{tmp_path / 'bucket' / 'warehouse.sqlite'}"
    assert not lake.is_lake(tmp_path / "bucket" / "warehouse.duckdb")
    assert lake.locate("postgresql+psycopg://smsflow@db:5432/lake").catalog == \
        "postgres:postgresql://smsflow@db:5432/lake"
    monkeypatch.setenv("SMSFLOW_WAREHOUSE", "postgresql://smsflow@db:5432/lake")
    shared = lake.locate(tmp_path / "bucket" / "warehouse.duckdb")
    assert lake.is_lake(tmp_path / "bucket" / "warehouse.duckdb")
    assert (shared.catalog, shared.data) == ("postgres:postgresql://smsflow@db:5432/lake",
                                             tmp_path / "bucket" / "warehouse")


def test_plus4_a_part_expires_after_its_load_in_the_stored_rows(bucket, warehouse_name):
    """The warehouse keeps each load's derived rows (`messages`) and applies the clock when read: a part accepted
    an hour ago without a final receipt reads as sent (24) now and as "no final receipt" (10) once it is older
    than the validity period, with no load in between; a delivered one and a refused one do not change."""
    import time

    from pipelines.report import campaign_stats
    from pipelines.warehouse import connect, load_dispatch

    an_hour_ago = time.time() - 3600
    plan_dir, ledger_dir, events_dir = _sent_plan(bucket, [
        (1, {"event": "accepted", "status": 0, "message_id": "A", "ts": an_hour_ago}),
        (2, {"event": "accepted", "status": 0, "message_id": "B", "ts": an_hour_ago}),
        (3, {"event": "refused", "status": 0x45, "message_id": None, "ts": an_hour_ago}),
    ], [("receipt", "A", "ENROUTE", "33611111111", ""), ("receipt", "B", "DELIVRD", "33622222222", "")])
    database = bucket / warehouse_name
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", ledger_dir, events_dir)

    def statuses():
        with connect(database, read_only=True) as connection:
            return connection.execute("SELECT id_line, status_code FROM message_status WHERE campaign_id = 'c1' "
                                      "ORDER BY id_line").fetchall()

    assert statuses() == [(1, 24), (2, 16), (3, 12)]
    with connect(database) as connection:  # a validity period of 30 minutes: the hour-old part has expired
        connection.execute("UPDATE status_rules SET validity_seconds = 1800")
    assert statuses() == [(1, 10), (2, 16), (3, 12)]
    assert sorted(row["code"] for row in campaign_stats(database, "c1")["statuses"]) == [10, 12, 16]


def test_rep2_duckdb_writes_the_very_csv_of_write_csv(bucket, warehouse_name):
    """export_csv (DuckDB's CSV writer, no row through Python) and write_csv(campaign_report) write the same
    bytes: formulas in cells and headers neutralised, a valid E.164 number as is, `;`, quotes and line breaks
    quoted, empty cells, accents, dates in Paris time; for the whole campaign and for one category."""
    import time

    from pipelines.report import campaign_report, export_csv, write_csv
    from pipelines.warehouse import load_dispatch

    write_list(bucket / "t.csv", 'Mobile;=Note;Nom;Ville\n0611111111;=1+1;"Du;pont";\n'
               '0622222222;@SUM(A1);"a ""b"" c";Nîmes\n0633333333;-2;"deux\nlignes";\tx\nabc;+x;Zoé;Lyon\n')
    plan_dir = plan_file(write_spec(bucket, lists=["t.csv"], message="Bonjour ${Nom}"), bucket / "c1" / "plan").out_dir
    import polars as pl

    from pipelines.dispatch import campaign_dirs
    from pipelines.dlr import EventWriter, keyed_rows, part_key

    keys = dict(keyed_rows(pl.read_parquet(plan_dir / "recipients.parquet")).select("ID_LINE", "MESSAGE_KEY")
                .iter_rows())
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    ledger_dir.mkdir(parents=True)
    (ledger_dir / "b.jsonl").write_text("".join(
        json.dumps({"key": part_key(keys[line], 1), "event": "accepted", "status": 0, "message_id": f"m{line}",
                    "ts": time.time()}) + "\n" for line in (1, 2, 3)), "utf-8")
    writer = EventWriter(events_dir)
    writer.add(kind="receipt", message_id="m1", stat="DELIVRD", handset="", text="", err="", done_date="",
               service="36184")
    writer.add(kind="reply", message_id=None, stat=None, handset="33622222222", text="=HYPERLINK(x)", err="",
               done_date="", service="36184")
    writer.flush()
    database = bucket / warehouse_name
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", ledger_dir, events_dir)
    for category in ("all", "delivered", "invalid"):
        expected = write_csv(campaign_report(database, "c1", category), bucket / f"polars-{category}.csv")
        written = bucket / f"duckdb-{category}.csv"
        rows = export_csv(database, "c1", written, category)
        assert written.read_bytes() == expected.read_bytes(), category
        assert rows == campaign_report(database, "c1", category).height
    text = (bucket / "duckdb-all.csv").read_text(encoding="utf-8-sig")
    assert "'=Note" in text and "'=HYPERLINK(x)" in text and '"Du;pont"' in text and "+33611111111;16" in text
