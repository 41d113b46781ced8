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
import re
from pathlib import Path

import polars as pl

from pipelines.queries import queries
from pipelines.status import STATUSES
from pipelines.warehouse import connect

REPORT_COLUMNS = ["REF_LIST", "ID_LINE", "INT_MOBILE", "STATUS_CODE", "STATUS_TEXT", "DELIVERYDATE", "REPLY",
                  "PREVIEW", "PREVIEW_COUNTER", "TRACK_1", "TRACK_1_COUNTER", "MF_ALLOW", "MF_VALID", "MF_COUNTRY"]
CATEGORIES = ("delivered", "not_delivered", "pending", "invalid", "duplicates", "blacklisted", "not_allowed",
              "capped", "holdout", "errors", "all")
_FORMULA = r"^[=+\-@\t\r]"  # what a spreadsheet may read as the start of a formula (OWASP CSV injection)
_E164 = r"^\+[1-9][0-9]{1,14}$"  # INT_MOBILE as the plan validated it: digits only, nothing to run


def campaign_report(database: Path, campaign_id: str, category: str = "all", *,
                    snapshot: int | None = None) -> pl.DataFrame:
    """Every row of the campaign (or of one status category) in REP-2 order, as text ready for the CSV;
    `snapshot`: as the lake held it at that snapshot version (a report reproduced, REP-3)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose one of {', '.join(CATEGORIES)}")
    sql = queries("report.sql")
    with connect(database, read_only=True, snapshot=snapshot) as connection:
        connection.begin()  # the summary and the rows from one snapshot
        summary = connection.execute(sql["campaign_summary"], {"campaign_id": campaign_id}).fetchone()
        if summary is None:
            raise ValueError(f"no campaign {campaign_id!r} in {database}")
        columns = list(json.loads(summary[0]).get("columns", []))
        # The list's own columns, read by DuckDB from each row's JSON by a JSON pointer (any key, `/` and `~` too).
        pointers = {f"f{n}": "/" + name.replace("~", "~0").replace("/", "~1") for n, name in enumerate(columns)}
        fields = "".join(f", json_extract_string(r.fields, ${key}) AS {key}" for key in pointers)
        links = track_links(json.loads(summary[0]))
        rows = connection.execute(sql["report_rows"].format(fields=fields, **_click_sql(links, sql)),
                                  {"campaign_id": campaign_id, **pointers,
                                   **{f"link_{n}": n for n in range(1, links + 1)}}).pl()
        connection.commit()
    codes = {code: status.text for code, status in STATUSES.items()}
    categories = {code: status.category for code, status in STATUSES.items()}
    if category != "all":
        rows = rows.filter(pl.col("status_code").replace_strict(categories, default=None) == category)
    return rows.select(
        pl.col("ref_list").alias("REF_LIST"),
        pl.col("id_line").cast(pl.String).alias("ID_LINE"),
        pl.col("int_mobile").alias("INT_MOBILE"),
        pl.col("status_code").cast(pl.String).alias("STATUS_CODE"),
        pl.col("status_code").replace_strict(codes, default=None, return_dtype=pl.String).alias("STATUS_TEXT"),
        _paris("delivery_date").alias("DELIVERYDATE"),
        pl.col("reply").alias("REPLY"),
        _paris("preview").alias("PREVIEW"),
        pl.col("preview_counter").cast(pl.String).alias("PREVIEW_COUNTER"),
        *(column for n in range(1, max(links, 1) + 1)
          for column in (_paris(f"track_{n}").alias(f"TRACK_{n}"),
                         pl.col(f"track_{n}_counter").cast(pl.String).alias(f"TRACK_{n}_COUNTER"))),
        *(pl.when(pl.col(flag)).then(pl.lit("True")).otherwise(pl.lit("False")).alias(flag.upper())
          for flag in ("mf_allow", "mf_valid")),
        pl.col("mf_country").alias("MF_COUNTRY"),
        *(pl.col(key).alias(name) for key, name in zip(pointers, columns)),
    )


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


def _paris(column: str) -> pl.Expr:
    """A time as the hosted product's CSV writes it: DD/MM/YYYY HH:MM:SS, Europe/Paris."""
    return pl.col(column).dt.convert_time_zone("Europe/Paris").dt.strftime("%d/%m/%Y %H:%M:%S")


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

    Two aggregates of the warehouse's one row per message (`message_rows`: the `campaign_stats` view and the
    counts per status), read in one snapshot: no per-recipient row leaves DuckDB.
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
