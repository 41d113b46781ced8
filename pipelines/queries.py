"""The SQL of `sql/` (package data): named blocks with bound parameters, and the one derivation of statuses
(the rules of pipelines/status.py as tables, sql/status.sql's views) installed on a DuckDB connection.

Both the warehouse and the in-memory status derivation (pipelines.dlr) read their SQL here, so neither
imports the other.
"""

from __future__ import annotations

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
