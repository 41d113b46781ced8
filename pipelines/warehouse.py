"""The warehouse (REP-3): a DuckLake (pipelines.lake: a SQLite or PostgreSQL catalog, Parquet data under the bucket)
that any number of processes load and read at once, or, for a location that names no lake, the single DuckDB file
of old. SQL lives in `sql/*.sql` as named blocks, values are bound parameters."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import duckdb

from pipelines import lake
from pipelines.layout import CampaignPaths, read_summary
from pipelines.queries import (backfill_report_cells, count_messages, has_report_cells, install_rules, install_views,
                               queries, refresh_messages, report_cells_sql)

log = logging.getLogger(__name__)

LOCK_WAIT = 600.0  # seconds a connection waits for another process's hold on a single warehouse file to end


def _open(database: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    """The file opened, waiting while another process holds it: DuckDB lets one process write a file (two Airflow
    runs planning at once, a `smsflow load` beside a run's report), and a second one fails at once otherwise."""
    import time

    deadline, pause = time.monotonic() + wait, 0.05
    while True:
        try:
            return duckdb.connect(str(database), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                raise
            if pause == 0.05:
                log.info("the warehouse %s is held by another process; waiting up to %.0f s", database, wait)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


LAKE_NAME = "warehouse.sqlite"  # a bucket's lake: this catalog, its data in bucket/warehouse/


def in_bucket(bucket: Path) -> Path:
    """The location of a bucket's lake (its SQLite catalog), for callers that name a bucket's warehouse."""
    return Path(bucket) / LAKE_NAME


def exists(database) -> bool:
    """Whether there is a warehouse at this location (a lake's catalog, or a DuckDB file)."""
    return lake.locate(database).exists() if lake.is_lake(database) else Path(database).is_file()


def connect(database, read_only: bool = False, *, wait: float = LOCK_WAIT,
            snapshot: int | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse at `database`, its tables, status rules and views in place.

    A lake location (`bucket/warehouse.sqlite`, a PostgreSQL URL, or any while SMSFLOW_WAREHOUSE is set): the lake
    attached as the default catalog, never waiting on another process; `snapshot`: as it was at that version.
    A DuckDB file: its schema, rules and views created on every write connection; while another process holds the
    file, it waits for it (up to `wait` seconds) instead of failing.
    """
    if lake.is_lake(database):
        return lake.connect(database, read_only, snapshot=snapshot)
    if snapshot is not None:
        raise ValueError(f"{database} is a single DuckDB file, which keeps no snapshots: name a lake [REP-3]")
    connection = _open(database, read_only, wait)
    if not read_only:
        schema = queries("schema.sql")
        if connection.execute(schema["parts_keyed_by_line"]).fetchone()[0]:
            connection.execute(schema["drop_parts"])
        had_messages = connection.execute(schema["has_messages"]).fetchone()[0]
        had_counts = connection.execute(schema["has_message_counts"]).fetchone()[0]
        had_cells = has_report_cells(connection)
        connection.execute(schema["create_schema"])
        install_rules(connection)
        install_views(connection)
        if not had_messages:
            connection.execute(queries("status.sql")["backfill_messages"])
        if not had_counts:
            connection.execute(queries("status.sql")["backfill_counts"])
        if not had_cells:  # REP-2: a file written before the stored report cells
            backfill_report_cells(connection)
    return connection


def snapshot_version(database) -> int:
    """The lake's latest snapshot: `connect(database, read_only=True, snapshot=...)` reads it again later."""
    with connect(database, read_only=True) as connection:
        return connection.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()[0]


def in_background(work):
    """`work()` run as background work (issue 11): in a thread of its own whose CPU priority is SMSFLOW_LOAD_NICE
    steps below the caller's (`lake.load_priority`), so an analyst's query keeps the cores while loads run; the
    threads it starts (DuckDB's, for a connection it opens first) inherit that priority. The caller's own thread
    keeps its priority (on Linux a priority is a thread's; elsewhere, and with SMSFLOW_LOAD_NICE=0, `work()` runs
    here as it is). Returns what `work()` returns, raises what it raises."""
    import sys
    import threading

    nice = lake.load_priority().nice
    if not nice or not sys.platform.startswith("linux"):
        return work()
    outcome: dict = {}

    def run() -> None:
        try:
            thread = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + nice, 19))
            outcome["value"] = work()
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error

    worker = threading.Thread(target=run, name="smsflow-load")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _write(connection: duckdb.DuckDBPyConnection, body) -> None:
    """`body(connection)` in one transaction, run again whole when the lake reports a conflicting commit."""
    def once() -> None:
        connection.begin()
        try:
            body(connection)
            connection.commit()
        except BaseException:
            lake.rollback(connection)
            raise

    lake.retrying(once)


def load_plan(database: Path, campaign_id: str, plan_dir: Path) -> int:
    """Load (or re-load: idempotent) a campaign's plan; returns the number of rows loaded. Background work
    (`in_background`).

    A row is keyed by (campaign, REF_LIST, ID_LINE): the plan names every list uniquely (LIST-4). A plan written
    before it did, with two lists of one name, is refused in one line naming the plan and the list: plan it again.
    """
    return in_background(lambda: _load_plan(database, campaign_id, plan_dir))


def _load_plan(database: Path, campaign_id: str, plan_dir: Path) -> int:
    summary = read_summary(plan_dir)
    plan = queries("plan.sql")
    recipients = str(CampaignPaths.of_plan(plan_dir).recipients)
    values = {"campaign_id": campaign_id, "name": summary.campaign.name, "type": summary.campaign.type,
              "rows": summary.rows, "sendable": summary.sendable, "credits": summary.credits,
              "summary": json.dumps(summary.model_dump(mode="json"), ensure_ascii=False)}

    cells, cell_values = report_cells_sql(summary.columns)  # REP-2's cells formatted once, here

    def refuse_shared(connection) -> None:
        shared = connection.execute(queries("load.sql")["shared_list_names"],
                                    {"recipients_path": recipients}).fetchone()
        if shared is not None:
            raise ValueError(f"{recipients}: two lists are both named REF_LIST {shared[0]!r}, so their rows "
                             "cannot be told apart (a plan written before list names were unique per "
                             "campaign): plan the campaign again [LIST-4]")

    def body(connection) -> None:
        connection.execute(plan["delete_plan"], {"campaign_id": campaign_id})
        try:
            connection.execute(plan["insert_plan"].format(**cells), {"campaign_id": campaign_id,
                                                                    "recipients_path": recipients, **cell_values})
        except duckdb.ConstraintException:
            lake.rollback(connection)
            connection.begin()  # _write rolls back again
            refuse_shared(connection)
            raise
        connection.execute(plan["delete_summary"], {"campaign_id": campaign_id})
        connection.execute(plan["insert_summary"], values)
        refresh_messages(connection, campaign_id)

    with connect(database) as connection:
        if lake.is_lake(database):
            refuse_shared(connection)  # a lake keeps no keys: the plan is checked before it is loaded
        _write(connection, body)
        (count,) = connection.execute(plan["count_plan"], {"campaign_id": campaign_id}).fetchone()
    return count


def status_breakdown(database: Path, campaign_id: str) -> list[tuple]:
    """(status code, text, recipients, credits) of a campaign's plan, read-only."""
    with connect(database, read_only=True) as connection:
        return connection.execute(queries("plan.sql")["status_breakdown"], {"campaign_id": campaign_id}).fetchall()


class DispatchLoad(tuple):
    """What load_dispatch loaded: the (parts, events) pair its callers unpack and compare, and `opt_outs`, the
    numbers newly added to the own blacklist (BL-2), kept out of the pair so a second load still equals the first."""

    opt_outs: int

    def __new__(cls, parts: int, events: int, opt_outs: int = 0) -> DispatchLoad:
        loaded = super().__new__(cls, (parts, events))
        loaded.opt_outs = opt_outs
        return loaded

    @property
    def parts(self) -> int:
        return self[0]

    @property
    def events(self) -> int:
        return self[1]


def load_dispatch(database: Path, campaign_id: str, ledger_dir: Path, events_dir: Path,
                  shared_events: Path | None = None, plan_dir: Path | None = None, store=None) -> DispatchLoad:
    """Load (idempotently) a campaign's send ledger and events; returns (parts, events) loaded, and opt_outs.

    Each part joins its plan row by what was sent (PLUS-1; `plan_dir` defaults to the campaign's plan/).
    `shared_events` is the folder of the long-lived `smsflow receive`: the late receipts there that match
    this campaign's parts (PLUS-4), and the replies from its recipients after its first submit, join it.
    Its recipients' STOP and START replies apply to the account's own blacklist in the account store `store` (an
    Engine or URL; default `SMSFLOW_DB`, else the bucket's smsflow.db) (BL-2, PLUS-6, `record_opt_outs`).
    Background work (`in_background`).
    """
    return in_background(lambda: _load_dispatch(database, campaign_id, ledger_dir, events_dir, shared_events,
                                                plan_dir, store))


def _load_dispatch(database: Path, campaign_id: str, ledger_dir: Path, events_dir: Path,
                   shared_events: Path | None, plan_dir: Path | None, store) -> DispatchLoad:
    import polars as pl

    from pipelines.dispatch import ledger_state
    from pipelines.dlr import derived_rows, event_rows, part_rows, read_events, with_shared_events

    plan_dir = Path(plan_dir) if plan_dir is not None else CampaignPaths(Path(ledger_dir).parent.parent).plan
    plan = pl.read_parquet(CampaignPaths.of_plan(plan_dir).recipients,
                           columns=["REF_LIST", "ID_LINE", "INT_MOBILE", "MESSAGE", "STATUS_CODE", "PARTS"])
    ledger = part_rows(plan, ledger_state(ledger_dir))
    events = read_events(events_dir)
    # The campaign's own receipts vote for its id convention with the late ones (PLUS-4), so the late receipts kept
    # are those status.sql's receipt_parts gives a part once loaded beside the campaign's own.
    events = with_shared_events(ledger, events, shared_events)
    rows = event_rows(events)
    messages_frame = derived_rows(plan, ledger, rows, campaign_id)  # the rows of `messages`, as of now
    ledger_frame, events_frame = ledger.to_arrow(), rows.to_arrow()
    load, status = queries("load.sql"), queries("status.sql")

    def body(connection) -> None:
        for name in ("delete_parts", "insert_parts", "delete_events", "insert_events"):
            connection.execute(load[name], {"campaign_id": campaign_id})
        connection.execute(status["delete_messages"], {"campaign_id": campaign_id})
        connection.execute(status["insert_derived_messages"])
        count_messages(connection, campaign_id, parts=True)

    with connect(database) as connection:
        connection.register("ledger_frame", ledger_frame)
        connection.register("events_frame", events_frame)
        connection.register("messages_frame", messages_frame)
        _write(connection, body)
    opt_outs = record_opt_outs(database, campaign_id, plan_dir, plan, events, store,
                               bucket=_bucket_of(CampaignPaths(Path(ledger_dir).parent.parent)))
    return DispatchLoad(ledger_frame.num_rows, events_frame.num_rows, opt_outs)


def _bucket_of(paths: CampaignPaths) -> Path | None:
    """The bucket of a campaign folder laid out as bucket/campaigns/<campaign>, else None."""
    folder = Path(paths.root).resolve()
    return folder.parent.parent if folder.parent.name == "campaigns" else None


def _store(store, bucket: Path | None):
    """The account store: an Engine as given, else opened from a URL, `SMSFLOW_DB`, or the bucket's smsflow.db."""
    from pipelines.store import open_store

    if store is not None and not isinstance(store, str):
        return store
    return open_store(store, bucket=bucket)


def record_opt_outs(database: Path, campaign_id: str, plan_dir: Path, plan, events, store=None, *,
                    bucket: Path | None = None) -> int:
    """BL-2, PLUS-6: the STOP and START replies of the campaign's recipients applied to its account's own blacklist
    in the account store (`pipelines.optouts.record_replies`: audited, idempotent), and the warehouse's read-only
    copy of that blacklist refreshed; returns how many numbers were newly opted out.

    Only the campaign's sendable recipients count: a reply in the shared folder may answer another campaign. The
    spec's (deprecated) blacklist files are read by the plan but never written.
    """
    import polars as pl

    from pipelines.optouts import record_replies, reply_numbers
    from pipelines.store import DEFAULT_ACCOUNT
    from pipelines.store.blacklists import blacklist_numbers

    replies = events.filter(pl.col("kind") == "reply")
    replies = replies.select(reply_numbers(replies.get_column("handset")), "text", pl.col("received_at").alias("at"))
    recipients = plan.filter(pl.col("STATUS_CODE").is_null()).get_column("INT_MOBILE")
    replies = replies.filter(pl.col("number").is_in(recipients.implode()))
    if replies.is_empty():
        return 0
    engine = _store(store, bucket)
    account = read_summary(plan_dir).campaign.account or DEFAULT_ACCOUNT
    result = record_replies(engine, replies, campaign_id=campaign_id, account_id=account)
    if result.added or result.removed:
        load_blacklist(database, account, "own", blacklist_numbers(engine, account)["own"])
    log.info("campaign %s: %d STOP and %d START repl(ies) recorded; %d number(s) newly opted out, %d opted back in "
             "[BL-2, PLUS-6]", campaign_id, result.stops, result.starts, result.added, result.removed)
    return result.added


def campaign_statuses(database: Path, campaign_id: str) -> list[tuple]:
    """(ref_list, id_line, int_mobile, status_code, delivery_date, reply, stop) per sendable recipient."""
    with connect(database, read_only=True) as connection:
        return connection.execute(queries("load.sql")["campaign_statuses"], {"campaign_id": campaign_id}).fetchall()


def load_blacklist(database: Path, account: str, kind: str, source) -> int:
    """BL-1: an account's blacklist (own, global or client) into the warehouse's read-only copy, normalised to
    E.164: `source` is a (deprecated) blacklist file, or the numbers the account store holds (a Series)."""
    import polars as pl

    from pipelines.lists import read_blacklist
    from pipelines.numbers import normalise_numbers

    raw = source if isinstance(source, pl.Series) else read_blacklist(Path(source))
    numbers = normalise_numbers(raw).select("INT_MOBILE").rename({"INT_MOBILE": "int_mobile"})
    frame = numbers.filter(pl.col("int_mobile").is_not_null()).unique().to_arrow()
    def body(connection) -> None:
        for statement in queries("plan.sql")["replace_blacklist"].split(";"):
            if statement.strip():
                connection.execute(statement, {"account_id": account, "kind": kind})

    with connect(database) as connection:
        connection.register("blacklist_frame", frame)
        _write(connection, body)
    return frame.num_rows
