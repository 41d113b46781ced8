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

_RECEIPT = re.compile(
    r"id:(?P<id>\S*)\s+sub:(?P<sub>\S*)\s+dlvrd:(?P<dlvrd>\S*)\s+submit date:(?P<submit>\d*)\s+"
    r"done date:(?P<done>\d*)\s+stat:(?P<stat>\S*)\s+err:(?P<err>\S*)(?:\s+text:(?P<text>.*))?",
    re.IGNORECASE | re.DOTALL,
)

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
    match = _RECEIPT.search(text or "")
    fields = match.groupdict() if match else {}
    stat = (fields.get("stat") or "").upper() or STATE_NAMES.get(message_state or 0, "UNKNOWN")
    if message_state in STATE_NAMES and not match:
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
