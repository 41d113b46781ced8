"""The send ledger as files (PLUS-1, SEND-7): JSON lines in the campaign's dispatch/ledger/, one file per bind and
run, fsynced in groups. The default on one host; `SMSFLOW_LEDGER=store` puts it in the account store instead."""

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
from pipelines.smpp import pdu as P

LEDGER_SCHEMA = {"key": pl.String, "event": pl.String, "status": pl.Int64, "message_id": pl.String,
                 "evidence": pl.String, "ts": pl.Float64}
# What each backend's reader gives `ledger_state`: the records in order, and whether the part may be at the SMSC.
RECORDS_SCHEMA = {**LEDGER_SCHEMA, "on_the_wire": pl.Boolean}


def outcome_event(status: int) -> str:
    """The ledger event of a submit_sm_resp's status: accepted, throttled (sent again) or refused."""
    return "accepted" if status == P.ESME_ROK else ("throttled" if status in THROTTLING else "refused")


def boot_id() -> str:
    """This machine's boot (Linux): a ledger mark flushed to the kernel but not fsynced survives only in it."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


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
        self.sent_many([key])

    def sent_many(self, keys: list[str]) -> None:
        """SEND-7: these parts are about to go on the wire together (one write to the SMSC), marked at once."""
        with self._lock:
            self._file.write("".join('{"key":%s,"event":"sent"}\n' % json.dumps(key) for key in keys))
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
        self._write({"key": key, "event": outcome_event(status), "status": status, "message_id": message_id,
                     "evidence": evidence, "ts": time.time()}, sync=False)

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


def ledger_files(directory: Path) -> list[Path]:
    """A ledger folder's files, in name order."""
    return sorted(directory.glob("*.jsonl")) if directory.is_dir() else []


_READ_SCHEMA = {**LEDGER_SCHEMA, "boot": pl.String}


def file_records(path: Path, this_boot: str) -> pl.DataFrame:
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
