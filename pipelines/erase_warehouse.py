"""PLUS-8 in a warehouse: the number replaced in every text column of every table of a DuckDB file or a lake, then
the file rebuilt (DuckDB leaves updated values in its free blocks) or the lake's history forgotten. Called by
pipelines.erase for every warehouse it erases in."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from pipelines.store.erase import NumberForms


def erase_in_warehouse(database: Path, forms: NumberForms, *, skip_campaigns: Iterable[str] = (),
                       account_id: str | None = None) -> dict[str, int]:
    """The number replaced in every text column of every table of a DuckDB warehouse (rows of skipped campaigns
    and, with `account_id`, other accounts' rows kept); the file then rebuilt so no erased byte stays in it."""
    import duckdb

    from pipelines.queries import has_report_cells, queries, refresh_report_cells

    from pipelines import lake

    sql, changed = queries("erase.sql"), {}
    skipped = sorted(skip_campaigns)
    in_lake = lake.is_lake(database)
    if in_lake:
        from pipelines.warehouse import connect

        opened = connect(database)
        lake.flush_inlined(opened)
    with (opened if in_lake else duckdb.connect(str(database))) as connection:
        if connection.execute(sql["has_clicks"]).fetchone()[0]:  # URL-3: before the number is hashed below
            scope = "AND NOT list_contains($skipped, campaign_id)" if skipped else ""
            count = connection.execute(sql["erase_clicks"].format(scope=scope), {
                "number": forms.e164, "hash": forms.hash, **({"skipped": skipped} if skipped else {})}).fetchone()[0]
            if count:
                changed["clicks.ip_prefix"] = changed["clicks.user_agent"] = count
        for table, column, _type in connection.execute(sql["text_columns"]).fetchall():
            columns = {row[0] for row in connection.execute(sql["table_columns"], {"table": table}).fetchall()}
            scope, parameters = "", {"pattern": forms.re2_pattern, "hash": forms.hash}
            if skipped and "campaign_id" in columns:
                scope, parameters["skipped"] = "AND NOT list_contains($skipped, campaign_id)", skipped
            elif account_id is not None and "account_id" in columns:
                scope, parameters["account"] = "AND account_id = $account", account_id
            elif account_id is not None and "campaign_id" not in columns:
                continue  # no account's rows
            statement = sql["erase_column"].format(table=_quoted(table), column=_quoted(column), scope=scope)
            count = connection.execute(statement, parameters).fetchone()[0]
            if count:
                changed[f"{table}.{column}"] = count
        if any(column.startswith("plan_recipients.") for column in changed) and has_report_cells(connection):
            holding = connection.execute(queries("plan.sql")["campaigns_holding"], {"hash": forms.hash}).fetchall()
            for (campaign,) in holding:  # REP-2's stored cells written again from the erased fields they hold
                refresh_report_cells(connection, campaign, holding=forms.hash)
        name = connection.execute(sql["current_database"]).fetchone()[0]
        if changed and not in_lake:
            _rebuild(connection, database, name)
    if changed and in_lake:
        lake.forget_history(database)
    return changed


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _rebuild(connection, database: Path, name: str) -> None:
    """Copy the warehouse's live rows into a new file and put it in place of the old one (DuckDB leaves updated
    values in free blocks)."""
    fresh = database.with_name(f".{database.name}.erase-{uuid.uuid4().hex[:8]}")
    try:
        connection.execute(f"ATTACH '{fresh}' AS erase_fresh")
        connection.execute(f"COPY FROM DATABASE {_quoted(name)} TO erase_fresh")
        connection.execute("DETACH erase_fresh")
        connection.close()
        os.replace(fresh, database)
        database.with_name(database.name + ".wal").unlink(missing_ok=True)
    finally:
        fresh.unlink(missing_ok=True)
        fresh.with_name(fresh.name + ".wal").unlink(missing_ok=True)
