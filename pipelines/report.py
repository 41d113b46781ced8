"""Reports (REP-1, REP-2, CAMP-4): the campaign CSV exactly as the hosted product's, and figures at a glance.

The CSV is `;`-separated UTF-8 with a BOM (Excel opens it right), columns in REP-2 order, dates as
`DD/MM/YYYY HH:MM:SS` Europe/Paris, every reply joined with `#`, `MF_*` as True/False, then the list's
original columns. A cell or header starting with `=`, `+`, `-`, `@`, tab or CR is prefixed with `'` so a
spreadsheet never runs it as a formula (CSV injection); a valid E.164 `INT_MOBILE` (`+33…`) is written as is.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import polars as pl

from pipelines.queries import E164, csv_cell_sql, has_report_cells, neutralised_sql, queries
from pipelines.status import STATUSES
from pipelines.lake import rollback
from pipelines.warehouse import connect

REPORT_COLUMNS = ["REF_LIST", "ID_LINE", "INT_MOBILE", "STATUS_CODE", "STATUS_TEXT", "DELIVERYDATE", "REPLY",
                  "PREVIEW", "PREVIEW_COUNTER", "TRACK_1", "TRACK_1_COUNTER", "MF_ALLOW", "MF_VALID", "MF_COUNTRY"]
CATEGORIES = ("delivered", "not_delivered", "pending", "invalid", "duplicates", "blacklisted", "not_allowed",
              "capped", "holdout", "errors", "all")
_FORMULA = r"^[=+\-@\t\r]"  # what a spreadsheet may read as the start of a formula (OWASP CSV injection)
_E164 = E164  # INT_MOBILE as the plan validated it: digits only, nothing to run


def campaign_report(database: Path, campaign_id: str, category: str = "all", *,
                    snapshot: int | None = None) -> pl.DataFrame:
    """Every row of the campaign (or of one status category) in REP-2 order, as text ready for the CSV;
    `snapshot`: as the lake held it at that snapshot version (a report reproduced, REP-3)."""
    with _report_query(database, campaign_id, category, snapshot, neutralised=False) as (connection, query):
        return connection.execute(query.sql, query.params).pl()


def export_csv(database: Path, campaign_id: str, path: Path, category: str = "all", *,
               snapshot: int | None = None) -> int:
    """The REP-2 CSV of `campaign_report`, written by DuckDB itself (its parallel CSV writer: no row goes through
    Python), the very bytes `write_csv` writes: `;`, UTF-8 with a BOM, formulas neutralised. Returns the rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = path.with_name(f".{path.name}.{os.getpid()}.rows")
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with _report_query(database, campaign_id, category, snapshot, neutralised=True) as (connection, query):
            # COPY answers the rows it wrote. Stored cells: each row is one line already quoted (QUOTE '').
            options = "QUOTE ''" if query.lines else "DELIMITER ';'"
            (rows,) = connection.execute(f"COPY ({query.sql}) TO '{_quoted(body)}' (HEADER false, {options})",
                                         query.params).fetchone()
        with staging.open("wb") as stream, body.open("rb") as rows_file:
            stream.write(codecs.BOM_UTF8 + _header(query.columns))
            shutil.copyfileobj(rows_file, stream, 1 << 20)
        staging.replace(path)
    finally:
        body.unlink(missing_ok=True)
        staging.unlink(missing_ok=True)
    return rows


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _header(columns: list[str]) -> bytes:
    """The header row: the list's headers (LIST-3) neutralised apart, so two that read alike once neutralised work."""
    header = io.StringIO()
    csv.writer(header, delimiter=";", lineterminator="\n").writerow(_neutralised(c) for c in columns)
    return header.getvalue().encode()


class _Query(NamedTuple):
    sql: str
    params: dict
    columns: list[str]
    lines: bool = False  # one text column per row, each a CSV line already quoted (the stored REP-2 cells)


def _text(column: str, neutralised: bool, e164: bool = False) -> str:
    """A text column, or (`neutralised`) with `'` before a first character a spreadsheet reads as a formula (= + - @
    tab CR, by their code points); a valid E.164 INT_MOBILE (`e164`) kept as it is."""
    return neutralised_sql(column, e164) if neutralised else column


def _paris(column: str) -> str:
    """A time as the hosted product's CSV writes it: DD/MM/YYYY HH:MM:SS, Europe/Paris."""
    return f"strftime(timezone('Europe/Paris', {column}), '%d/%m/%Y %H:%M:%S')"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def _report_query(database: Path, campaign_id: str, category: str, snapshot: int | None, *, neutralised: bool):
    """The REP-2 rows as text, formatted by DuckDB in the query (dates, True/False, status texts), on a read-only
    connection in one snapshot; `neutralised`: formulas prefixed with `'` as write_csv does."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose one of {', '.join(CATEGORIES)}")
    sql = queries("report.sql")
    with connect(database, read_only=True, snapshot=snapshot) as connection:
        connection.begin()  # the summary and the rows from one snapshot
        summary = connection.execute(sql["campaign_summary"], {"campaign_id": campaign_id}).fetchone()
        if summary is None:
            connection.commit()
            raise ValueError(f"no campaign {campaign_id!r} in {database}")
        columns = list(json.loads(summary[0]).get("columns", []))
        # The list's own columns, read by DuckDB from each row's JSON by a JSON pointer (any key, `/` and `~` too).
        pointers = {f"f{n}": "/" + name.replace("~", "~0").replace("/", "~1") for n, name in enumerate(columns)}
        # One parse of each row's JSON for all its columns: a list of values, one per pointer.
        fields = (", json_extract_string(q.fields, [" + ", ".join(f"${key}" for key in pointers) + "]) AS list_fields"
                  if pointers else "")
        links = track_links(json.loads(summary[0]))
        rows = sql["report_rows"].format(**_click_sql(links, sql))
        # Status texts and categories by code: lists indexed by code + 1 (bound), read without a join.
        top = max(STATUSES) + 1
        statuses = {"texts": [STATUSES[code].text if code in STATUSES else None for code in range(top)],
                    "categories": [STATUSES[code].category if code in STATUSES else None for code in range(top)]}
        names = ["REF_LIST", "ID_LINE", "INT_MOBILE", "STATUS_CODE", "STATUS_TEXT", "DELIVERYDATE", "REPLY",
                 "PREVIEW", "PREVIEW_COUNTER"]
        select = [_text("q.ref_list", neutralised), "q.id_line::VARCHAR",
                  _text("q.int_mobile", neutralised, e164=True), "q.status_code::VARCHAR",
                  "list_extract($texts, q.status_code + 1)",
                  _paris("q.delivery_date"), _text("q.reply", neutralised), _paris("q.preview"),
                  "q.preview_counter::VARCHAR"]
        for n in range(1, max(links, 1) + 1):
            names += [f"TRACK_{n}", f"TRACK_{n}_COUNTER"]
            select += [_paris(f"q.track_{n}"), f"q.track_{n}_counter::VARCHAR"]
        names += ["MF_ALLOW", "MF_VALID", "MF_COUNTRY", *columns]
        select += ["CASE WHEN q.mf_allow THEN 'True' ELSE 'False' END",
                   "CASE WHEN q.mf_valid THEN 'True' ELSE 'False' END", _text("q.mf_country", neutralised),
                   *(_text(f"q.list_fields[{n + 1}]", neutralised) for n in range(len(pointers)))]
        # Positional aliases inside (a list may name its columns anything); the CSV's header is written apart.
        aliases = ", ".join(f"{expression} AS c{n}" for n, expression in enumerate(select))
        # The rows sorted as they are stored (a timestamp, not its text; the JSON, not its values), then read and
        # formatted: the projections above a sort keep its order, and the sort moves half the bytes.
        ordered = (f"SELECT * FROM ({rows}) q"
                   + (" WHERE list_extract($categories, q.status_code + 1) = $category" if category != "all" else "")
                   + " ORDER BY q.manual, q.loaded_at, q.ref_list, q.id_line")
        query = f"SELECT {aliases} FROM (SELECT *{fields} FROM ({ordered}) q) q"
        params = {"campaign_id": campaign_id, **pointers, **{f"link_{n}": n for n in range(1, links + 1)},
                  "texts": statuses["texts"], **({"categories": statuses["categories"]} if category != "all" else {}),
                  **({"category": category} if category != "all" else {}),
                  **({"e164": _E164} if neutralised else {})}
        if not neutralised:  # the DataFrame's columns are named as the CSV's header
            query = f"SELECT {', '.join(f'c{n} AS {_ident(name)}' for n, name in enumerate(names))} FROM ({query})"
        lines = neutralised and has_report_cells(connection)
        if lines:  # the CSV from the cells stored at plan load: no JSON, the status cells alone formatted here
            query = _lines_sql(sql, links, category)
            params = {key: value for key, value in params.items() if key not in pointers and key != "e164"}
            params["texts"] = [_csv_cell(text) for text in statuses["texts"]]
        try:
            yield connection, _Query(query, params, names, lines)
        except BaseException:
            rollback(connection)  # the caller's error, not a commit of an aborted transaction
            raise
        connection.commit()


def _lines_sql(sql: dict[str, str], links: int, category: str) -> str:
    """REP-2's lines, in report order: each plan row's stored head and tail (plan.sql's insert_plan: REF_LIST to
    INT_MOBILE, MF_ALLOW to the list's columns, neutralised and quoted) around its status cells, formatted and quoted
    here as DuckDB's CSV writer would (`$texts`: the status texts already quoted)."""
    cells = ["q.status_code::VARCHAR", "list_extract($texts, q.status_code + 1)", _paris("q.delivery_date"),
             csv_cell_sql(neutralised_sql("q.reply")), _paris("q.preview"), "q.preview_counter::VARCHAR"]
    for n in range(1, max(links, 1) + 1):
        cells += [_paris(f"q.track_{n}"), f"q.track_{n}_counter::VARCHAR"]
    # One concat (a NULL cell is empty), not a chain of || that copies the line once per cell.
    line = "concat(" + ", ';', ".join(["q.report_head", *cells, "q.report_tail"]) + ")"
    ordered = (f"SELECT * FROM ({sql['report_lines'].format(**_click_sql(links, sql))}) q"
               + (" WHERE list_extract($categories, q.status_code + 1) = $category" if category != "all" else "")
               + " ORDER BY q.report_order")
    return f"SELECT {line} FROM ({ordered}) q"


def _csv_cell(text: str | None) -> str:
    """A text as DuckDB's CSV writer writes it (queries.csv_cell_sql, in Python)."""
    if text is None:
        return ""
    return '"' + text.replace('"', '""') + '"' if text == "" or any(c in text for c in ';"\n\r') else text


def track_links(summary: dict) -> int:
    """URL-1: how many tracked links each message of the campaign carries (its plan summary's `tracking`; 0: off)."""
    return int((summary.get("tracking") or {}).get("links_per_message") or 0)


def _click_sql(links: int, sql: dict[str, str]) -> dict[str, str]:
    """The report query's PREVIEW and TRACK_n columns (links 1..n) and the joins they read; an untracked campaign's
    columns are NULL, TRACK_1 included (REP-2 always has it), and read nothing. Counters are 0 rather than empty on a
    tracked campaign's sendable rows. The fragments are report.sql's; the link numbers are bound ($link_n)."""
    def fragment(name: str) -> str:  # a block's SQL without its comment lines, to go inside another statement
        return " ".join(line.strip() for line in sql[name].splitlines() if not line.lstrip().startswith("--"))

    if not links:
        return {"clicks": fragment("report_untracked_columns"), "click_joins": ""}
    numbers = range(1, links + 1)
    clicks = fragment("report_preview_columns") + "".join(fragment("report_track_columns").format(n=n)
                                                          for n in numbers)
    aggregates = "".join(fragment("report_track_aggregate").format(n=n) for n in numbers)
    return {"clicks": clicks, "click_joins": "\n" + fragment("report_click_joins").format(track_aggregates=aggregates)}


def _neutralised(text: str) -> str:
    return "'" + text if re.match(_FORMULA, text) else text


def write_csv(report: pl.DataFrame, path: Path) -> Path:
    """REP-2 CSV: `;`, UTF-8 with BOM, formulas neutralised in every free-text cell and header."""
    safe = report.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA) & ~(pl.lit(c == "INT_MOBILE") & pl.col(c).str.contains(_E164)))
        .then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in report.columns if report.schema[c] == pl.String
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Headers come from the list (LIST-3): written apart, so two that read alike once neutralised still work.
    header = io.StringIO()
    csv.writer(header, delimiter=";", lineterminator="\n").writerow(_neutralised(c) for c in report.columns)
    with path.open("wb") as stream:
        stream.write(codecs.BOM_UTF8 + header.getvalue().encode())
        safe.write_csv(stream, separator=";", include_header=False)
    return path


def campaign_stats(database: Path, campaign_id: str, *, snapshot: int | None = None) -> dict:
    """REP-1 at a glance: counts per status, delivery rate, replies, STOPs, held messages and parts, resent parts
    (SEND-7), rows capped by the account's frequency cap and held out to measure uplift (PLUS-7).

    Read from the counts every load writes beside the messages (`message_count_rows`, the clock applied: the
    `campaign_stats` view and the counts per status) in one snapshot: a few hundred rows, not one per recipient.
    """
    sql = queries("report.sql")
    with connect(database, read_only=True, snapshot=snapshot) as connection:
        connection.begin()
        figures = connection.execute(sql["campaign_figures"], {"campaign_id": campaign_id}).fetchone()
        counts = connection.execute(sql["status_counts"], {"campaign_id": campaign_id}).fetchall()
        connection.commit()
    if figures is None:
        raise ValueError(f"no campaign {campaign_id!r} in {database}")
    (recipients, sent, delivered, rate, replies, stops, held, held_parts, resent_parts, capped, holdout, clicks,
     clickers, click_rate, previews) = figures
    return {
        "campaign_id": campaign_id,
        "rows": recipients,
        "statuses": [{"code": int(code), "text": STATUSES[code].text, "recipients": n} for code, n in counts],
        "sent": sent,
        "delivered": delivered,
        "delivery_rate": float(rate) if rate is not None else None,
        "replies": replies,
        "stops": stops,
        "held": held,
        "held_parts": held_parts,
        "resent_parts": resent_parts,
        "capped": capped,
        "holdout": holdout,
        "clicks": clicks,  # URL-3: people's clicks on the tracked links (previews apart)
        "unique_clickers": clickers,
        "click_rate": float(click_rate) if click_rate is not None else None,  # unique clickers / delivered
        "previews": previews,  # URL-4: preview fetches (crawlers, HEAD)
    }


def list_campaigns(database: Path, status: str | None = None, search: str | None = None) -> pl.DataFrame:
    """CAMP-4: campaigns, searchable by name, filterable by status."""
    with connect(database, read_only=True) as connection:
        campaigns = connection.sql(queries("report.sql")["campaigns"]).pl()
    if status:
        campaigns = campaigns.filter(pl.col("status") == status)
    if search:
        campaigns = campaigns.filter(pl.col("name").str.to_lowercase().str.contains(search.lower(), literal=True))
    return campaigns
