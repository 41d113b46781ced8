"""SEND-5, SEND-8 on a campaign's files: what its plan needs, what its send ledger proves was sent, and the plan
cut to the credits a reservation got.

The store (`pipelines.store.credits`) keeps the money; this module reads and writes the campaign folder
(`CampaignPaths`): the plan's credits in list order, the plan rewritten when a reservation came up short (rows
past the reservable credits get status 8, their parts are never sent), and the parts sent, counted from the send
ledger so that a run ending after a partial send gives back only what was not sent.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from pipelines.layout import CampaignPaths, read_summary

# A part the ledger shows accepted, in flight (`none`: it may be at the SMSC) or held (SEND-7: in flight when a
# sender stopped, not proven unsent) is spent; refused, throttled-last, unsent parts come back.
SPENT_OUTCOMES = ("accepted", "none", "held")


def sent_parts(ledger_dir: Path) -> int:
    """The parts a campaign's send ledger shows sent (each part once, whatever its resends)."""
    from pipelines.dispatch import ledger_state

    state = ledger_state(Path(ledger_dir))
    return int(state.get_column("outcome").is_in(SPENT_OUTCOMES).sum())


def campaign_sent_parts(bucket: Path, campaign_id: str) -> int:
    return sent_parts(CampaignPaths.in_bucket(bucket, campaign_id).ledger)


def credit_steps(plan_dir: Path) -> list[int]:
    """The credits spent after each sendable row, in list order (plan rules `bill`): a reservation stops at one."""
    parts = pl.scan_parquet(CampaignPaths.of_plan(plan_dir).recipients) \
        .filter(pl.col("STATUS_CODE").is_null()).select(pl.col("PARTS").cast(pl.Int64).cum_sum()).collect()
    return parts.get_column("PARTS").to_list()


def cut_plan(plan_dir: Path, credits: int) -> int:
    """SEND-5: sendable rows past `credits` (spent in list order, as the plan bills) get status 8 and are never
    sent; recipients.parquet and summary.json are rewritten (each replaced whole). Returns the rows cut."""
    from pipelines.plan.rules import bill, status_texts
    from pipelines.status import NO_CREDIT

    paths = CampaignPaths.of_plan(plan_dir)
    recipients = pl.read_parquet(paths.recipients)
    cut, _ = bill(recipients, 0, credits)
    newly = cut.get_column("STATUS_CODE").eq(NO_CREDIT).fill_null(False) \
        & recipients.get_column("STATUS_CODE").is_null()
    rows = int(newly.sum())
    if not rows:
        return 0
    cut = cut.with_columns(pl.when(pl.Series(newly)).then(status_texts(pl.col("STATUS_CODE")))
                           .otherwise(pl.col("STATUS_TEXT")).alias("STATUS_TEXT"))
    _replace(paths.recipients, lambda path: cut.write_parquet(path))
    sendable = cut.filter(pl.col("STATUS_CODE").is_null())
    summary = read_summary(paths.plan)
    counts = dict(summary.status_counts)
    counts["0"] = sendable.height
    counts[str(NO_CREDIT)] = counts.get(str(NO_CREDIT), 0) + rows
    texts = dict(summary.status_texts)
    texts[str(NO_CREDIT)] = cut.filter(pl.Series(newly)).get_column("STATUS_TEXT")[0]
    updated = summary.model_copy(update={
        "sendable": sendable.height, "credits": int(sendable.get_column("PARTS").sum() or 0),
        "credits_available": credits,
        "status_counts": {code: counts[code] for code in sorted(counts, key=int) if counts[code]},
        "status_texts": {code: texts[code] for code in sorted(counts, key=int) if counts[code]},
        "parts": {str(p): n for p, n in sorted(sendable.group_by("PARTS").len().iter_rows())},
        "encodings": dict(sendable.group_by("ENCODING").len().iter_rows())})
    _replace(paths.summary, lambda path: Path(path).write_text(updated.to_json(), encoding="utf-8"))
    return rows


def _replace(path: Path, write) -> None:
    """Write beside, then rename over: a reader sees the old file or the new one, never half of one."""
    partial = path.with_name(f".{path.name}.partial")
    write(partial)
    os.replace(partial, path)
