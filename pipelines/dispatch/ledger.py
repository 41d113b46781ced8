"""The send ledger (PLUS-1, SEND-7): what was announced, put on the wire and answered, per part, across crashes."""

from __future__ import annotations

import io
import json
import os
import threading
import time
import uuid
from pathlib import Path

import polars as pl

from pipelines.dispatch.errors import THROTTLING
from pipelines.dlr import split_part_keys
from pipelines.layout import CampaignPaths
from pipelines.smpp import pdu as P

LEDGER_SCHEMA = {"key": pl.String, "event": pl.String, "status": pl.Int64, "message_id": pl.String,
                 "evidence": pl.String, "ts": pl.Float64}


class Ledger:
    """Append-only JSON lines, one file per bind and run, fsynced in groups (PLUS-1)."""

    def __init__(self, directory: Path, name: str, group: int):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:6]}.jsonl"
        self._file = self.path.open("a", encoding="utf-8")
        self._group, self._pending, self._lock = group, 0, threading.Lock()
        # The boot this file was written in: its `sent` marks are only trusted when the kernel kept them.
        self._write({"event": "open", "boot": boot_id(), "ts": time.time()}, sync=True)

    def sent(self, key: str) -> None:
        """SEND-7: this part is about to go on the wire; in the kernel before the bytes are (not fsynced)."""
        with self._lock:
            self._file.write('{"key":%s,"event":"sent"}\n' % json.dumps(key))
            self._file.flush()

    def _write(self, record: dict, sync: bool) -> None:
        with self._lock:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._pending += 1
            if sync or self._pending >= self._group:
                self._sync()

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._pending = 0

    def intents(self, keys: list[str]) -> None:
        """Recorded and on disk before any of these parts is sent."""
        now = time.time()
        with self._lock:
            self._file.write("".join(json.dumps({"key": k, "event": "intent", "ts": now}, separators=(",", ":"))
                                     + "\n" for k in keys))
            self._sync()

    def outcome(self, key: str, status: int, message_id: str | None, evidence: str = "submit_sm_resp") -> None:
        event = "accepted" if status == P.ESME_ROK else ("throttled" if status in THROTTLING else "refused")
        self._write({"key": key, "event": event, "status": status, "message_id": message_id, "evidence": evidence,
                     "ts": time.time()}, sync=False)

    def decide(self, keys: list[str], event: str, evidence: str) -> None:
        """SEND-7: what becomes of parts in flight when a sender stopped (`held` or `resend`), on disk at once."""
        now = time.time()
        with self._lock:
            self._file.write("".join(json.dumps({"key": k, "event": event, "evidence": evidence, "ts": now},
                                                separators=(",", ":")) + "\n" for k in keys))
            self._sync()

    def flush(self) -> None:
        """Hand what was written to the kernel: a killed process then loses nothing (fsync covers power loss)."""
        with self._lock:
            self._file.flush()

    def sync(self) -> None:
        with self._lock:
            self._sync()

    def close(self) -> None:
        self.sync()
        self._file.close()


def boot_id() -> str:
    """This machine's boot (Linux): a ledger mark flushed to the kernel but not fsynced survives only in it."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def ledger_state(directory: Path) -> pl.DataFrame:
    """Per part key: its last outcome (accepted / refused / throttled / held / resend / unsent / none: in
    flight), SMSC message id, time, `resent` (SEND-7: ever resent by the policy) and the key split (MESSAGE_KEY,
    PART); LedgerFormatError for a ledger keyed the old way (by list line)."""
    files = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
    this_boot = boot_id()
    read = [_file_records(path, this_boot) for path in files]
    records = pl.concat(read) if read else pl.DataFrame(schema={**LEDGER_SCHEMA, "on_the_wire": pl.Boolean})
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


_READ_SCHEMA = {**LEDGER_SCHEMA, "boot": pl.String}


def _file_records(path: Path, this_boot: str) -> pl.DataFrame:
    """One ledger file's records in order, read whole by Polars, and `on_the_wire`: the part may be at the SMSC
    (a `sent` mark, or an intent written in another boot, whose `sent` mark the kernel may have lost, SEND-7).

    A line cut by a crash ends the file: the lines after it are not read (a file is appended to, so only its last
    line can be cut; a file that is not JSON lines at all is read line by line up to its first bad line)."""
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    whole, tail = data[:cut], data[cut:]
    try:
        frame = pl.read_ndjson(io.BytesIO(whole), schema=_READ_SCHEMA) if whole else pl.DataFrame(
            schema=_READ_SCHEMA)
    except Exception:  # noqa: BLE001 - a bad line inside the file: the lines before it, one by one
        frame, tail = _lines_before_a_bad_one(whole), b""
    if tail.strip():
        try:  # the last line written whole but for its newline
            frame = pl.concat([frame, pl.DataFrame([json.loads(tail)], schema=_READ_SCHEMA)])
        except ValueError:
            pass
    # Each `open` record says whether the records after it were written in this boot (their `sent` marks trusted).
    trusted = (pl.when(pl.col("event") == "open").then(pl.lit(bool(this_boot)) & (pl.col("boot") == this_boot))
               .forward_fill().fill_null(False))
    return frame.select(*LEDGER_SCHEMA, ((pl.col("event") == "sent") | ((pl.col("event") == "intent") & ~trusted))
                        .fill_null(False).alias("on_the_wire"))


def _lines_before_a_bad_one(data: bytes) -> pl.DataFrame:
    rows = []
    for line in data.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            break
    return pl.DataFrame(rows, schema=_READ_SCHEMA)


def campaign_dirs(plan_dir: Path) -> tuple[Path, Path]:
    """The ledger and events folders of a plan's campaign (CampaignPaths.ledger, .events), for the callers that
    take the pair."""
    paths = CampaignPaths.of_plan(plan_dir)
    return paths.ledger, paths.events
