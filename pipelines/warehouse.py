"""The DuckDB warehouse (REP-3): SQL lives in `sql/*.sql` as named blocks, values are bound parameters."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
_BLOCK = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@lru_cache(maxsize=None)
def queries(file: str) -> dict[str, str]:
    """The named queries of `sql/<file>`: each block starts with a `-- name: <name>` line."""
    text = (SQL_DIR / file).read_text(encoding="utf-8")
    marks = list(_BLOCK.finditer(text))
    return {mark.group(1): text[mark.end():(marks[i + 1].start() if i + 1 < len(marks) else len(text))].strip()
            for i, mark in enumerate(marks)}


def connect(database: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file, its schema created on first use."""
    connection = duckdb.connect(str(database), read_only=read_only)
    if not read_only:
        connection.execute(queries("schema.sql")["create_schema"])
    return connection


def load_plan(database: Path, campaign_id: str, plan_dir: Path) -> int:
    """Load (or re-load: idempotent) a campaign's plan; returns the number of rows loaded."""
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    plan = queries("plan.sql")
    with connect(database) as connection:
        connection.begin()
        connection.execute(plan["delete_plan"], {"campaign_id": campaign_id})
        connection.execute(plan["insert_plan"], {"campaign_id": campaign_id,
                                                 "recipients_path": str(plan_dir / "recipients.parquet")})
        connection.execute(plan["upsert_summary"], {
            "campaign_id": campaign_id, "name": summary["campaign"]["name"], "type": summary["campaign"]["type"],
            "rows": summary["rows"], "sendable": summary["sendable"], "credits": summary["credits"],
            "summary": json.dumps(summary, ensure_ascii=False)})
        connection.commit()
        (count,) = connection.execute(plan["count_plan"], {"campaign_id": campaign_id}).fetchone()
    return count


def status_breakdown(database: Path, campaign_id: str) -> list[tuple]:
    """(status code, text, recipients, credits) of a campaign's plan, read-only."""
    with connect(database, read_only=True) as connection:
        return connection.execute(queries("plan.sql")["status_breakdown"], {"campaign_id": campaign_id}).fetchall()
