"""Delivery receipts and replies (PLUS-4, BL-2, BL-3, PLUS-6): parsing, events, and statuses from events.

Every deliver_sm becomes an event (append-only Parquet). A message's status is never stored: it is
derived from its events, the ledger's submit outcome first, then its receipts; a multipart message rolls up
to one status per recipient (all parts delivered → delivered; any part failed → that failure).
"""

from __future__ import annotations

import re
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

# The one table from SMSC facts to SPEC STAT codes.
SUBMIT_ACCEPTED = 24  # accepted by the SMSC: "Envoyé"
SUBMIT_REFUSED_DESTINATION = 13  # submit refused for the destination: "Refus opérateur"
SUBMIT_ERROR = 12  # any other submit error: "Erreur de traitement"
NO_FINAL_RECEIPT = 10  # no final receipt within the validity period: "Posté"
STOP_REQUESTED = 17
RECEIPT_STATUS = {
    "ACCEPTD": 10,  # intermediate: posted
    "ENROUTE": 24,  # intermediate: stays sent
    "DELIVRD": 16,
    "UNDELIV": 20,
    "EXPIRED": 22,
    "DELETED": 23,
    "REJECTD": 27,
    "UNKNOWN": 26,
}
FINAL_STATES = {"DELIVRD", "UNDELIV", "EXPIRED", "DELETED", "REJECTD", "UNKNOWN"}
# §5.2.28 message_state, for receipts that carry only the TLV.
STATE_NAMES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN",
               8: "REJECTD"}
# Destination refusals among submit_sm_resp errors (SMPP 3.4 §5.1.3).
DESTINATION_ERRORS = {0x0B, 0x0C, 0x33, 0x34, 0x50, 0x51}

STOP_KEYWORDS = {"STOP", "ARRET", "STOPALL", "DESABONNER", "UNSUBSCRIBE"}  # PLUS-6 (ARRÊT folds to ARRET)
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


def normalise_keyword(text: str) -> str:
    """A reply folded for keyword matching: no accents, upper case, letters only ("Arrêt !" → "ARRET")."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text or "") if not unicodedata.combining(c))
    return re.sub(r"[^A-Z]", "", folded.upper())


def is_stop(text: str) -> bool:
    """BL-2, PLUS-6: STOP, ARRET/ARRÊT, STOPALL, DESABONNER, UNSUBSCRIBE in any case, spacing, punctuation."""
    return normalise_keyword(text) in STOP_KEYWORDS


def id_keys(message_id: str) -> tuple[str, int | None, int | None]:
    """Ways an SMSC message id may be written again: (canonical text, as decimal, as hexadecimal).

    SMSCs answer submit_sm_resp in hex and write the receipt in decimal (or the reverse), with or without
    leading zeros (Jasmin #643); the receipt matches the part when any of these agree.
    """
    text = (message_id or "").strip().upper().lstrip("0") or "0"
    decimal = int(text) if text.isdigit() else None
    hexadecimal = int(text, 16) if re.fullmatch(r"[0-9A-F]+", text) else None
    return text, decimal, hexadecimal


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
    files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    if not files:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed").cast(EVENT_SCHEMA)


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

    frame = pl.DataFrame({"message": messages.cast(pl.String).fill_null("")}).to_arrow()
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


def _with_id_keys(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    keys = [id_keys(value) for value in frame.get_column(column).to_list()]
    return frame.with_columns(
        pl.Series("_id_text", [k[0] for k in keys], dtype=pl.String),
        pl.Series("_id_dec", [k[1] for k in keys], dtype=pl.Int64),
        pl.Series("_id_hex", [k[2] for k in keys], dtype=pl.Int64),
    )


def match_receipts(parts: pl.DataFrame, receipts: pl.DataFrame) -> pl.DataFrame:
    """Attach each receipt to its part by SMSC message id, written in hex or decimal either side.

    `parts` has `key` and `message_id`; the result is `receipts` with the part's `key` (null if unmatched).
    Exact text first, then a decimal receipt against a hex id, then a hex receipt against a decimal id.
    """
    if receipts.is_empty() or parts.is_empty():
        return receipts.with_columns(pl.lit(None, dtype=pl.String).alias("key"))
    part_keys = _with_id_keys(parts.select("key", "message_id").drop_nulls("message_id"), "message_id")
    receipt_keys = _with_id_keys(receipts.with_row_index("_receipt"), "message_id")
    matches = []
    for receipt_column, part_column in (("_id_text", "_id_text"), ("_id_dec", "_id_hex"), ("_id_hex", "_id_dec"),
                                        ("_id_dec", "_id_dec")):
        found = receipt_keys.drop_nulls(receipt_column).join(
            part_keys.drop_nulls(part_column).select(pl.col(part_column).alias(receipt_column), "key"),
            on=receipt_column, how="inner")
        matches.append(found.select("_receipt", "key"))
    chosen = pl.concat(matches).unique("_receipt", keep="first", maintain_order=True)
    return receipt_keys.join(chosen, on="_receipt", how="left").drop("_receipt", "_id_text", "_id_dec", "_id_hex")


FAILURES = {20, 22, 23, 26, 27, 13, 12}
PENDING = 1  # submitted to nobody yet (or throttled and waiting): "En cours de traitement"
HELD_REASON = "in flight when the sender stopped"  # SEND-7 hold: status 1, not resent; an operator may release


def _part_statuses(ledger: pl.DataFrame, receipts: pl.DataFrame, expired_before: float | None) -> pl.DataFrame:
    """One status per part: the submit outcome, then its latest receipt (a final one wins)."""
    matched = match_receipts(ledger.select("key", "message_id"), receipts.filter(pl.col("kind") == "receipt"))
    ranked = matched.drop_nulls("key").with_columns(
        pl.col("stat").is_in(list(FINAL_STATES)).alias("_final")
    ).sort(["_final", "received_at"])
    latest = ranked.group_by("key", maintain_order=True).last().select(
        "key", pl.col("stat").alias("_stat"), pl.col("received_at").alias("DELIVERYDATE"), "_final")
    parts = ledger.join(latest, on="key", how="left")
    receipt_code = pl.col("_stat").replace_strict(RECEIPT_STATUS, default=None, return_dtype=pl.Int32)
    no_final = pl.col("_final").is_null() | ~pl.col("_final")
    expired = pl.lit(False) if expired_before is None else (pl.col("ts") < expired_before)
    code = (
        pl.when(pl.col("outcome") == "refused")
        .then(pl.when(pl.col("status").is_in(list(DESTINATION_ERRORS))).then(SUBMIT_REFUSED_DESTINATION)
              .otherwise(SUBMIT_ERROR))
        .when(pl.col("outcome") != "accepted").then(PENDING)
        .when(no_final & expired).then(NO_FINAL_RECEIPT)
        .when(pl.col("_stat").is_not_null()).then(receipt_code)
        .otherwise(SUBMIT_ACCEPTED)
    )
    return parts.with_columns(code.cast(pl.Int32).alias("PART_STATUS"))


def recipient_statuses(plan: pl.DataFrame, ledger: pl.DataFrame, events: pl.DataFrame,
                       validity_seconds: float | None = 48 * 3600, now: float | None = None) -> pl.DataFrame:
    """STATUS_CODE, DELIVERYDATE, REPLY and STOP per sendable recipient, derived from events (PLUS-4).

    `plan` has REF_LIST, ID_LINE, INT_MOBILE, MESSAGE, PARTS; `ledger` is `dispatch.ledger_state` with the
    time of each part's last record (`ts`); its parts join their rows by what was sent (`resolve_parts`). A multipart message rolls up to one status: all parts delivered →
    delivered; any part failed → that failure; else the first part still under way. A STOP reply (any
    keyword of PLUS-6) turns the recipient into 17. A message with a part held by the in-flight policy
    (SEND-7) stays 1 with HELD and REASON.
    """
    now = time.time() if now is None else now
    expired_before = None if validity_seconds is None else now - validity_seconds
    keys = resolve_parts(plan, ledger).drop_nulls("REF_LIST").rename({"PART": "_part"})
    parts = _part_statuses(keys, events, expired_before)
    failed = pl.col("PART_STATUS").is_in(list(FAILURES))
    rolled = parts.sort("_part").group_by("REF_LIST", "ID_LINE", maintain_order=True).agg(
        pl.len().alias("_sent_parts"),
        (pl.col("PART_STATUS") == 16).all().alias("_all_delivered"),
        pl.col("PART_STATUS").filter(failed).first().alias("_failure"),
        pl.col("PART_STATUS").filter(pl.col("PART_STATUS") != 16).first().alias("_under_way"),
        pl.col("DELIVERYDATE").max(),
        (pl.col("outcome") == "held").any().alias("_held"),
    )
    frame = plan.select("REF_LIST", "ID_LINE", "INT_MOBILE", "PARTS").join(
        rolled, on=["REF_LIST", "ID_LINE"], how="left")
    complete = pl.col("_sent_parts") == pl.col("PARTS")
    status = (
        pl.when(pl.col("_failure").is_not_null()).then(pl.col("_failure"))
        .when(complete & pl.col("_all_delivered")).then(16)
        .when(pl.col("_under_way").is_not_null()).then(pl.col("_under_way"))
        .otherwise(PENDING)
    )
    frame = frame.with_columns(status.cast(pl.Int32).alias("STATUS_CODE"),
                               pl.when(complete & pl.col("_all_delivered")).then(pl.col("DELIVERYDATE"))
                               .alias("DELIVERYDATE"))
    replies = events.filter(pl.col("kind") == "reply").sort("received_at").with_columns(
        ("+" + pl.col("handset").str.strip_prefix("+")).alias("INT_MOBILE"),
        pl.col("text").map_elements(is_stop, return_dtype=pl.Boolean).alias("_stop"),
    ).group_by("INT_MOBILE", maintain_order=True).agg(
        pl.col("text").str.join("#").alias("REPLY"), pl.col("_stop").any().alias("STOP"))
    frame = frame.join(replies, on="INT_MOBILE", how="left").with_columns(pl.col("STOP").fill_null(False))
    frame = frame.with_columns(pl.when(pl.col("STOP")).then(STOP_REQUESTED).otherwise(pl.col("STATUS_CODE"))
                               .cast(pl.Int32).alias("STATUS_CODE"))
    held = pl.col("_held").fill_null(False) & (pl.col("STATUS_CODE") == PENDING)
    frame = frame.with_columns(held.alias("HELD"), pl.when(held).then(pl.lit(HELD_REASON)).alias("REASON"))
    return frame.select("REF_LIST", "ID_LINE", "INT_MOBILE", "STATUS_CODE", "DELIVERYDATE", "REPLY", "STOP", "HELD",
                        "REASON")


def stop_numbers(events: pl.DataFrame) -> list[str]:
    """E.164 numbers that asked to stop (BL-2), in the order they asked."""
    replies = events.filter(pl.col("kind") == "reply").sort("received_at")
    numbers = ["+" + handset.lstrip("+") for handset, text in replies.select("handset", "text").iter_rows()
               if is_stop(text)]
    return list(dict.fromkeys(numbers))


def add_to_blacklist(path: Path, numbers: list[str]) -> int:
    """Append numbers not yet in the account's own blacklist file (one number per line); returns how many."""
    existing = set()
    if path.exists():
        existing = {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    new = [number for number in numbers if number not in existing]
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as stream:
            stream.write("".join(f"{number}\n" for number in new))
    return len(new)
