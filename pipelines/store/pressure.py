"""PLUS-7: commercial pressure, the frequency cap across an account's campaigns.

Who got a message when is kept in the store's `sends` table, one row per (campaign, number): a campaign's numbers
are recorded once its parts were accepted by the SMSC (`record_campaign_sends`: after each batch of an Airflow run,
`pipelines.campaign.dispatch_batch`, and when `smsflow send` ends), so the cap is judged on what was sent before
the plan, a campaign still sending included. A number with at least `accounts.frequency_cap` marketing sends in
the last `accounts.frequency_hours` hours is capped: the plan gives its marketing rows status 40; notifications are
exempt and never capped (they are recorded all the same, so the replies of their recipients find their account).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, func, insert, select, text

from pipelines.store.accounts import account_in
from pipelines.store.engine import now as store_now
from pipelines.store.schema import sends

MARKETING = "marketing"
_CHUNK = 5_000  # rows per INSERT statement


def _utc(moment: datetime) -> datetime:
    """UTC, as the store keeps times (SQLite compares them as text: one offset for all)."""
    if moment.tzinfo is None:
        raise ValueError(f"time {moment.isoformat()} has no time zone; the store keeps UTC times [PLUS-7]")
    return moment.astimezone(timezone.utc)


def _lock_campaign(connection, campaign_id: str) -> None:
    """Serialise the recorders of one campaign: SQLite's BEGIN IMMEDIATE already does; PostgreSQL locks its id."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:campaign))"), {"campaign": campaign_id})


def record_sends(engine: Engine, account_id: str, campaign_id: str, campaign_type: str, numbers: pl.Series,
                 at: datetime | pl.Series | None = None) -> int:
    """Record that `campaign_id` sent to `numbers` (E.164) at `at` (one time, or one per number; default now).

    Idempotent per (campaign, number): a number the campaign already recorded is not counted again (a re-run,
    a resumed send). Returns the rows added.
    """
    frame = pl.DataFrame({"number": numbers.cast(pl.String)})
    if isinstance(at, pl.Series):
        frame = frame.with_columns(at.alias("sent_at"))
    else:
        frame = frame.with_columns(pl.lit(_utc(at or store_now())).alias("sent_at"))
    frame = frame.with_columns(pl.col("sent_at").cast(pl.Datetime("us", "UTC"))) \
        .filter(pl.col("number").is_not_null() & (pl.col("number") != "")) \
        .group_by("number").agg(pl.col("sent_at").min()).sort("number")
    if frame.is_empty():
        return 0
    with engine.begin() as connection:
        account_in(connection, account_id)  # an unknown account is refused (the default one is made on first use)
        _lock_campaign(connection, campaign_id)
        known = pl.Series("number", connection.execute(
            select(sends.c.number).where(sends.c.campaign_id == campaign_id)).scalars().all(), dtype=pl.String)
        new = frame.filter(~pl.col("number").is_in(known.implode()))
        rows = [{"account_id": account_id, "number": number, "campaign_id": campaign_id, "type": campaign_type,
                 "sent_at": sent_at} for number, sent_at in new.iter_rows()]
        for start in range(0, len(rows), _CHUNK):
            connection.execute(insert(sends), rows[start:start + _CHUNK])
    return len(rows)


def capped_numbers(engine: Engine, account_id: str, now: datetime | None = None, *,
                   exclude_campaign: str | None = None) -> pl.Series:
    """The numbers (E.164) at the account's frequency cap at `now`: at least `frequency_cap` marketing sends in
    the last `frequency_hours` hours, across its campaigns (but `exclude_campaign`, e.g. the one being re-planned).
    Empty when the account has no cap."""
    moment = _utc(now or store_now())
    with engine.begin() as connection:
        account = account_in(connection, account_id)
        if account.frequency_cap is None:
            return pl.Series("number", [], dtype=pl.String)
        since = moment - timedelta(hours=account.frequency_hours)
        query = (select(sends.c.number)
                 .where(sends.c.account_id == account_id, sends.c.type == MARKETING,
                        sends.c.sent_at > since, sends.c.sent_at <= moment)
                 .group_by(sends.c.number).having(func.count() >= account.frequency_cap))
        if exclude_campaign is not None:
            query = query.where(sends.c.campaign_id != exclude_campaign)
        numbers = connection.execute(query).scalars().all()
    found = pl.Series("number", numbers, dtype=pl.String)
    return found.filter(found.str.starts_with("+")).sort()  # an erased number (a hash, PLUS-8) caps nobody


def accepted_numbers(ledger_dir: Path) -> pl.DataFrame:
    """Each number the send ledger shows at least one part accepted for, and when (the first acceptance, UTC)."""
    from pipelines.dispatch import ledger_state

    state = ledger_state(Path(ledger_dir))
    return state.filter(pl.col("outcome") == "accepted").select(
        pl.col("MESSAGE_KEY").str.split("\x1f").list.first().alias("number"),
        pl.from_epoch(pl.col("ts"), time_unit="s").dt.replace_time_zone("UTC").alias("sent_at"),
    ).group_by("number").agg(pl.col("sent_at").min()).sort("number")


def record_campaign_sends(engine: Engine, plan_dir: Path, ledger_dir: Path | None = None) -> int:
    """PLUS-7: record the numbers a campaign reached (a part accepted by the SMSC, per its send ledger) under its
    account and type, as the plan's summary names them. Idempotent: call it at the end of every send."""
    from pipelines.layout import CampaignPaths, read_summary
    from pipelines.store.accounts import DEFAULT_ACCOUNT

    paths = CampaignPaths.of_plan(Path(plan_dir))
    campaign = read_summary(paths.plan).campaign
    reached = accepted_numbers(ledger_dir if ledger_dir is not None else paths.ledger)
    return record_sends(engine, campaign.account or DEFAULT_ACCOUNT, paths.campaign, campaign.type,
                        reached.get_column("number"), at=reached.get_column("sent_at"))
