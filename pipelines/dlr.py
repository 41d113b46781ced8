"""Delivery receipts and replies (PLUS-4, BL-2, BL-3, PLUS-6): parsing, events, and statuses from events.

Every deliver_sm becomes an event (append-only Parquet). A message's status is never stored: it is
derived from its events by sql/status.sql (the warehouse's views), which `recipient_statuses` runs in an
in-memory DuckDB over a plan, a ledger and events: one derivation, the rules in pipelines/status.py.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from pipelines import status

# The rules from SMSC facts to SPEC STAT codes live in pipelines.status; these names stay importable from here.
from pipelines.status import (  # noqa: F401
    DESTINATION_ERRORS,
    FINAL_STATES,
    HELD_REASON,
    NO_FINAL_RECEIPT,
    RECEIPT_STATUS,
    STOP_KEYWORDS,
    STOP_REQUESTED,
    SUBMIT_ACCEPTED,
    SUBMIT_ERROR,
    SUBMIT_REFUSED_DESTINATION,
)

# §5.2.28 message_state, for receipts that carry only the TLV.
STATE_NAMES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN",
               8: "REJECTD"}
START_KEYWORDS = {"START"}

# SMPP 3.4 Appendix B is only "a typical format": SMSCs drop, reorder or re-case fields, so each is found
# on its own.
_RECEIPT_FIELDS = {
    "id": re.compile(r"\bid:\s*(\S+)", re.IGNORECASE),
    "stat": re.compile(r"\bstat:\s*(\w+)", re.IGNORECASE),
    "err": re.compile(r"\berr:\s*(\w+)", re.IGNORECASE),
    "done": re.compile(r"\bdone[ _]date:\s*(\d+)", re.IGNORECASE),
    "text": re.compile(r"\btext:(.*)\Z", re.IGNORECASE | re.DOTALL),
}

EVENT_SCHEMA = {
    "kind": pl.String,  # receipt | reply
    "received_at": pl.Datetime("us", "UTC"),
    "message_id": pl.String,  # receipts: the SMSC id of the part
    "stat": pl.String,
    "err": pl.String,
    "done_date": pl.String,
    "handset": pl.String,  # the recipient's number as the SMSC writes it
    "service": pl.String,  # our sender / short code
    "text": pl.String,  # receipts: the text excerpt; replies: the reply
}


@dataclass(frozen=True)
class Receipt:
    message_id: str
    stat: str
    err: str
    done_date: str
    text: str


def parse_receipt(text: str, receipted_message_id: str | None = None, message_state: int | None = None) -> Receipt:
    """A delivery receipt's fields; the TLVs win over the text when both are there."""
    fields = {name: match.group(1) for name, pattern in _RECEIPT_FIELDS.items()
              if (match := pattern.search(text or ""))}
    stat = (fields.get("stat") or "").upper() or STATE_NAMES.get(message_state or 0, "UNKNOWN")
    if message_state in STATE_NAMES and "stat" not in fields:
        stat = STATE_NAMES[message_state]
    return Receipt(
        message_id=(receipted_message_id or fields.get("id") or "").strip(),
        stat=stat[:7],
        err=fields.get("err") or "",
        done_date=fields.get("done") or "",
        text=(fields.get("text") or "").strip(),
    )


def _folded_keywords(texts: list[str] | pl.Series) -> pl.DataFrame:
    """`keyword`, `stop` and `start` for each text, by sql/status.sql's `stop_keyword`: the fold the statuses use.

    START (PLUS-6) is folded the same way and is never a STOP: its message keeps its delivery status."""
    from pipelines.queries import install_rules, queries

    frame = pl.DataFrame({"text": texts}, schema={"text": pl.String}).with_row_index("position")
    with _memory() as connection:
        install_rules(connection)
        connection.register("texts_frame", frame.to_arrow())
        folded = connection.sql(queries("status.sql")["fold_keywords"]).pl()
    return folded.with_columns((~pl.col("stop") & pl.col("keyword").is_in(sorted(START_KEYWORDS))).alias("start"))


def fold_replies(texts: pl.Series) -> pl.DataFrame:
    """For a column of replies, in order: `keyword` (folded), `stop` (BL-2, PLUS-6) and `start` (PLUS-6)."""
    return _folded_keywords(texts.cast(pl.String).fill_null(""))


def normalise_keyword(text: str) -> str:
    """A reply folded for keyword matching: no accents, upper case, letters only ("Arrêt !" → "ARRET")."""
    return _folded_keywords([text or ""]).item(0, "keyword")


def is_stop(text: str) -> bool:
    """BL-2, PLUS-6: STOP, ARRET/ARRÊT, STOPALL, DESABONNER, UNSUBSCRIBE in any case, spacing, punctuation."""
    return bool(_folded_keywords([text or ""]).item(0, "stop"))


def is_start(text: str) -> bool:
    """PLUS-6: START (any case, spacing, punctuation) re-subscribes a number that asked to stop."""
    return bool(_folded_keywords([text or ""]).item(0, "start"))


ID_KEY_COLUMNS = {"id_text": pl.String, "id_dec": pl.Int64, "id_hex": pl.Int64}


def with_id_keys(frame: pl.DataFrame, column: str = "message_id") -> pl.DataFrame:
    """`frame` with its SMSC ids read every way they may be written again: id_text, id_dec, id_hex.

    SMSCs answer submit_sm_resp in hex and write the receipt in decimal (or the reverse), with or without
    leading zeros (Jasmin #643); sql/status.sql's receipt_parts matches under the one pairing of these that fits
    the campaign. A value that does not fit a signed 64-bit integer (≥ 2**63, as DuckDB's BIGINT) has no decimal
    or hex reading; an empty id has none.
    """
    trimmed = pl.col(column).cast(pl.String).str.strip_chars().str.to_uppercase()
    stripped = trimmed.str.strip_chars_start("0")
    text = pl.when(trimmed.str.len_chars() == 0).then(None).when(stripped.str.len_chars() == 0).then(pl.lit("0")) \
        .otherwise(stripped)
    return frame.with_columns(text.alias("id_text")).with_columns(
        pl.when(pl.col("id_text").str.contains(r"^[0-9]+$"))
        .then(pl.col("id_text").str.to_integer(base=10, dtype=pl.Int64, strict=False)).alias("id_dec"),
        pl.when(pl.col("id_text").str.contains(r"^[0-9A-F]+$"))
        .then(pl.col("id_text").str.to_integer(base=16, dtype=pl.Int64, strict=False)).alias("id_hex"),
    )


def id_keys(message_id: str) -> tuple[str | None, int | None, int | None]:
    """One SMSC id read every way (`with_id_keys`): (canonical text, as decimal, as hexadecimal)."""
    row = with_id_keys(pl.DataFrame({"message_id": [message_id]}, schema={"message_id": pl.String})).row(0)
    return row[1], row[2], row[3]


@dataclass
class EventWriter:
    """Append-only event files: a new Parquet file per flush, never rewritten."""

    directory: Path
    name: str = "events"
    buffer: list[dict] = field(default_factory=list)

    def add(self, **event) -> None:
        event.setdefault("received_at", datetime.now(timezone.utc))
        self.buffer.append(event)

    def flush(self) -> Path | None:
        if not self.buffer:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        frame = pl.DataFrame(self.buffer, schema=EVENT_SCHEMA)
        self.buffer = []
        path = self.directory / f"{self.name}-{time.time_ns()}-{uuid.uuid4().hex[:6]}.parquet"
        staging = path.with_suffix(".tmp")
        frame.write_parquet(staging)
        staging.rename(path)
        return path


def read_events(directory: Path) -> pl.DataFrame:
    """Every event of a folder's Parquet files. A file deleted between the listing and its read (the receiver's
    compaction merged it into its day's file, pipelines.compaction) makes the folder listed again."""
    for _ in range(5):
        files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
        try:
            frames = [pl.read_parquet(f) for f in files]
        except FileNotFoundError:
            continue
        if not frames:
            return pl.DataFrame(schema=EVENT_SCHEMA)
        return pl.concat(frames, how="vertical_relaxed").cast(EVENT_SCHEMA)
    raise FileNotFoundError(f"{directory}: its event files kept changing while read [PLUS-4]")


# --- the part key (PLUS-1) ---------------------------------------------------------------------------------
# A part is known by what it is, not by where it sat in a list: the number, a digest of the message, the
# occurrence of that (number, message) among the plan's sendable rows, and the part number. A re-plan of a
# changed list keeps the key of every unchanged message, so a resume never gives one person another's message.
KEY_SEPARATOR = "\x1f"
_PART_KEY = r"^\+?\d+\x1f[0-9a-f]{16}\x1f\d+\x1f\d+$"


class LedgerFormatError(ValueError):
    """A ledger whose part keys are not (number, message digest, occurrence, part): written before them."""


def message_digests(messages: pl.Series) -> pl.Series:
    """A stable digest per message (the first 64 bits of its MD5, hex), computed by DuckDB on the column.

    Stable across versions and processes, unlike Polars' own hash: a ledger outlives the process that wrote it.
    """
    import duckdb

    frame = pl.DataFrame({"message": messages.cast(pl.String).fill_null("")}).to_arrow()  # noqa: F841 - read by name in the SQL
    with duckdb.connect() as connection:
        digests = connection.sql("SELECT substr(md5(message), 1, 16) AS digest FROM frame").pl()
    return digests.get_column("digest")


def keyed_rows(plan: pl.DataFrame) -> pl.DataFrame:
    """The sendable rows of a plan in plan order, numbered (`_plan_row`), each with its MESSAGE_KEY."""
    rows = plan.with_row_index("_plan_row")
    if "STATUS_CODE" in rows.columns:
        rows = rows.filter(pl.col("STATUS_CODE").is_null())
    digest = message_digests(rows.get_column("MESSAGE")).alias("_digest")
    return rows.with_columns(digest).with_columns(
        pl.concat_str(pl.col("INT_MOBILE"), pl.col("_digest"),
                      pl.int_range(pl.len()).over("INT_MOBILE", "_digest").cast(pl.String),
                      separator=KEY_SEPARATOR).alias("MESSAGE_KEY")
    ).drop("_digest")


def part_key(message_key: str, part: int) -> str:
    """The key of part `part` (1-based) of the message `message_key` (from `keyed_rows`)."""
    return f"{message_key}{KEY_SEPARATOR}{part}"


def split_part_keys(frame: pl.DataFrame, column: str = "key") -> pl.DataFrame:
    """`frame` with each part key split into MESSAGE_KEY and PART; LedgerFormatError for a key of another form."""
    bad = frame.filter(~pl.col(column).str.contains(_PART_KEY)).get_column(column)
    if bad.len():
        raise LedgerFormatError(
            f"{bad.len():,} ledger records are not keyed by (number, message digest, occurrence, part), e.g. "
            f"{bad[0]!r}: this ledger was written by an earlier smsflow and cannot be resumed safely; move the "
            f"campaign's dispatch/ledger folder aside and check with the SMSC what was sent [PLUS-1]")
    parts = pl.col(column).str.extract(r"\x1f(\d+)$")
    return frame.with_columns(pl.col(column).str.replace(r"\x1f\d+$", "").alias("MESSAGE_KEY"),
                              parts.cast(pl.Int32).alias("PART"))


def resolve_parts(plan: pl.DataFrame, ledger: pl.DataFrame) -> pl.DataFrame:
    """The ledger's parts with the plan row each belongs to (REF_LIST, ID_LINE; null when no longer planned)."""
    if "MESSAGE_KEY" not in ledger.columns:
        ledger = split_part_keys(ledger)
    rows = keyed_rows(plan).select("MESSAGE_KEY", "REF_LIST", "ID_LINE")
    return ledger.join(rows, on="MESSAGE_KEY", how="left")


def match_receipts(parts: pl.DataFrame, receipts: pl.DataFrame) -> pl.DataFrame:
    """Attach each receipt to its part by SMSC message id: sql/status.sql's `receipt_parts`, run in memory.

    `parts` has `key` and `message_id`; the result is `receipts` with the part's `key` (null if unmatched), each
    matched under the one id convention that fits the most of these receipts, as the warehouse matches them.
    """
    from pipelines.queries import queries

    numbered = receipts.drop(ID_KEY_COLUMNS, strict=False).with_row_index("receipt_row")
    if receipts.is_empty() or parts.is_empty():
        return numbered.drop("receipt_row").with_columns(pl.lit(None, dtype=pl.String).alias("key"))
    part_frame = _with_schema(with_id_keys(parts.select(pl.col("key").alias("part_key"), "message_id")),
                              PART_ROW_SCHEMA)
    receipt_frame = _with_schema(with_id_keys(numbered).with_columns(pl.lit("receipt").alias("kind")),
                                 EVENT_ROW_SCHEMA).with_columns(numbered.get_column("receipt_row"))
    with _derivation(pl.DataFrame(schema=RECIPIENT_ROW_SCHEMA), part_frame, receipt_frame, None) as connection:
        matched = connection.sql(queries("status.sql")["receipt_rows"]).pl()
    return numbered.join(matched, on="receipt_row", how="left", maintain_order="left").drop("receipt_row")


def _with_schema(frame: pl.DataFrame, schema: dict) -> pl.DataFrame:
    """`frame`'s columns of `schema`, in its order and types; a column it lacks is null."""
    return frame.select(pl.col(name) if name in frame.columns else pl.lit(None).alias(name)
                        for name in schema).cast(schema)


FAILURES = status.FAILED  # a part with one of these fails its whole message (kept for importers)
PENDING = status.PROCESSING  # submitted to nobody yet (or throttled and waiting): "En cours de traitement"

PART_ROW_SCHEMA = {"part_key": pl.String, "ref_list": pl.String, "id_line": pl.Int64, "part": pl.Int32,
                   "outcome": pl.String, "submit_status": pl.Int32, "message_id": pl.String, **ID_KEY_COLUMNS,
                   "submitted_at": pl.Datetime("us", "UTC"), "resent": pl.Boolean}
EVENT_ROW_SCHEMA = {"kind": pl.String, "received_at": pl.Datetime("us", "UTC"), "message_id": pl.String,
                    **ID_KEY_COLUMNS, "stat": pl.String, "err": pl.String, "handset": pl.String,
                    "service": pl.String, "text": pl.String}
RECIPIENT_ROW_SCHEMA = {"plan_row": pl.UInt32, "ref_list": pl.String, "id_line": pl.Int64, "int_mobile": pl.String,
                        "status_code": pl.Int32, "parts": pl.Int32}


def part_rows(plan: pl.DataFrame, ledger: pl.DataFrame) -> pl.DataFrame:
    """The ledger's parts as rows of the warehouse's `parts` table (PART_ROW_SCHEMA), resolved to their plan row."""
    parts = resolve_parts(plan, ledger)
    return with_id_keys(parts).select(
        pl.col("key").alias("part_key"), pl.col("REF_LIST").alias("ref_list"), pl.col("ID_LINE").alias("id_line"),
        pl.col("PART").alias("part"), "outcome", pl.col("status").alias("submit_status"), "message_id",
        *ID_KEY_COLUMNS,
        pl.from_epoch((pl.col("ts").cast(pl.Float64) * 1_000_000).cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC").alias("submitted_at"),
        (pl.col("resent").fill_null(False) if "resent" in parts.columns else pl.lit(False)).alias("resent"),
    ).cast(PART_ROW_SCHEMA)


def event_rows(events: pl.DataFrame) -> pl.DataFrame:
    """Events as rows of the warehouse's `events` table (EVENT_ROW_SCHEMA), SMSC ids read every way."""
    return with_id_keys(events).select(*EVENT_ROW_SCHEMA).cast(EVENT_ROW_SCHEMA)


def _memory():
    """An in-memory DuckDB speaking UTC, for running sql/status.sql on frames."""
    import duckdb

    from pipelines.queries import queries

    connection = duckdb.connect()
    connection.execute(queries("status.sql")["memory_session"])
    return connection


def _derivation(recipients: pl.DataFrame, parts: pl.DataFrame, events: pl.DataFrame,
                expired_before: float | None):
    """An in-memory DuckDB where sql/status.sql's views read these frames as `plan_recipients`, `parts`, `events`."""
    from pipelines.queries import install_rules, install_views

    connection = _memory()
    campaign = pl.lit("", dtype=pl.String).alias("campaign_id")
    for name, frame in (("plan_recipients", recipients), ("parts", parts), ("events", events)):
        connection.register(name, frame.select(campaign, pl.all()).to_arrow())
    clock = pl.DataFrame({"expired_before": [None if expired_before is None else int(expired_before * 1_000_000)]},
                         schema={"expired_before": pl.Int64})
    connection.register("status_clock", clock.select(
        pl.from_epoch("expired_before", time_unit="us").dt.replace_time_zone("UTC")).to_arrow())
    install_rules(connection)
    install_views(connection, in_memory=True)
    return connection


def recipient_statuses(plan: pl.DataFrame, ledger: pl.DataFrame, events: pl.DataFrame,
                       validity_seconds: float | None = status.VALIDITY_SECONDS, now: float | None = None
                       ) -> pl.DataFrame:
    """STATUS_CODE, DELIVERYDATE, REPLY, STOP, HELD and REASON per sendable recipient, derived from events (PLUS-4).

    `plan` has REF_LIST, ID_LINE, INT_MOBILE, MESSAGE, PARTS (rows with a STATUS_CODE are not sendable);
    `ledger` is `dispatch.ledger_state`. The statuses are the warehouse's `message_status` view, run here on
    these frames: no final receipt `validity_seconds` after a part's last record (None: never) → 10.
    """
    from pipelines.queries import queries

    now = time.time() if now is None else now
    expired_before = None if validity_seconds is None else now - validity_seconds
    pre_send = pl.col("STATUS_CODE") if "STATUS_CODE" in plan.columns else pl.lit(None)
    recipients = plan.with_row_index("plan_row").select(
        "plan_row", pl.col("REF_LIST").alias("ref_list"), pl.col("ID_LINE").alias("id_line"),
        pl.col("INT_MOBILE").alias("int_mobile"), pre_send.alias("status_code"), pl.col("PARTS").alias("parts"),
    ).cast(RECIPIENT_ROW_SCHEMA)
    with _derivation(recipients, part_rows(plan, ledger), event_rows(events), expired_before) as connection:
        return connection.sql(queries("status.sql")["recipient_statuses"]).pl()


def derived_rows(plan: pl.DataFrame, parts: pl.DataFrame, events: pl.DataFrame, campaign_id: str,
                 validity_seconds: float = status.VALIDITY_SECONDS):
    """A campaign's rows of the warehouse's `messages` table (status.sql's derived_status, as of now), derived in
    memory from its plan (REF_LIST, ID_LINE, INT_MOBILE, STATUS_CODE, PARTS), `part_rows` and `event_rows`: the
    rows a load writes with the facts, without reading them back from the warehouse. An Arrow table."""
    from pipelines.queries import queries

    recipients = plan.with_row_index("plan_row").select(
        "plan_row", pl.col("REF_LIST").alias("ref_list"), pl.col("ID_LINE").alias("id_line"),
        pl.col("INT_MOBILE").alias("int_mobile"), pl.col("STATUS_CODE").alias("status_code"),
        pl.col("PARTS").alias("parts")).cast(RECIPIENT_ROW_SCHEMA)
    with _derivation(recipients, parts, events, time.time() - validity_seconds) as connection:
        return connection.execute(queries("status.sql")["derived_rows"], {"campaign_id": campaign_id}).to_arrow_table()


def stop_numbers(events: pl.DataFrame) -> list[str]:
    """E.164 numbers that asked to stop (BL-2), in the order they first asked: the statuses' own STOP rule."""
    from pipelines.queries import queries

    empty_recipients = pl.DataFrame(schema=RECIPIENT_ROW_SCHEMA)
    with _derivation(empty_recipients, pl.DataFrame(schema=PART_ROW_SCHEMA), event_rows(events), None) as connection:
        return connection.sql(queries("status.sql")["stop_numbers"]).pl().get_column("int_mobile").to_list()


def with_shared_events(ledger: pl.DataFrame, events: pl.DataFrame, shared: Path | None) -> pl.DataFrame:
    """A campaign's own `events` with those of the shared folder `shared` that are its (PLUS-4): the receipts that
    match its parts (`ledger`: `part_rows`, with part_key, message_id, submitted_at) under the id convention its
    own receipts vote for, and the replies received after its first submit.

    A long-lived receiver bound beside a running campaign's sender gets part of its receipts (an SMSC spreads them
    over the binds of the account), so a step that waits for a campaign's receipts reads them here, as
    `load_dispatch` matches them."""
    if shared is None or not Path(shared).is_dir() or ledger.is_empty():
        return events
    late = read_events(Path(shared))
    if late.is_empty():
        return events
    receipts = pl.concat([events.with_columns(pl.lit(False).alias("late")),
                          late.with_columns(pl.lit(True).alias("late"))]) \
        .filter(pl.col("kind") == "receipt").unique(list(EVENT_SCHEMA), keep="first", maintain_order=True)
    matched = match_receipts(ledger.select(pl.col("part_key").alias("key"), "message_id"), receipts)
    late_receipts = matched.filter(pl.col("late") & pl.col("key").is_not_null()).drop("late", "key")
    started = ledger.get_column("submitted_at").dt.epoch("s").min()
    replies = late.filter((pl.col("kind") == "reply") & (pl.col("received_at").dt.epoch("s") >= int(started or 0)))
    return pl.concat([events, late_receipts, replies]).unique(maintain_order=True)
