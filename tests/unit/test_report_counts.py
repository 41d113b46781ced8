"""REP-1 (issue 11, fast): `smsflow stats` reads the counts each load writes (`message_counts`, `part_counts`), and
they say what the messages say: late receipts included, the clock applied when read, a warehouse made before them
backfilled."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from helpers import write_list, write_spec

from pipelines.plan import plan_file
from pipelines.report import campaign_stats
from pipelines.warehouse import connect, load_dispatch, load_plan

# The counts of the messages themselves (message_rows), by what the figures tell apart.
FROM_MESSAGES = ("SELECT presend, status_code, held, reply IS NOT NULL, count(*) FROM message_rows "
                 "WHERE campaign_id = 'c1' GROUP BY ALL ORDER BY ALL")
FROM_COUNTS = ("SELECT presend, status_code, held, replied, sum(messages)::BIGINT FROM message_count_rows "
               "WHERE campaign_id = 'c1' GROUP BY ALL ORDER BY ALL")


@pytest.fixture(params=["warehouse.sqlite", "warehouse.duckdb"])
def warehouse_name(request) -> str:
    """The warehouse as a DuckLake (its SQLite catalog's name) and as the single DuckDB file of old."""
    return request.param


def _campaign(bucket, an_hour_ago: float):
    """Five list rows, one a badly written number (pre-send): Ann's part accepted with no receipt yet, Bob's
    delivered and a reply, Eve's refused, Zoé's held by the in-flight policy and a STOP reply."""
    import polars as pl

    from pipelines.dispatch import campaign_dirs
    from pipelines.dlr import EventWriter, keyed_rows, part_key

    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Bob\n0633333333;Eve\n"
                                 "0644444444;Zoé\nabc;Nope\n")
    plan_dir = plan_file(write_spec(bucket, lists=["a.csv"]), bucket / "c1" / "plan").out_dir
    keys = dict(keyed_rows(pl.read_parquet(plan_dir / "recipients.parquet")).select("ID_LINE", "MESSAGE_KEY")
                .iter_rows())
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    ledger_dir.mkdir(parents=True)
    records = [(1, {"event": "accepted", "status": 0, "message_id": "A", "ts": an_hour_ago}),
               (2, {"event": "accepted", "status": 0, "message_id": "B", "ts": an_hour_ago}),
               (3, {"event": "refused", "status": 0x45, "message_id": None, "ts": an_hour_ago}),
               (4, {"event": "held", "evidence": "in flight when the sender stopped", "ts": an_hour_ago})]
    (ledger_dir / "batch-1.jsonl").write_text("".join(
        json.dumps({"key": part_key(keys[line], 1), **record}) + "\n" for line, record in records), "utf-8")
    writer = EventWriter(events_dir)
    for kind, message_id, stat, handset, text in [("receipt", "B", "DELIVRD", "33622222222", ""),
                                                  ("reply", None, None, "33622222222", "Merci"),
                                                  ("reply", None, None, "33644444444", "STOP")]:
        writer.add(kind=kind, message_id=message_id, stat=stat, handset=handset, text=text, err="", done_date="",
                   service="36184")
    writer.flush()
    return plan_dir, ledger_dir, events_dir


def _counts(database) -> tuple[list, list]:
    with connect(database, read_only=True) as connection:
        return connection.execute(FROM_MESSAGES).fetchall(), connection.execute(FROM_COUNTS).fetchall()


def _figures(database) -> tuple:
    stats = campaign_stats(database, "c1")
    return (stats["rows"], sorted((row["code"], row["recipients"]) for row in stats["statuses"]), stats["sent"],
            stats["delivered"], stats["replies"], stats["stops"], stats["held"], stats["held_parts"])


def test_rep1_stats_from_the_counts_equal_the_messages_late_receipts_and_clock_included(bucket, warehouse_name):
    an_hour_ago = time.time() - 3600
    plan_dir, ledger_dir, events_dir = _campaign(bucket, an_hour_ago)
    database = bucket / warehouse_name
    load_plan(database, "c1", plan_dir)
    from_messages, from_counts = _counts(database)
    assert from_counts == from_messages  # after the plan alone: every sendable row pending (1)
    assert _figures(database)[:2] == (5, [(1, 4), (2, 1)])

    load_dispatch(database, "c1", ledger_dir, events_dir)
    from_messages, from_counts = _counts(database)
    assert from_counts == from_messages
    # Ann sent (24, open), Bob delivered (16) and replied, Eve refused (12), Zoé held then STOP (17: billed and
    # delivered, not held; her part is), a bad number (2)
    assert _figures(database) == (5, [(2, 1), (12, 1), (16, 1), (17, 1), (24, 1)], 3, 2, 2, 1, 0, 1)

    # Ann's receipt arrives late, in the receiver's shared folder: the next load counts her delivered.
    from pipelines.dlr import EventWriter

    shared = EventWriter(bucket / "shared-events")
    shared.add(kind="receipt", message_id="A", stat="DELIVRD", handset="33611111111", text="", err="",
               done_date="", service="36184", received_at=datetime.fromtimestamp(an_hour_ago + 600, timezone.utc))
    shared.flush()
    load_dispatch(database, "c1", ledger_dir, events_dir, shared_events=bucket / "shared-events")
    from_messages, from_counts = _counts(database)
    assert from_counts == from_messages
    assert _figures(database) == (5, [(2, 1), (12, 1), (16, 2), (17, 1)], 3, 3, 2, 1, 0, 1)


def test_rep1_the_clock_expires_counted_messages_without_a_load(bucket, warehouse_name):
    """Ann's part, accepted an hour ago with no receipt, is sent (24) in the counts as in the rows, and becomes
    "no final receipt" (10) in both once the validity period is shorter than an hour: no load in between."""
    plan_dir, ledger_dir, events_dir = _campaign(bucket, time.time() - 3600)
    database = bucket / warehouse_name
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", ledger_dir, events_dir)
    assert (24, 1) in _figures(database)[1]
    with connect(database) as connection:
        connection.execute("UPDATE status_rules SET validity_seconds = 1800")
    from_messages, from_counts = _counts(database)
    assert from_counts == from_messages
    statuses = _figures(database)[1]
    assert (10, 1) in statuses and all(code != 24 for code, _ in statuses)


def test_rep1_a_warehouse_made_before_the_counts_gets_them_on_its_next_write_connection(bucket, warehouse_name):
    """A lake of schema 4 (and a file) with messages but no counts: the next write connection takes them once."""
    from pipelines import lake

    plan_dir, ledger_dir, events_dir = _campaign(bucket, time.time() - 3600)
    database = bucket / warehouse_name
    load_plan(database, "c1", plan_dir)
    load_dispatch(database, "c1", ledger_dir, events_dir)
    expected = _figures(database)
    with connect(database) as connection:
        if lake.is_lake(database):  # as a lake of schema 4 was: the tables empty, the version before them
            connection.execute("DELETE FROM message_counts")
            connection.execute("DELETE FROM part_counts")
            connection.execute("DELETE FROM lake_schema")
            connection.execute("INSERT INTO lake_schema VALUES (4, current_timestamp)")
        else:
            connection.execute("DROP TABLE message_counts")
            connection.execute("DROP TABLE part_counts")
    lake.close_all()  # a new process: the lake attached again, its schema checked
    connect(database).close()
    from_messages, from_counts = _counts(database)
    assert from_counts == from_messages
    assert _figures(database) == expected
