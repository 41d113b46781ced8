"""The send ledger (PLUS-1, SEND-7): what was announced, put on the wire and answered, per part, across crashes.

Two homes, one record shape and one reduction: files in the campaign's dispatch/ledger/ (ledger_files; one host),
or rows of the account store (ledger_store; every worker of a stack reads them). `SMSFLOW_LEDGER` chooses: `store`
or `files`; by default `store` when the bucket (SMSFLOW_BUCKET) is on S3, `files` otherwise. Every worker of a
campaign must use the same home; `ledger_state` reads the files and, when the ledger is in the store or the store is
PostgreSQL, the store's rows too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal, Protocol

import polars as pl

from pipelines.dispatch.ledger_files import LEDGER_SCHEMA, RECORDS_SCHEMA, Ledger, boot_id, file_records, ledger_files
from pipelines.dlr import split_part_keys
from pipelines.layout import CampaignPaths

MODE_ENV = "SMSFLOW_LEDGER"
LedgerMode = Literal["store", "files"]

__all__ = ["LEDGER_SCHEMA", "MODE_ENV", "Ledger", "SendLedger", "boot_id", "campaign_dirs", "ledger_campaign",
           "ledger_mode", "ledger_state", "open_ledger", "reads_store"]


class SendLedger(Protocol):
    """What a sender writes to (PLUS-1, SEND-7); the file and the store ledger both are one."""

    def intents(self, keys: list[str]) -> None: ...
    def sent(self, key: str) -> None: ...
    def sent_many(self, keys: list[str]) -> None: ...
    def outcome(self, key: str, status: int, message_id: str | None, evidence: str = "submit_sm_resp") -> None: ...
    def decide(self, keys: list[str], event: str, evidence: str) -> None: ...
    def flush(self) -> None: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...


def ledger_mode() -> LedgerMode:
    """SMSFLOW_LEDGER, else `store` when SMSFLOW_BUCKET is an s3:// URL, else `files`; ValueError naming the
    setting, its value and the rule when it is neither."""
    from pipelines.storage import is_url

    value = os.environ.get(MODE_ENV, "").strip().lower()
    if not value:
        return "store" if is_url(os.environ.get("SMSFLOW_BUCKET", "")) else "files"
    if value not in ("store", "files"):
        raise ValueError(f"{MODE_ENV}={os.environ[MODE_ENV]!r}: the send ledger lives in the account store (store) "
                         f"or in the campaign's files (files) [PLUS-1]")
    return value  # type: ignore[return-value]


def ledger_campaign(directory: Path) -> str:
    """The campaign a ledger folder is of, as the store names it: the campaign folder's name (CampaignPaths), with
    `/tests` for its test sends' ledger (dispatch/tests, SEND-3)."""
    directory = Path(directory)
    campaign = directory.parent.parent.name
    return campaign if directory.name == "ledger" else f"{campaign}/{directory.name}"


def _bucket_of(directory: Path) -> Path | None:
    """The local bucket a campaign's ledger folder is in (<bucket>/campaigns/<id>/dispatch/ledger), if it is one."""
    root = Path(directory).parent.parent
    return root.parent.parent if root.parent.name == "campaigns" else None


def open_ledger(directory: Path, name: str, group: int) -> SendLedger:
    """A writer of the ledger of `directory` (a campaign's dispatch/ledger or dispatch/tests) where SMSFLOW_LEDGER
    says: the store's rows, or a new file in the folder."""
    if ledger_mode() == "store":
        from pipelines.dispatch.ledger_store import StoreLedger, ledger_engine

        from pipelines.storage import is_url

        engine = ledger_engine(_bucket_of(directory))
        if engine.dialect.name == "sqlite" and is_url(os.environ.get("SMSFLOW_BUCKET", "")):
            logging.getLogger(__name__).warning(
                "the send ledger of %s is in this host's SQLite store (%s): a send resumed on another host would not "
                "see it and could send its parts again; share a PostgreSQL store between hosts: "
                "SMSFLOW_DB=postgresql://… [PLUS-1, SEND-7]", ledger_campaign(directory), engine.url.database)
        return StoreLedger(engine, ledger_campaign(directory), name, group)
    return Ledger(Path(directory), name, group)


def reads_store() -> bool:
    """Whether readers of ledgers read the store's rows: when the ledger is in the store, or the store is a shared
    PostgreSQL one (a campaign a worker of another setting sent)."""
    from pipelines.store.engine import ENV

    return ledger_mode() == "store" or os.environ.get(ENV, "").startswith(("postgresql", "postgres:"))


def _store_records(directory: Path) -> pl.DataFrame | None:
    """The store's rows of this ledger (`reads_store`), else None."""
    if not reads_store():
        return None
    from pipelines.dispatch.ledger_store import ledger_engine, store_records

    return store_records(ledger_engine(_bucket_of(directory)), ledger_campaign(directory))


def ledger_state(directory: Path) -> pl.DataFrame:
    """Per part key: its last outcome (accepted / refused / throttled / held / resend / unsent / none: in
    flight), SMSC message id, time, `resent` (SEND-7: ever resent by the policy) and the key split (MESSAGE_KEY,
    PART); LedgerFormatError for a ledger keyed the old way (by list line). Reads the folder's files and the
    store's rows of its campaign (`open_ledger`)."""
    this_boot = boot_id()
    read = [file_records(path, this_boot) for path in ledger_files(Path(directory))]
    stored = _store_records(Path(directory))
    if stored is not None and not stored.is_empty():
        read.append(stored)
    records = pl.concat(read) if read else pl.DataFrame(schema=RECORDS_SCHEMA)
    return reduce_records(records)


def reduce_records(records: pl.DataFrame) -> pl.DataFrame:
    """`ledger_state` of records in write order (RECORDS_SCHEMA), from files or the store alike."""
    sent = records.filter(pl.col("on_the_wire")).get_column("key")
    records = records.filter(~pl.col("event").is_in(["open", "sent"]).fill_null(False))
    if records.is_empty():
        return pl.DataFrame(schema={"key": pl.String, "outcome": pl.String, "status": pl.Int64,
                                    "message_id": pl.String, "ts": pl.Float64, "resent": pl.Boolean,
                                    "MESSAGE_KEY": pl.String, "PART": pl.Int32})
    frame = records.select(*LEDGER_SCHEMA).with_row_index("_n")
    # Files of several binds and runs interleave: records are put back in time order.
    outcomes = frame.filter(pl.col("event") != "intent").sort("ts", "_n").group_by("key", maintain_order=True).last()
    intents = frame.filter(pl.col("event") == "intent").group_by("key").agg(pl.col("ts").max().alias("_intent"))
    # SEND-7: a resent part's `resend` record is overwritten by its later outcome; the flag keeps it counted.
    resent = frame.group_by("key").agg((pl.col("event") == "resend").any().alias("resent"))
    state = intents.join(outcomes.select("key", "event", "status", "message_id", "ts"), on="key", how="full",
                         coalesce=True).join(resent, on="key", how="left")
    # An intent newer than the part's last outcome: sent again (throttled, released, resent) and not answered.
    # Marked `sent`, it may be at the SMSC (in flight: "none"); announced only, it never left ("unsent").
    in_flight = pl.col("event").is_null() | (pl.col("_intent") > pl.col("ts")).fill_null(False)
    on_the_wire = pl.col("key").is_in(sent.implode())
    return split_part_keys(state.select(
        "key", pl.when(in_flight).then(pl.when(on_the_wire).then(pl.lit("none")).otherwise(pl.lit("unsent")))
        .otherwise(pl.col("event")).alias("outcome"),
        pl.when(in_flight).then(None).otherwise(pl.col("status")).alias("status"),
        pl.when(in_flight).then(None).otherwise(pl.col("message_id")).alias("message_id"),
        pl.when(in_flight).then(pl.col("_intent")).otherwise(pl.coalesce("ts", "_intent")).alias("ts"),
        pl.col("resent").fill_null(False)))


def campaign_dirs(plan_dir: Path) -> tuple[Path, Path]:
    """The ledger and events folders of a plan's campaign (CampaignPaths.ledger, .events), for the callers that
    take the pair."""
    paths = CampaignPaths.of_plan(plan_dir)
    return paths.ledger, paths.events
