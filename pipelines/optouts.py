"""BL-2, PLUS-6: replies that ask to stop (or to start again) applied to the account's own blacklist in the store.

Every path that sees replies calls here: `smsflow receive` (each second, on its events folder), `smsflow load` and
the DAG's load (`pipelines.warehouse.record_opt_outs`), and the DAG's receipts step (`apply_opt_outs_from_events`
on each poll). A reply is recorded once whoever sees it first: its audit row is keyed by (account, number, time,
text), so seeing it again changes nothing. For each number the latest event wins: STOP then START is subscribed,
START then STOP is opted out, and a reply older than the number's last audited change (an administrator's removal,
a later reply already applied) is audited but changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, insert, select

from pipelines.store.accounts import DEFAULT_ACCOUNT, account_in
from pipelines.store.blacklists import chunks, delete_numbers, lock, upsert_insert, utc
from pipelines.store.engine import now as store_now
from pipelines.store.schema import blacklist, campaigns, opt_out_audit, sends, store_settings

log = logging.getLogger(__name__)
REPLY_SCHEMA = {"number": pl.String, "text": pl.String, "at": pl.Datetime("us", "UTC")}
_MARGIN = 120.0  # seconds: an events file renamed into place later than a newer one is still read


@dataclass(frozen=True)
class OptOutResult:
    """What a batch of replies did: STOP/START replies newly audited, numbers newly opted out or back in, and the
    replies given to the default account because no account had sent to their number."""

    stops: int = 0
    starts: int = 0
    added: int = 0
    removed: int = 0
    unattributed: int = 0
    added_numbers: tuple[str, ...] = ()

    def __add__(self, other: OptOutResult) -> OptOutResult:
        return OptOutResult(self.stops + other.stops, self.starts + other.starts, self.added + other.added,
                            self.removed + other.removed, self.unattributed + other.unattributed,
                            self.added_numbers + other.added_numbers)


def reply_numbers(raw: pl.Series) -> pl.Series:
    """The numbers replies came from, in E.164: an SMSC writes them international without `+` (33611111111);
    one that is not a valid number is kept as written."""
    from pipelines.numbers import normalise_numbers

    raw = raw.cast(pl.String).str.strip_chars()
    international = pl.when(raw.str.contains(r"^[1-9][0-9]{6,14}$")).then("+" + raw).otherwise(raw)
    prefixed = pl.select(international.alias("number")).to_series()
    normal = normalise_numbers(prefixed)
    valid = normal.get_column("MF_VALID").fill_null(False)
    return pl.select(pl.when(valid).then(normal.get_column("INT_MOBILE")).otherwise(raw)).to_series().alias("number")


def _keyword_replies(replies: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """The STOP and START replies among `replies` (number, text, at), `action` stop|start, each once."""
    from pipelines.dlr import fold_replies

    frame = replies.select(pl.col("number").cast(pl.String), pl.col("text").cast(pl.String), "at")
    at = frame.get_column("at")
    if not isinstance(at.dtype, pl.Datetime):
        raise ValueError(f"replies: column 'at' is {at.dtype}, not a time [BL-2]")
    if at.dtype.time_zone is None:  # naive times are UTC, as the events are written
        at = at.dt.replace_time_zone("UTC")
    frame = frame.with_columns(at.dt.convert_time_zone("UTC").dt.cast_time_unit("us").fill_null(now).alias("at"))
    folded = fold_replies(frame.get_column("text"))
    action = pl.when(folded.get_column("stop")).then(pl.lit("stop")) \
        .when(folded.get_column("start")).then(pl.lit("start"))
    frame = frame.with_columns(action.alias("action")).filter(pl.col("action").is_not_null())
    if frame.is_empty():
        return frame.with_columns(pl.lit(None, pl.String).alias("action"))
    return frame.with_columns(reply_numbers(frame.get_column("number"))) \
        .unique(["number", "at", "text"], maintain_order=True).sort("at", maintain_order=True)


def _attributed(connection, frame: pl.DataFrame, campaign_id: str | None, account_id: str | None) -> pl.DataFrame:
    """`frame` with account_id and campaign_id: the account given, the campaign's, else the account(s) that last
    sent to the number before the reply (the store's `sends`; ties: each of them), else the default account
    (`orphan`)."""
    if account_id is None and campaign_id is not None:
        account_id = connection.execute(select(campaigns.c.account_id).where(campaigns.c.id == campaign_id)).scalar()
    if account_id is not None:
        account_in(connection, account_id)
        return frame.with_columns(pl.lit(account_id).alias("account_id"),
                                  pl.lit(campaign_id, pl.String).alias("campaign_id"), pl.lit(False).alias("orphan"))
    numbers = frame.get_column("number").unique().to_list()
    rows = []
    for chunk in chunks(numbers):
        rows += connection.execute(select(sends.c.number, sends.c.account_id, sends.c.campaign_id, sends.c.sent_at)
                                   .where(sends.c.number.in_(chunk))).all()
    sent = pl.DataFrame([(number, account, campaign, utc(at)) for number, account, campaign, at in rows],
                        schema={"number": pl.String, "account_id": pl.String, "sent_campaign": pl.String,
                                "sent_at": pl.Datetime("us", "UTC")}, orient="row")
    keyed = frame.with_row_index("reply")
    last = keyed.join(sent, on="number", how="inner").filter(pl.col("sent_at") <= pl.col("at")) \
        .filter(pl.col("sent_at") == pl.col("sent_at").max().over("reply")) \
        .unique(["reply", "account_id"], keep="last", maintain_order=True) \
        .with_columns(pl.coalesce(pl.lit(campaign_id, pl.String), pl.col("sent_campaign")).alias("campaign_id")) \
        .drop("sent_campaign", "sent_at")
    orphans = keyed.join(last.select("reply"), on="reply", how="anti")
    if not orphans.is_empty():
        account_in(connection, DEFAULT_ACCOUNT)
    orphans = orphans.with_columns(pl.lit(DEFAULT_ACCOUNT).alias("account_id"),
                                   pl.lit(campaign_id, pl.String).alias("campaign_id"), pl.lit(True).alias("orphan"))
    return pl.concat([last.with_columns(pl.lit(False).alias("orphan")), orphans], how="diagonal_relaxed") \
        .sort("at", "reply").drop("reply")


def _audited(connection, frame: pl.DataFrame) -> pl.DataFrame:
    """The audit rows of the own blacklists of `frame`'s accounts and numbers (to skip replies already seen and to
    know each number's last change)."""
    rows = []
    for account in frame.get_column("account_id").unique().to_list():
        numbers = frame.filter(pl.col("account_id") == account).get_column("number").unique().to_list()
        for chunk in chunks(numbers):
            rows += connection.execute(
                select(opt_out_audit.c.account_id, opt_out_audit.c.number, opt_out_audit.c.at, opt_out_audit.c.text,
                       opt_out_audit.c.action)
                .where(opt_out_audit.c.kind == "own", opt_out_audit.c.account_id == account,
                       opt_out_audit.c.number.in_(chunk))).all()
    return pl.DataFrame([(account, number, utc(at), text, action) for account, number, at, text, action in rows],
                        schema={"account_id": pl.String, "number": pl.String, "at": pl.Datetime("us", "UTC"),
                                "text": pl.String, "action": pl.String}, orient="row")


def record_replies(engine: Engine, replies: pl.DataFrame, *, campaign_id: str | None = None,
                   account_id: str | None = None, now: datetime | None = None) -> OptOutResult:
    """BL-2, PLUS-6: replies (number as received or E.164, text, at) applied to the own blacklist of the account
    they answer: STOP-family adds the number, START removes it, each reply audited once (number, campaign, reply
    text, time). Other replies are ignored. Idempotent; concurrent callers record each reply once.

    Which account: `account_id`; else `campaign_id`'s in the store; else the account(s) that last sent to the
    number before the reply (`sends`), else the default account (a warning says how many; `unattributed`)."""
    stamp = utc(now) or store_now()
    frame = _keyword_replies(replies, stamp)
    if frame.is_empty():
        return OptOutResult()
    with engine.begin() as connection:
        frame = _attributed(connection, frame, campaign_id, account_id)
        for account in sorted(frame.get_column("account_id").unique().to_list()):
            lock(connection, "own", account)  # one writer per blacklist: each reply audited once
        before = _audited(connection, frame)
        fresh = frame.join(before.select("account_id", "number", "at", "text"),
                           on=["account_id", "number", "at", "text"], how="anti", nulls_equal=True)
        if not fresh.is_empty():
            connection.execute(insert(opt_out_audit), fresh.select(
                "account_id", pl.lit("own").alias("kind"), "number", "action", "campaign_id", "text",
                pl.lit("reply").alias("by"), "at").to_dicts())
        # The latest event per number decides, if it is later than the number's last audited change.
        last = fresh.sort("at", maintain_order=True).unique(["account_id", "number"], keep="last")
        changed = before.group_by("account_id", "number").agg(pl.col("at").max().alias("changed_at"))
        last = last.join(changed, on=["account_id", "number"], how="left") \
            .filter(pl.col("changed_at").is_null() | (pl.col("at") >= pl.col("changed_at")))
        stops = last.filter(pl.col("action") == "stop").select(
            pl.lit("own").alias("kind"), "account_id", "number", pl.lit("stop").alias("source"), "campaign_id",
            pl.col("at").alias("added_at"))
        statement = upsert_insert(connection, blacklist).on_conflict_do_nothing(
            index_elements=["kind", "account_id", "number"]).returning(blacklist.c.number)
        added = [number for rows in chunks(stops.to_dicts())
                 for number in connection.execute(statement, rows).scalars().all()]
        removed = 0
        for (account,), group in last.filter(pl.col("action") == "start").group_by("account_id"):
            removed += len(delete_numbers(connection, "own", account, group.get_column("number").to_list()))
    count = dict(fresh.get_column("action").value_counts().iter_rows())
    orphans = fresh.filter(pl.col("orphan"))
    if not orphans.is_empty():
        log.warning("%d STOP/START repl(ies) from numbers no account sent to (e.g. %s) recorded on the default "
                    "account's own blacklist [BL-2]", orphans.height, orphans.item(0, "number"))
    if added or removed:
        log.info("opt-outs: %d number(s) added to, %d removed from own blacklists [BL-2, PLUS-6]", len(added), removed)
    return OptOutResult(stops=count.get("stop", 0), starts=count.get("start", 0), added=len(added),
                        removed=removed, unattributed=orphans.height, added_numbers=tuple(added))


def _marker_key(events_dir: Path) -> str:
    return "optouts:" + hashlib.sha1(str(events_dir.resolve()).encode()).hexdigest()


def apply_opt_outs_from_events(engine: Engine, events_dir: Path | str, *, campaign_id: str | None = None,
                               account_id: str | None = None) -> OptOutResult:
    """The replies (events of kind "reply") of the files of `events_dir` not processed yet, recorded
    (`record_replies`). Cheap to call every second or two: the store remembers which files it read (by name,
    those written in the last minutes), and a file read twice records nothing twice anyway.

    `account_id`/`campaign_id`: the account and campaign every reply of this folder answers (a campaign's own
    events folder); None for the shared folder of `smsflow receive` (each reply goes to the account that last
    sent to its number)."""
    events_dir = Path(events_dir)
    files = sorted(events_dir.glob("*.parquet")) if events_dir.is_dir() else []
    if not files:
        return OptOutResult()
    key = _marker_key(events_dir)
    with engine.begin() as connection:
        stored = connection.execute(select(store_settings.c.value).where(store_settings.c.key == key)).scalar()
    marker = json.loads(stored) if stored else {"watermark": 0.0, "seen": {}}
    watermark, seen = float(marker["watermark"]), dict(marker["seen"])
    stats = {path.name: path.stat().st_mtime for path in files}
    new = [path for path in files if stats[path.name] >= watermark - _MARGIN and path.name not in seen]
    if not new:
        return OptOutResult()
    from pipelines.dlr import EVENT_SCHEMA

    read = {path.name: pl.read_parquet(path).cast(EVENT_SCHEMA) for path in new}
    events = pl.concat(list(read.values()), how="vertical_relaxed")
    replies = events.filter(pl.col("kind") == "reply").select(
        pl.col("handset").alias("number"), "text", pl.col("received_at").alias("at"))
    result = record_replies(engine, replies, campaign_id=campaign_id, account_id=account_id)
    watermark = max(watermark, *(stats[path.name] for path in new))
    seen.update({name: frame.height for name, frame in read.items()})
    seen = {name: rows for name, rows in seen.items() if name in stats and stats[name] >= watermark - _MARGIN}
    value = json.dumps({"dir": str(events_dir.resolve()), "watermark": watermark, "seen": seen})
    with engine.begin() as connection:
        statement = upsert_insert(connection, store_settings).values(key=key, value=value)
        connection.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
    return result


__all__ = ["OptOutResult", "apply_opt_outs_from_events", "record_replies", "reply_numbers"]
