"""What the report page reads (REP-1, REP-2): the campaign's figures, deliveries and clicks per hour, replies, and
the CSV file, from the bucket's warehouse (`<bucket>/warehouse.sqlite`, the lake the DAG's finish task loads) with
the same functions the CLI's `smsflow stats` and `smsflow report` call. Blocking: endpoints run these in a thread.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl

from pipelines.campaign import WAREHOUSE
from pipelines.layout import CampaignPaths

REPLIES_SHOWN = 200
DAY_BUCKETS_AFTER = 72  # hours: a longer span is drawn per day (a chart of a few dozen bars stays readable)
# REP-1's download categories (pipelines.report.CATEGORIES) in the hosted product's words.
CATEGORY_WORDS = {
    "all": "Rapport complet", "delivered": "Délivrés", "not_delivered": "Non délivrés", "pending": "En attente",
    "invalid": "Numéros invalides", "duplicates": "Doublons", "blacklisted": "Listes noires",
    "not_allowed": "Destinations non autorisées", "errors": "Erreurs", "capped": "Plafond de fréquence",
    "holdout": "Groupe témoin",
}


def warehouse(bucket: Path) -> Path:
    return Path(bucket) / WAREHOUSE


def figures(bucket: Path, campaign_id: str) -> dict | None:
    """REP-1 at a glance (`pipelines.report.campaign_stats`): live from the warehouse, else the stats.json the run
    wrote beside its report; None when the campaign was never loaded (not run yet)."""
    from pipelines.report import campaign_stats
    from pipelines.warehouse import exists

    database = warehouse(bucket)
    if exists(database):
        try:
            return campaign_stats(database, campaign_id)
        except ValueError:
            pass  # not in this warehouse: its stats.json, if any
    stats = CampaignPaths.in_bucket(bucket, campaign_id).stats
    try:
        return json.loads(stats.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _tracked(connection, campaign_id: str) -> bool:
    from pipelines.report import track_links

    row = connection.execute("SELECT summary FROM plan_summaries WHERE campaign_id = $c", {"c": campaign_id}).fetchone()
    return bool(row and track_links(json.loads(row[0])))


def activity(bucket: Path, campaign_id: str) -> tuple[tuple[list[str], list[int], list[int] | None], list[dict], int]:
    """What happened after the send, in one read of the warehouse: deliveries (and, for a tracked campaign, people's
    clicks, URL-3) per hour in Paris time (`per_hour`), and the replies (REPLY events: number, text, time in Paris)
    newest first, at most REPLIES_SHOWN, with how many there are in all (STOP included, BL-2)."""
    from pipelines.warehouse import connect, exists

    database = warehouse(bucket)
    if not exists(database):
        return ([], [], None), [], 0
    hourly = ("SELECT date_trunc('hour', timezone('Europe/Paris', {column}))::TIMESTAMP AS moment, count(*) AS n "
              "FROM {table} WHERE campaign_id = $c AND {where} GROUP BY ALL")
    with connect(database, read_only=True) as connection:
        connection.begin()  # one snapshot for the charts and the replies
        tracked = _tracked(connection, campaign_id)
        deliveries = connection.execute(hourly.format(column="delivery_date", table="message_status",
                                                      where="delivery_date IS NOT NULL"), {"c": campaign_id}).pl()
        clicks = connection.execute(hourly.format(column="clicked_at", table="clicks",
                                                  where="kind = 'click' AND NOT bot"), {"c": campaign_id}).pl() \
            if tracked else None
        replies = connection.execute(
            "SELECT handset AS number, text, strftime(timezone('Europe/Paris', received_at), '%d/%m/%Y %H:%M:%S') "
            "AS at FROM events WHERE campaign_id = $c AND kind = 'reply' ORDER BY received_at DESC LIMIT $n",
            {"c": campaign_id, "n": REPLIES_SHOWN}).pl()
        (total,) = connection.execute("SELECT count(*) FROM events WHERE campaign_id = $c AND kind = 'reply'",
                                      {"c": campaign_id}).fetchone()
        connection.commit()
    return per_hour(deliveries, clicks), replies.to_dicts(), int(total)


def per_hour(deliveries: pl.DataFrame, clicks: pl.DataFrame | None) -> tuple[list[str], list[int], list[int] | None]:
    """Counts (`n`) of each `moment` (Paris wall time, an hour) on one continuous axis of hours, zeros included, or
    of days when the span is over DAY_BUCKETS_AFTER hours (a late receipt days on). Labels like '26/11 14h'."""
    frames = [deliveries] + ([clicks] if clicks is not None else [])
    moments = pl.concat([frame.select(pl.col("moment").cast(pl.Datetime("us"))) for frame in frames])
    if moments.is_empty():
        return [], [], None if clicks is None else []
    first, last = moments.get_column("moment").min(), moments.get_column("moment").max()
    daily = (last - first) > timedelta(hours=DAY_BUCKETS_AFTER)
    every, label = ("1d", "%d/%m") if daily else ("1h", "%d/%m %Hh")
    axis = pl.DataFrame({"slot": pl.datetime_range(pl.lit(first).dt.truncate(every), pl.lit(last).dt.truncate(every),
                                                  every, eager=True).cast(pl.Datetime("us"))})

    def counted(frame: pl.DataFrame) -> list[int]:
        counts = frame.group_by(pl.col("moment").cast(pl.Datetime("us")).dt.truncate(every).alias("slot")) \
            .agg(pl.col("n").sum())
        return axis.join(counts, on="slot", how="left").get_column("n").fill_null(0).cast(pl.Int64).to_list()

    hours = axis.get_column("slot").dt.strftime(label).to_list()
    return hours, counted(deliveries), counted(clicks) if clicks is not None else None


def export(bucket: Path, campaign_id: str, category: str, folder: Path) -> Path:
    """REP-2: the CSV of one category (or `all`) written by `pipelines.report.export_csv`, the CLI's own writer
    (formulas neutralised), into `folder`; ValueError when the warehouse does not hold the campaign."""
    from pipelines.report import export_csv
    from pipelines.warehouse import exists

    database = warehouse(bucket)
    if not exists(database):
        raise ValueError(f"no warehouse at {database}")
    path = Path(folder) / f"{campaign_id}-{category}.csv"
    export_csv(database, campaign_id, path, category)
    return path
