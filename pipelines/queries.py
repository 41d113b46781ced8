"""The SQL of `sql/` (package data): named blocks with bound parameters, and the one derivation of statuses
(the rules of pipelines/status.py as tables, sql/status.sql's views) installed on a DuckDB connection.

Both the warehouse and the in-memory status derivation (pipelines.dlr) read their SQL here, so neither
imports the other.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import duckdb

_BLOCK = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def sql_dir():
    """The SQL files: `pipelines/sql` inside an installed wheel (package data), else the checkout's `sql/`."""
    packaged = resources.files("pipelines") / "sql"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / "sql"


SQL_DIR = sql_dir()


@lru_cache(maxsize=None)
def queries(file: str) -> dict[str, str]:
    """The named queries of `sql/<file>`: each block starts with a `-- name: <name>` line."""
    text = (SQL_DIR / file).read_text(encoding="utf-8")
    marks = list(_BLOCK.finditer(text))
    return {mark.group(1): text[mark.end():(marks[i + 1].start() if i + 1 < len(marks) else len(text))].strip()
            for i, mark in enumerate(marks)}


def install_rules(connection: duckdb.DuckDBPyConnection) -> None:
    """The status rules of pipelines/status.py as tables (`status_rules`, `receipt_states`), and the STOP fold."""
    from pipelines.status import rule_tables

    status = queries("status.sql")
    connection.execute(status["create_macros"])
    tables = rule_tables()
    connection.register("status_rules_frame", tables["status_rules"])
    connection.register("receipt_states_frame", tables["receipt_states"])
    connection.execute(status["store_rules"])
    connection.execute(status["store_receipt_states"])
    connection.unregister("status_rules_frame")
    connection.unregister("receipt_states_frame")


def install_views(connection: duckdb.DuckDBPyConnection, in_memory: bool = False) -> None:
    """The one derivation of statuses (sql/status.sql) over `parts`, `events`, `plan_recipients`, and the views
    that read its rows (`message_rows`, `message_status`) and their counts (`message_count_rows`, `campaign_stats`).

    The warehouse keeps the derived rows in its `messages` table and their counts in `message_counts` and
    `part_counts`, written by each load, and a part expires by now(). `in_memory` (pipelines.dlr): the rows and
    counts are derived when read, and the caller registered `status_clock`.
    """
    status = queries("status.sql")
    if not in_memory:
        connection.execute(status["warehouse_clock"])
    connection.execute(status["create_views"])
    if in_memory:
        connection.execute(status["memory_messages"])
    connection.execute(status["create_count_views"])
    if in_memory:
        connection.execute(status["memory_counts"])
    connection.execute(status["create_message_views"])
    if not in_memory:
        install_link_views(connection)


def install_link_views(connection: duckdb.DuckDBPyConnection) -> None:
    """URL-3, URL-4: the counts of the warehouse's `clicks` table (sql/links.sql: `link_clicks`,
    `recipient_previews`, `campaign_clicks`), over the views above."""
    connection.execute(queries("links.sql")["create_views"])


def refresh_messages(connection: duckdb.DuckDBPyConnection, campaign_id: str) -> None:
    """A campaign's rows of the `messages` table derived again from its facts, and counted (`count_messages`), in the
    caller's transaction."""
    status = queries("status.sql")
    connection.execute(status["delete_messages"], {"campaign_id": campaign_id})
    connection.execute(status["insert_messages"], {"campaign_id": campaign_id})
    count_messages(connection, campaign_id)


def count_messages(connection: duckdb.DuckDBPyConnection, campaign_id: str, parts: bool = False) -> None:
    """REP-1: a campaign's `message_counts` (and, `parts`, its `part_counts`) taken again from the rows the caller's
    transaction just wrote, so `campaign_stats` reads a few rows, never the campaign's messages."""
    status = queries("status.sql")
    connection.execute(status["delete_message_counts"], {"campaign_id": campaign_id})
    connection.execute(status["count_messages"], {"campaign_id": campaign_id})
    if parts:
        connection.execute(status["delete_part_counts"], {"campaign_id": campaign_id})
        connection.execute(status["count_parts"], {"campaign_id": campaign_id})


# --- REP-2: the cells of a plan row that never change after the plan, formatted once when it is loaded ---------

E164 = r"^\+[1-9][0-9]{1,14}$"  # INT_MOBILE as the plan validated it: digits only, nothing to run (REP-2)


def neutralised_sql(column: str, e164: bool = False) -> str:
    """A text column with `'` before a first character a spreadsheet reads as a formula (= + - @ tab CR, by their
    code points: OWASP CSV injection); a valid E.164 INT_MOBILE (`e164`: the bound $e164) kept as it is."""
    exempt = f" AND NOT regexp_full_match({column}, $e164)" if e164 else ""
    # list_contains, not IN: DuckDB plans an IN list over a column as a join per column (a tenth of the export).
    return (f"CASE WHEN list_contains([61, 43, 45, 64, 9, 13], ascii({column})){exempt} "
            f"THEN chr(39) || {column} ELSE {column} END")


def csv_cell_sql(text: str) -> str:
    """A text as DuckDB's CSV writer (`;`, `"`) writes it: NULL empty; quoted, its quotes doubled, when it is empty
    or holds `;`, `"`, LF or CR; else as it is. Concatenated cells then go out unquoted (COPY ... QUOTE '')."""
    return (f"CASE WHEN {text} IS NULL THEN '' WHEN {text} = '' OR contains({text}, ';') OR contains({text}, '\"') "
            f"OR contains({text}, chr(10)) OR contains({text}, chr(13)) "
            f"THEN '\"' || replace({text}, '\"', '\"\"') || '\"' ELSE {text} END")


def report_cells_sql(columns: list[str]) -> tuple[dict[str, str], dict]:
    """The placeholders of plan.sql's insert_plan and refresh_report_cells for a campaign whose lists have these
    `columns` (its summary's, LIST-3), and their bound values: `list_fields` reads them from each row's JSON `fields`
    in one parse (by JSON pointer: any key, `/` and `~` too); `report_cells` writes, over a row `q` with
    `list_fields`, its REP-2 head (REF_LIST;ID_LINE;INT_MOBILE) and tail (MF_ALLOW;MF_VALID;MF_COUNTRY;the list's
    columns) as the export writes them: neutralised, then quoted (`report_head`, `report_tail`)."""
    pointers = {f"f{n}": "/" + name.replace("~", "~0").replace("/", "~1") for n, name in enumerate(columns)}
    fields = ("json_extract_string(p.fields, [" + ", ".join(f"${key}" for key in pointers) + "])" if pointers
              else "NULL::VARCHAR[]")
    head = [csv_cell_sql(neutralised_sql("q.ref_list")), "q.id_line::VARCHAR",
            csv_cell_sql(neutralised_sql("q.int_mobile", e164=True))]
    tail = ["CASE WHEN q.mf_allow THEN 'True' ELSE 'False' END", "CASE WHEN q.mf_valid THEN 'True' ELSE 'False' END",
            csv_cell_sql(neutralised_sql("q.mf_country")),
            *(csv_cell_sql(neutralised_sql(f"q.list_fields[{n + 1}]")) for n in range(len(pointers)))]
    joined = " || ';' || "
    cells = f"{joined.join(head)} AS report_head, {joined.join(tail)} AS report_tail"
    return {"list_fields": fields, "report_cells": cells}, {**pointers, "e164": E164}


def refresh_report_cells(connection: duckdb.DuckDBPyConnection, campaign_id: str, holding: str | None = None) -> None:
    """A campaign's stored REP-2 cells (`report_order`, `report_head`, `report_tail`) written again from its rows,
    in the caller's transaction: a warehouse or lake written before them (the backfill), and after PLUS-8 changed
    the fields they hold (an erased number: only the rows whose cells hold its hash `holding`; a purge: all)."""
    plan = queries("plan.sql")
    summary = connection.execute(queries("report.sql")["campaign_summary"], {"campaign_id": campaign_id}).fetchone()
    columns = list(json.loads(summary[0]).get("columns", [])) if summary else []
    placeholders, params = report_cells_sql(columns)
    scope = (" AND (contains(plan_recipients.report_head, $hash) OR contains(plan_recipients.report_tail, $hash))"
             if holding is not None else "")
    connection.execute(plan["refresh_report_cells"].format(scope=scope, **placeholders),
                       {"campaign_id": campaign_id, **params, **({"hash": holding} if holding is not None else {})})


def has_report_cells(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection's plan_recipients has the stored REP-2 cells (a warehouse file written before them
    has not, until a write connection backfills it; so has not the bench's copy of the old file)."""
    return connection.execute(queries("plan.sql")["has_report_cells"]).fetchone()[0]


def backfill_report_cells(connection: duckdb.DuckDBPyConnection) -> None:
    """Every campaign's stored REP-2 cells written (a warehouse or lake from before them), in the caller's
    transaction."""
    for (campaign_id,) in connection.execute(queries("plan.sql")["campaigns_without_report_cells"]).fetchall():
        refresh_report_cells(connection, campaign_id)
