"""Receipt matching benchmark (PLUS-4): an SMSC that answers hex ids and writes decimal receipts.

    .venv/bin/python bench/receipts.py [--messages 500000] [--repeat 2]

Two-part messages, part ids 1..2n answered in hex, receipts written in decimal; every id that is a multiple
of 7 is UNDELIV, the others DELIVRD, so a receipt given to the wrong part shows as a wrong status. Prints, for
dlr.recipient_statuses and for the warehouse (load_dispatch, then the message_status view), the time and the
count of recipients whose status is not the one their own receipts give (must be 0). Never asserts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.dlr import EVENT_SCHEMA, KEY_SEPARATOR, keyed_rows, recipient_statuses  # noqa: E402


def campaign(messages: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(plan, ledger, events, expected): part 1 of message j has id j, part 2 id messages + j (1-based)."""
    line = pl.int_range(1, messages + 1, eager=True)
    plan = pl.DataFrame({"REF_LIST": ["l"] * messages, "ID_LINE": line,
                         "INT_MOBILE": "+3361" + (line - 1).cast(pl.String).str.zfill(7),
                         "MESSAGE": ["x" * 200] * messages, "PARTS": [2] * messages})
    keys = keyed_rows(plan).get_column("MESSAGE_KEY")
    ids = pl.int_range(1, 2 * messages + 1, eager=True)
    ledger = pl.DataFrame({"key": pl.concat([keys + KEY_SEPARATOR + "1", keys + KEY_SEPARATOR + "2"]),
                           "outcome": ["accepted"] * (2 * messages), "status": [0] * (2 * messages),
                           "message_id": pl.DataFrame({"id": ids}).select(
                               pl.col("id").map_batches(lambda s: pl.Series([format(i, "X") for i in s]),
                                                        return_dtype=pl.String)).to_series(),
                           "ts": [time.time()] * (2 * messages)})
    at = datetime.now(timezone.utc)
    stat = pl.when(ids % 7 == 0).then(pl.lit("UNDELIV")).otherwise(pl.lit("DELIVRD"))
    events = pl.DataFrame({"id": ids}).select(
        pl.lit("receipt").alias("kind"), pl.lit(at).alias("received_at"), pl.col("id").cast(pl.String)
        .alias("message_id"), stat.alias("stat"), *(pl.lit("").alias(name) for name in
                                                     ("err", "done_date", "handset", "service", "text"))
    ).cast(EVENT_SCHEMA)
    undelivered = ((line % 7 == 0) | ((line + messages) % 7 == 0))
    expected = pl.DataFrame({"ID_LINE": line, "EXPECTED": pl.Series(undelivered).replace_strict(
        {True: 20, False: 16}, return_dtype=pl.Int32)})
    return plan, ledger, events, expected


def wrong(statuses: pl.DataFrame, expected: pl.DataFrame) -> int:
    """Recipients whose status is not the one their own parts' receipts give."""
    joined = expected.join(statuses.select("ID_LINE", "STATUS_CODE"), on="ID_LINE", how="left")
    return joined.filter(pl.col("STATUS_CODE").ne_missing(pl.col("EXPECTED"))).height


def warehouse_run(plan, ledger, events, expected) -> tuple[float, int]:
    """The same campaign through the warehouse: plan, ledger and events files loaded, message_status read."""
    from pipelines.warehouse import connect, load_dispatch, load_plan

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "c1"
        (root / "plan").mkdir(parents=True)
        plan.select("REF_LIST", "ID_LINE", pl.col("INT_MOBILE").alias("MOBILE_RAW"), "INT_MOBILE",
                    pl.lit(True).alias("MF_VALID"), pl.lit(True).alias("MF_ALLOW"), pl.lit("FR").alias("MF_COUNTRY"),
                    pl.lit(None, dtype=pl.Int32).alias("STATUS_CODE"), pl.lit(None, dtype=pl.String)
                    .alias("STATUS_TEXT"), "MESSAGE", pl.lit("GSM7").alias("ENCODING"), "PARTS",
                    pl.lit("Ann").alias("Prénom")).write_parquet(root / "plan" / "recipients.parquet")
        (root / "plan" / "summary.json").write_text(json.dumps({
            "campaign": {"name": "bench", "type": "marketing"}, "rows": plan.height, "sendable": plan.height,
            "credits": 2 * plan.height}), encoding="utf-8")
        ledger_dir, events_dir = root / "dispatch" / "ledger", root / "dispatch" / "events"
        ledger_dir.mkdir(parents=True)
        events_dir.mkdir(parents=True)
        ledger.select(pl.col("key"), pl.lit("accepted").alias("event"), "status", "message_id", "ts") \
            .write_ndjson(ledger_dir / "batch-1.jsonl")
        events.write_parquet(events_dir / "events-1.parquet")
        database = Path(folder) / "warehouse.duckdb"
        load_plan(database, "c1", root / "plan")
        start = time.perf_counter()
        load_dispatch(database, "c1", ledger_dir, events_dir, plan_dir=root / "plan")
        with connect(database, read_only=True) as connection:
            statuses = connection.sql("SELECT id_line AS \"ID_LINE\", status_code AS \"STATUS_CODE\" "
                                      "FROM message_status WHERE campaign_id = 'c1'").pl()
        elapsed = time.perf_counter() - start
    return elapsed, wrong(statuses, expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-warehouse", action="store_true")
    arguments = parser.parse_args()
    plan, ledger, events, expected = campaign(arguments.messages)
    for _ in range(arguments.repeat):
        start = time.perf_counter()
        statuses = recipient_statuses(plan, ledger, events)
        elapsed = time.perf_counter() - start
        print(f"recipient_statuses, {arguments.messages:,} messages, {ledger.height:,} parts: {elapsed:.2f} s, "
              f"wrong statuses: {wrong(statuses, expected):,}", flush=True)
    if not arguments.no_warehouse:
        for _ in range(arguments.repeat):
            elapsed, count = warehouse_run(plan, ledger, events, expected)
            print(f"warehouse load_dispatch + message_status: {elapsed:.2f} s, wrong statuses: {count:,}",
                  flush=True)


if __name__ == "__main__":
    main()
