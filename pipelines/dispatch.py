"""Dispatch (SEND-6, PLUS-1, PLUS-5, PLUS-9): the sendable rows of a plan, as SMS parts, over SMPP binds.

Each part goes out as one submit_sm with a delivery receipt requested (PDUs from `pipelines.smpp.pdu`,
profiled 20x cheaper per PDU than smpplib's PDU objects; the bind waits `bind_timeout` for a slow SMSC),
through a window of parts in flight and a rate limiter counted in parts per second. Throttling answers
(ESME_RTHROTTLED, ESME_RMSGQFUL) slow the bind down and the same parts are sent again, in order. An error
budget pauses the batch instead of burning the list.

The send ledger makes a part go out at most once per (campaign, recipient, part), across crashes, kills and
re-runs: before a group of parts is sent its `intent` records are fsynced, and every submit_sm_resp is
recorded with the SMSC's message id. A re-run skips what the ledger shows as accepted or refused. The one
ambiguous case is an intent with no response (the process died in between): the SMSC may or may not have
the part. Those parts are never resent blindly: the re-run first binds and listens for receipts (the SMSC
keeps them until a receiver binds) for `ambiguous_grace` seconds, and a receipt from that handset quoting
that part's text proves it was taken; only the parts with no such evidence are sent again. A part the SMSC
took but never reports on at all can therefore arrive twice: that is the documented price of never losing
one.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import heapq
import itertools
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlparse

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.dlr import (HELD_REASON, EventWriter, keyed_rows, parse_receipt, part_key, read_events,
                           split_part_keys)
from pipelines.smpp import parts as sms_parts
from pipelines.smpp import pdu as P
from pipelines.window import WindowPolicy, closing_time, is_open, next_opening
from pipelines.window import policy as send_window

log = logging.getLogger(__name__)
THROTTLING = {P.ESME_RTHROTTLED, P.ESME_RMSGQFUL}
STATUS_NAMES = {P.ESME_RINVMSGLEN: "ESME_RINVMSGLEN", P.ESME_RINVCMDLEN: "ESME_RINVCMDLEN",
                P.ESME_RINVCMDID: "ESME_RINVCMDID", P.ESME_RINVBNDSTS: "ESME_RINVBNDSTS",
                P.ESME_RALYBND: "ESME_RALYBND", P.ESME_RSYSERR: "ESME_RSYSERR", P.ESME_RBINDFAIL: "ESME_RBINDFAIL",
                P.ESME_RINVPASWD: "ESME_RINVPASWD", 0x0F: "ESME_RINVSYSID", P.ESME_RTHROTTLED: "ESME_RTHROTTLED"}
_TICK = 0.5  # seconds between event flushes when receipts trickle in
_ENQUIRE_EVERY = 30.0  # seconds of silence before an enquire_link
SHORT_CODE = "36184"


class SmscSettings(BaseModel):
    """Where and how to send; from an `smpp://` URL (Airflow connection URI) or fields."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "smsflow"
    password: str = "smsflow"
    system_type: str = ""
    binds: int = Field(1, ge=1, le=32, description="Parallel binds (processes).")
    window: int = Field(64, ge=1, le=10_000, description="submit_sm in flight per bind.")
    tps: float | None = Field(None, gt=0, description="Parts per second allowed by the operator, all binds together.")
    error_budget: float = Field(0.05, ge=0, le=1, description="Share of permanent errors that pauses the batch.")
    budget_window: int = Field(1000, ge=10, description="How many recent submits the error budget looks at.")
    ambiguous_grace: float = Field(5.0, ge=0, description="Seconds to wait for receipts before resending "
                                                          "parts whose submit outcome is unknown.")
    linger: float = Field(0.0, ge=0, description="Seconds to keep listening for receipts after the last response.")
    gsm7_packed: bool = False
    fsync_group: int = Field(64, ge=1, description="Ledger records per fsync.")
    timeout: float = Field(30.0, gt=0, description="Seconds without any answer before the bind is given up.")
    bind_timeout: float = Field(10.0, gt=0, description="Seconds to connect and get the bind answered (an SMSC "
                                                        "across a WAN takes seconds).")

    @classmethod
    def from_url(cls, url: str, **overrides) -> SmscSettings:
        """smpp://system_id:password@host:port?binds=2&window=64&tps=500&bind_timeout=10&system_type=...

        A refused URL raises ValueError naming it with the password masked (the message ends in logs)."""
        shown = redact_url(url)
        try:
            parsed = urlparse(url)
            port = parsed.port
        except ValueError as error:
            raise ValueError(f"malformed SMSC URL {shown}: {error}") from None
        if parsed.scheme not in ("smpp", "smpps"):
            raise ValueError(f"not an smpp:// URL: {shown}")
        values: dict = {"host": parsed.hostname or "127.0.0.1", "port": port or 2775}
        if parsed.username:
            values["system_id"] = unquote(parsed.username)
        if parsed.password is not None:
            values["password"] = unquote(parsed.password)
        values.update({key: items[-1] for key, items in parse_qs(parsed.query).items()})
        values.update({key: value for key, value in overrides.items() if value is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
                                 if "password" not in e["loc"])
            raise ValueError(f"bad SMSC URL {shown}: {problems or 'invalid password field'}") from None


def redact_url(url: str) -> str:
    """`url` with its password replaced by ***, whatever the scheme, even when it does not parse."""
    return re.sub(r"(?<=://)([^/@:]*):[^/@]*@", r"\1:***@", str(url))


class DispatchPaused(RuntimeError):
    """The error budget was exceeded: the batch stopped instead of burning the list."""


class DispatchError(RuntimeError):
    """The SMSC could not be reached or refused the bind."""


class CampaignBusy(DispatchError):
    """Another sender of this campaign (or a bind process it left behind) is alive: one live sender at a time."""


class PlanMissing(DispatchError, FileNotFoundError):
    """The plan folder or its recipients.parquet is not there."""


class WindowClosed(RuntimeError):
    """SEND-2: the legal window is closed (or closed mid-batch); the batch resumes at `reopens`."""

    def __init__(self, reopens: datetime, sent: int = 0):
        self.reopens, self.sent = reopens, sent
        super().__init__(f"the send window is closed; {sent:,} parts went out before it closed; the batch resumes "
                         f"at {reopens:%A %d/%m/%Y %H:%M} (Europe/Paris) [SEND-2]")


# --- what to send ------------------------------------------------------------------------------------------

@dataclass(order=True)
class OutPart:
    order: int
    key: str = field(compare=False)  # dlr.part_key: number, message digest, occurrence, part
    destination: str = field(compare=False)
    short_message: bytes = field(compare=False)
    esm_class: int = field(compare=False)
    data_coding: int = field(compare=False)
    text: str = field(compare=False)
    row: int = field(compare=False)


def sendable_rows(plan_dir: Path) -> pl.DataFrame:
    """The rows of the plan that are sent, in plan order, numbered, each with its MESSAGE_KEY (PLUS-1)."""
    plan = pl.read_parquet(plan_dir / "recipients.parquet", columns=[
        "REF_LIST", "ID_LINE", "INT_MOBILE", "MESSAGE", "ENCODING", "PARTS", "STATUS_CODE"])
    return keyed_rows(plan).drop("STATUS_CODE")


def batch_count(plan_dir: Path, batch_size: int) -> int:
    rows = pl.scan_parquet(plan_dir / "recipients.parquet").filter(pl.col("STATUS_CODE").is_null()) \
        .select(pl.len()).collect().item()
    return max(1, -(-rows // batch_size))


def build_parts(rows: pl.DataFrame, campaign: str, packed: bool = False) -> list[OutPart]:
    """Every part of every row, in order; their count per row equals the plan's PARTS (tested)."""
    out: list[OutPart] = []
    for message_key, ref_list, id_line, number, message, encoding, planned, plan_row in rows.select(
            "MESSAGE_KEY", "REF_LIST", "ID_LINE", "INT_MOBILE", "MESSAGE", "ENCODING", "PARTS",
            "_plan_row").iter_rows():
        # The concatenation reference follows the message, not its list line: a resumed message keeps it.
        pieces = sms_parts.split(message, encoding, sms_parts.reference(f"{campaign}\x1f{message_key}"), packed)
        if len(pieces) != planned:
            raise AssertionError(f"{ref_list} line {id_line}: {len(pieces)} parts on the wire, {planned} planned")
        for index, piece in enumerate(pieces, start=1):
            out.append(OutPart(len(out), part_key(message_key, index), number.lstrip("+"),
                               piece.short_message, P.ESM_UDHI if piece.udh else 0,
                               sms_parts.DATA_CODING[encoding], piece.text, plan_row))
    return out


def status_name(status: int) -> str:
    """`0x0D (ESME_RBINDFAIL)`: an SMPP 3.4 §5.1.3 command_status as people look it up."""
    name = STATUS_NAMES.get(status)
    return f"0x{status:02X}" + (f" ({name})" if name else "")


def source_address(sender: str) -> tuple[int, int, str]:
    """(TON, NPI, address): an alphanumeric sender is TON 5; the short code is a network-specific number."""
    if sender.isdigit():
        return 3, 0, sender
    return 5, 0, sender


def validity_period(until: datetime | None) -> str:
    """SMPP 3.4 §7.1.1 absolute time `YYMMDDhhmmsstnnp` (PLUS-9): the part expires when the window closes."""
    if until is None:
        return ""
    offset = until.utcoffset() or timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    sign = "-" if offset.total_seconds() < 0 else "+"
    return until.strftime("%y%m%d%H%M%S") + "0" + f"{quarters:02d}" + sign


# --- the ledger ------------------------------------------------------------------------------------------

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
    flight), SMSC message id, time and the key split (MESSAGE_KEY, PART); LedgerFormatError for a ledger keyed
    the old way (by list line)."""
    files = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
    records, this_boot, sent = [], boot_id(), set()
    for path in files:
        trusted = False
        with path.open(encoding="utf-8") as stream:
            for line in stream:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line cut by a crash: everything after it in this file is gone too
                event = record.get("event")
                if event == "open":
                    trusted = bool(this_boot) and record.get("boot") == this_boot
                elif event == "sent":
                    sent.add(record["key"])
                elif event == "intent" and not trusted:
                    sent.add(record["key"])  # written before a reboot: its `sent` mark may be lost, assume sent
                else:
                    records.append(record)
    if not records:
        return pl.DataFrame(schema={"key": pl.String, "outcome": pl.String, "status": pl.Int64,
                                    "message_id": pl.String, "ts": pl.Float64, "MESSAGE_KEY": pl.String,
                                    "PART": pl.Int32})
    frame = pl.DataFrame(records, schema=LEDGER_SCHEMA).with_row_index("_n")
    # Files of several binds and runs interleave: records are put back in time order.
    outcomes = frame.filter(pl.col("event") != "intent").sort("ts", "_n").group_by("key", maintain_order=True).last()
    intents = frame.filter(pl.col("event") == "intent").group_by("key").agg(pl.col("ts").max().alias("_intent"))
    state = intents.join(outcomes.select("key", "event", "status", "message_id", "ts"), on="key", how="full",
                         coalesce=True)
    # An intent newer than the part's last outcome: sent again (throttled, released, resent) and not answered.
    # Marked `sent`, it may be at the SMSC (in flight: "none"); announced only, it never left ("unsent").
    in_flight = pl.col("event").is_null() | (pl.col("_intent") > pl.col("ts")).fill_null(False)
    on_the_wire = pl.col("key").is_in(pl.Series(list(sent), dtype=pl.String).implode())
    return split_part_keys(state.select(
        "key", pl.when(in_flight).then(pl.when(on_the_wire).then(pl.lit("none")).otherwise(pl.lit("unsent")))
        .otherwise(pl.col("event")).alias("outcome"),
        pl.when(in_flight).then(None).otherwise(pl.col("status")).alias("status"),
        pl.when(in_flight).then(None).otherwise(pl.col("message_id")).alias("message_id"),
        pl.when(in_flight).then(pl.col("_intent")).otherwise(pl.coalesce("ts", "_intent")).alias("ts")))


# --- one bind ------------------------------------------------------------------------------------------

class _RateLimiter:
    """Parts per second, slowed on throttling answers and recovering gradually (PLUS-5)."""

    def __init__(self, rate: float | None):
        self.ceiling = rate
        self.rate = rate
        self._next = time.monotonic()
        self._last_throttle = 0.0

    def wait(self) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
            now = self._next
        self._next = max(self._next, now - 0.01) + 1.0 / self.rate  # at most 10 ms of catch-up burst

    def throttled(self, observed: float) -> None:
        now = time.monotonic()
        if now - self._last_throttle > 0.2:  # one slow-down per burst of refusals
            base = self.rate if self.rate is not None else max(observed, 10.0)
            self.rate = max(1.0, base * 0.9)
            self._last_throttle = now
        self._next = max(self._next, now + 0.05)

    def recover(self) -> None:
        if self.rate is not None and self._last_throttle and time.monotonic() - self._last_throttle > 0.3:
            target = self.ceiling if self.ceiling is not None else self.rate * 1.25
            self.rate = min(target, self.rate * 1.05) if self.ceiling is not None else self.rate * 1.05


@dataclass
class BindReport:
    paused: int = 0  # parts left unsent because the window closed
    accepted: int = 0
    refused: int = 0
    throttled: int = 0
    receipts: int = 0
    replies: int = 0
    seconds: float = 0.0


class _Bind:
    """One transceiver bind: a sending loop (this thread) and a reading loop (a thread)."""

    def __init__(self, settings: SmscSettings, ledger: Ledger, events: EventWriter, source: tuple[int, int, str],
                 validity: str, rate: float | None, progress: Callable[[int], None] | None = None):
        self.settings, self.ledger, self.events = settings, ledger, events
        self.source, self.validity = source, validity
        self.limiter = _RateLimiter(rate)
        self.progress = progress
        self._socket: socket.socket | None = None
        self._sequence = 0
        self._early: list = []
        self._leftover = bytearray()
        self._send_lock = threading.Lock()
        self._state = threading.Condition()
        self._in_flight: dict[int, OutPart] = {}
        self._retry: list[OutPart] = []
        self._recent: deque[bool] = deque(maxlen=settings.budget_window)
        self._refusals: dict[int, int] = {}
        self._error: BaseException | None = None
        self._closing = False
        self._draining = False
        self.report = BindReport()
        self.receipts: list[dict] = []
        self._acks: list = []  # deliver_sm_resp held until their events are on disk
        self._events_lock = threading.Lock()
        self._flushed = time.monotonic()
        self._last_read = time.monotonic()

    # connection -------------------------------------------------------------------------------------
    def open(self, mode: str = "transceiver") -> None:
        """Connect and bind (§4.1) within `bind_timeout`; DispatchError always says where, as whom and why."""
        self._socket = self._bind(mode)
        self._socket.settimeout(_TICK)  # from now on the reading loop wakes up every tick to flush events
        self._reader = threading.Thread(target=self._read_loop, name="smsflow-smpp-read", daemon=True)
        self._reader.start()

    def _bind(self, mode: str) -> socket.socket:
        settings = self.settings
        where = f"cannot bind to {settings.host}:{settings.port} as {settings.system_id!r} ({mode})"
        command = {"receiver": P.BIND_RECEIVER, "transmitter": P.BIND_TRANSMITTER,
                   "transceiver": P.BIND_TRANSCEIVER}[mode]
        started = time.monotonic()
        try:
            connection = socket.create_connection((settings.host, settings.port), timeout=settings.bind_timeout)
        except socket.timeout:
            raise DispatchError(f"{where}: no TCP connection after {settings.bind_timeout:g} s") from None
        except ConnectionRefusedError:
            raise DispatchError(f"{where}: connection refused") from None
        except OSError as error:
            raise DispatchError(f"{where}: {error.strerror or error.__class__.__name__}") from None
        # §4.1.1: system_id, password, system_type, interface_version 3.4, addr_ton, addr_npi, address_range
        body = (P.cstring(settings.system_id) + P.cstring(settings.password) + P.cstring(settings.system_type)
                + bytes((0x34, 0, 0)) + P.cstring(""))
        buffer = bytearray()
        try:
            connection.sendall(P.encode(command, 0, self._next_sequence(), body))
            while True:
                left = settings.bind_timeout - (time.monotonic() - started)
                if left <= 0:
                    raise socket.timeout
                connection.settimeout(left)
                data = connection.recv(4096)
                if not data:
                    raise ConnectionError("the SMSC closed the connection without answering the bind")
                buffer += data
                pdus = P.split(buffer)
                for index, (command_id, status, _, _) in enumerate(pdus):
                    if command_id == command | P.RESPONSE or command_id == P.GENERIC_NACK:
                        if status != P.ESME_ROK:
                            raise DispatchError(f"{where}: bind refused with status {status_name(status)}")
                        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        # Receipts the SMSC sends right after the bind may share its read: the loop gets them.
                        self._early, self._leftover = pdus[index + 1:], buffer
                        return connection
        except DispatchError:
            connection.close()
            raise
        except socket.timeout:
            connection.close()
            raise DispatchError(f"{where}: no bind answer after {settings.bind_timeout:g} s "
                                f"(bind_timeout; raise it for a slow SMSC)") from None
        except (OSError, P.PduError) as error:
            connection.close()
            raise DispatchError(f"{where}: {error or error.__class__.__name__}") from None

    def close(self) -> None:
        try:  # the reading thread gets the unbind_resp and ends
            self.flush_events(force=True)
            self._send(P.encode(P.UNBIND, 0, self._next_sequence()))
            self._reader.join(timeout=5)
        except OSError:  # the SMSC may already have closed the connection
            pass
        self._closing = True
        with contextlib.suppress(OSError):
            self._socket.close()

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            self._socket.sendall(data)

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    # reading ----------------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        buffer = self._leftover
        if self._early:
            self._handle(self._early)
        while not self._closing:
            try:
                data = self._socket.recv(1 << 16)
                if not data:
                    raise ConnectionError("closed by the SMSC")
                buffer += data
                pdus = P.split(buffer)
            except socket.timeout:
                self.flush_events(force=True)
                if time.monotonic() - self._last_read > _ENQUIRE_EVERY:
                    self._send(P.encode(P.ENQUIRE_LINK, 0, self._next_sequence()))
                    self._last_read = time.monotonic()
                continue
            except (OSError, P.PduError) as error:  # connection closed or broken PDU
                if not self._closing:
                    with self._state:
                        self._error = DispatchError(f"SMPP connection lost: {error}")
                        self._state.notify_all()
                return
            self._last_read = time.monotonic()
            over = self._handle(pdus)
            if self.ledger is not None:
                self.ledger.flush()  # once per network read, not once per record
            if over:
                return

    def _handle(self, pdus: list) -> bool:
        """Act on the PDUs of one network read; True when the session is over."""
        for command_id, status, sequence, body in pdus:
            if command_id in (P.SUBMIT_SM | P.RESPONSE, P.GENERIC_NACK):
                message_id = body[:body.index(0)].decode("latin-1") if status == P.ESME_ROK and body else None
                self._answered(sequence, status, message_id)
            elif command_id == P.DELIVER_SM:
                self._delivered(sequence, body)
            elif command_id == P.ENQUIRE_LINK:
                self._send(P.encode(P.ENQUIRE_LINK | P.RESPONSE, 0, sequence))
            elif command_id == P.UNBIND | P.RESPONSE:
                return True
            elif command_id == P.UNBIND:  # the SMSC ends the session: answer, and stop sending
                self._send(P.encode(P.UNBIND | P.RESPONSE, 0, sequence))
                with self._state:
                    self._error = DispatchError("the SMSC unbound the session")
                    self._state.notify_all()
                return True
            elif not command_id & P.RESPONSE:  # a request we do not serve (data_sm, alert_notification...)
                self._send(P.encode(P.GENERIC_NACK, P.ESME_RINVCMDID, sequence))
        return False

    def _answered(self, sequence: int, status: int, message_id) -> None:
        with self._state:
            part = self._in_flight.pop(sequence, None)
            if part is None:
                return
            self.ledger.outcome(part.key, status, message_id if status == P.ESME_ROK else None)
            if status == P.ESME_ROK:
                self.report.accepted += 1
                self._recent.append(False)
            elif status in THROTTLING:
                # Stop sending until every part in flight is answered, so refused parts go again in order.
                self.report.throttled += 1
                self._draining = True
                heapq.heappush(self._retry, part)
                self.limiter.throttled(self._observed_rate())
            else:
                self.report.refused += 1
                self._recent.append(True)
                self._refusals[status] = self._refusals.get(status, 0) + 1
            self._state.notify_all()
        if self.progress is not None and status not in THROTTLING:
            self.progress(1)

    def _delivered(self, sequence: int, body: bytes) -> None:
        """A receipt or a reply: recorded as an event, acknowledged once the event is on disk."""
        from pipelines.smpp import gsm7

        try:
            message = P.parse_short_message(body)
        except P.PduError:
            self._acks.append(P.encode(P.DELIVER_SM | P.RESPONSE, P.ESME_RSYSERR, sequence, b"\x00"))
            return
        handset, service = message.source_addr, message.destination_addr
        text = message.short_message or message.tlvs.get(P.TAG_MESSAGE_PAYLOAD, b"")
        if message.esm_class & P.ESM_DELIVERY_RECEIPT:
            receipted = message.tlvs.get(P.TAG_RECEIPTED_MESSAGE_ID, b"").rstrip(b"\x00").decode("latin-1") or None
            state = message.tlvs.get(P.TAG_MESSAGE_STATE)
            receipt = parse_receipt(text.decode("latin-1", errors="replace"), receipted, state[0] if state else None)
            self.events.add(kind="receipt", message_id=receipt.message_id, stat=receipt.stat, err=receipt.err,
                            done_date=receipt.done_date, handset=handset, service=service, text=receipt.text)
            self.receipts.append({"handset": handset, "text": receipt.text, "message_id": receipt.message_id})
            self.report.receipts += 1
        else:
            payload = P.user_data(message)
            if message.data_coding == 8:
                reply = payload.decode("utf-16-be", errors="replace")
            elif message.data_coding in (0, 1):
                reply = gsm7.decode(payload)
            else:
                reply = payload.decode("latin-1", errors="replace")
            self.events.add(kind="reply", handset=handset, service=service, text=reply)
            self.report.replies += 1
        self._acks.append(P.encode(P.DELIVER_SM | P.RESPONSE, P.ESME_ROK, sequence, b"\x00"))
        self.flush_events()

    def flush_events(self, force: bool = False) -> None:
        """Write the buffered events, then acknowledge them: a receipt is acknowledged only once it is on
        disk, so one that arrives just before a crash is delivered again by the SMSC, not lost."""
        with self._events_lock:
            if not self._acks:
                return
            if not force and len(self._acks) < 500 and time.monotonic() - self._flushed < _TICK:
                return
            self.events.flush()
            for response in self._acks:
                self._send(response)
            self._acks.clear()
            self._flushed = time.monotonic()

    # sending ----------------------------------------------------------------------------------------
    def _observed_rate(self) -> float:
        elapsed = time.monotonic() - self._started
        return (self.report.accepted + 1) / elapsed if elapsed > 0 else 100.0

    def _check_budget(self) -> None:
        if len(self._recent) >= min(self.settings.budget_window, 100):
            share = sum(self._recent) / len(self._recent)
            if share > self.settings.error_budget:
                codes = ", ".join(f"0x{code:02X}×{count}" for code, count in sorted(self._refusals.items()))
                raise DispatchPaused(
                    f"error budget exceeded: {sum(self._recent)} of the last {len(self._recent)} submits were "
                    f"refused ({share:.1%} > {self.settings.error_budget:.0%}; codes {codes}); the batch is "
                    f"paused, nothing more is sent until it is re-run")

    def run(self, parts: list[OutPart], deadline: float | None = None,
            clock: Callable[[], datetime] | None = None) -> BindReport:
        """Send `parts`; stop taking new ones at `deadline` (epoch seconds by `clock`: the window's close)."""
        now = (lambda: clock().timestamp()) if clock is not None else time.time
        started = self._started = time.monotonic()
        pending = deque(sorted(parts))
        ton, npi, address = self.source
        group = self.settings.fsync_group
        announced: set[str] = set()
        last_answer = time.monotonic()
        while True:
            with self._state:
                while True:
                    if self._error is not None:
                        raise self._error
                    self._check_budget()
                    if self._draining and not self._in_flight:
                        self._draining = False  # every answer is in: resend the refused parts, in order
                    # Refused parts go again one at a time, each answered before the next, so they are taken
                    # in their original order and before any part not sent yet.
                    window = 1 if self._retry else self.settings.window
                    if not self._draining and len(self._in_flight) < window and (self._retry or pending):
                        break
                    if not self._in_flight and not self._retry and not pending:
                        break
                    if not self._state.wait(timeout=self.settings.timeout):
                        if time.monotonic() - last_answer > self.settings.timeout:
                            raise DispatchError(f"no answer from the SMSC for {self.settings.timeout:.0f} s")
                    else:
                        last_answer = time.monotonic()
                if not self._in_flight and not self._retry and not pending:
                    break
                if deadline is not None and now() >= deadline:
                    if self._in_flight:  # the window closed: let what is in flight be answered, send nothing new
                        self._state.wait(timeout=self.settings.timeout)
                        continue
                    self.report.paused = len(self._retry) + len(pending)
                    break
                # Parts refused for throttling go again first, in their original order.
                if self._retry and (not pending or self._retry[0] < pending[0]):
                    part = heapq.heappop(self._retry)
                else:
                    part = pending.popleft()
            if part.key not in announced:
                # The intents of the next group go to disk before any of them is sent.
                batch = [part.key] + [p.key for p in itertools.islice(pending, group - 1) if p.key not in announced]
                self.ledger.intents(batch)
                announced.update(batch)
            self.limiter.wait()
            self.limiter.recover()
            sequence = self._next_sequence()
            body = P.build_short_message(P.ShortMessage(
                source_addr=address, source_addr_ton=ton, source_addr_npi=npi, destination_addr=part.destination,
                dest_addr_ton=1, dest_addr_npi=1, esm_class=part.esm_class, data_coding=part.data_coding,
                short_message=part.short_message, registered_delivery=1, validity_period=self.validity))
            with self._state:
                self._in_flight[sequence] = part
            self.ledger.sent(part.key)
            try:
                self._send(P.encode(P.SUBMIT_SM, 0, sequence, body))
            except Exception as error:
                raise DispatchError(f"SMPP connection lost while sending: {error}") from None
        self.ledger.sync()
        self.report.seconds = time.monotonic() - started  # sending time, without the receipts' linger
        if self.settings.linger:
            self.listen(self.settings.linger)
        return self.report

    def listen(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._error is None:
            time.sleep(0.05)


# --- a batch ------------------------------------------------------------------------------------------

@dataclass
class DispatchReport(BindReport):
    """A batch's send: the bind's figures, plus what the ledger saved from sending again."""

    batch: int | None = None
    parts: int = 0
    skipped: int = 0
    resent: int = 0  # SEND-7 resend: parts in flight when a sender stopped, sent again (at least once)
    resent_ambiguous: int = 0  # the same figure, by its former name
    held: int = 0  # SEND-7 hold: parts in flight when a sender stopped, not sent again (status 1, the reason)
    released: int = 0  # held parts an operator released (send_plan(release_held=True)), sent now
    confirmed_by_receipt: int = 0  # parts in flight a receipt proved taken: neither held nor resent
    not_in_plan: int = 0  # parts in the ledger whose message is no longer in the plan (re-planned list)
    wall: float = 0.0

    @property
    def parts_per_second(self) -> float:
        return (self.accepted + self.refused) / self.seconds if self.seconds else 0.0


def campaign_dirs(plan_dir: Path) -> tuple[Path, Path]:
    """The ledger and events folders beside a plan: <campaign>/dispatch/ledger, <campaign>/events."""
    campaign = plan_dir.parent
    return campaign / "dispatch" / "ledger", campaign / "events"


# --- one live sender per campaign ------------------------------------------------------------------------

_ORPHAN_WAIT = 5.0  # seconds for bind processes of a killed sender to die (PR_SET_PDEATHSIG: milliseconds)
_bind_lock_fd: int | None = None  # a bind process's own lock, held until it exits


def _try_flock(path: Path, exclusive: bool) -> int | None:
    """An open descriptor holding a flock on `path`, or None when another process holds a conflicting one."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _flock_holders(path: Path) -> list[int]:
    """Pids holding a flock on `path` (Linux /proc/locks), else the pid its holder wrote in it."""
    try:
        inode = str(path.stat().st_ino)
        pids = sorted({int(f[4]) for f in (line.split() for line in Path("/proc/locks").read_text().splitlines())
                       if len(f) > 5 and f[1] == "FLOCK" and f[5].rsplit(":", 1)[-1] == inode})
    except (OSError, ValueError):
        pids = []
    if not pids:
        with contextlib.suppress(OSError, ValueError):
            pids = [int(path.read_text().split()[0])]
    return pids


def _busy(folder: Path, what: str, pids: list[int]) -> CampaignBusy:
    holders = ", ".join(str(pid) for pid in pids) or "unknown"
    return CampaignBusy(f"campaign {folder.parent} is being sent by another process ({what}, pid {holders}); "
                        f"one live sender per campaign: wait for it to end, or stop it [PLUS-1]")


def _live_orphans(folder: Path, scope: str) -> list[int]:
    """Pids of bind processes, left by a sender that died, still sending rows this `scope` covers."""
    pids = []
    for path in (folder / "binds").glob("*.lock") if (folder / "binds").is_dir() else []:
        owner_scope, _, pid = path.stem.rpartition("-")
        if scope != "all" and owner_scope not in ("all", scope):
            continue
        fd = _try_flock(path, exclusive=True)
        if fd is None:
            pids.append(int(pid))
            continue
        path.unlink(missing_ok=True)  # its process is gone: the kernel released the lock
        os.close(fd)
    return pids


@contextlib.contextmanager
def campaign_lock(plan_dir: Path, batch: int | None = None):
    """Hold the campaign's sender lock for a send; CampaignBusy at once when another sender lives (PLUS-1).

    An OS file lock (flock) in <campaign>/dispatch/, released by the kernel when its holder dies however it
    dies. The whole plan takes it exclusively; a batch shares it with other batches and takes its batch's own.
    Bind processes of a killed sender die with it (PR_SET_PDEATHSIG); until they are gone, the lock refuses.
    """
    folder = campaign_dirs(plan_dir)[0].parent
    folder.mkdir(parents=True, exist_ok=True)
    scope = "all" if batch is None else f"batch-{batch}"
    held: list[int] = []
    try:
        whole = folder / "sender.lock"
        fd = _try_flock(whole, exclusive=batch is None)
        if fd is None:
            raise _busy(folder, "the whole plan" if batch is None else f"batch {batch} needs the plan free",
                        _flock_holders(whole))
        held.append(fd)
        own = whole if batch is None else folder / f"sender-{scope}.lock"
        if batch is not None:
            fd = _try_flock(own, exclusive=True)
            if fd is None:
                raise _busy(folder, f"batch {batch}", _flock_holders(own))
            held.append(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        deadline = time.monotonic() + _ORPHAN_WAIT
        while orphans := _live_orphans(folder, scope):
            if time.monotonic() > deadline:
                raise _busy(folder, "bind processes of a sender that died", orphans)
            time.sleep(0.05)
        yield folder / "binds" / f"{scope}-{{pid}}.lock"
    finally:
        for fd in reversed(held):
            os.close(fd)


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: the kernel kills this process with SIGKILL when the process that started it dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _bind_process_started(lock_pattern: str, parent: int) -> None:
    """A bind process: its own lock first (a resume sees it alive), then die with the parent, then check it."""
    global _bind_lock_fd
    path = Path(lock_pattern.format(pid=os.getpid()))
    path.parent.mkdir(parents=True, exist_ok=True)
    _bind_lock_fd = _try_flock(path, exclusive=True)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before PR_SET_PDEATHSIG was set: send nothing
        os._exit(1)


def _excerpt(text: str) -> str:
    """A receipt's `text:` field as SMSCs write it: 20 characters, anything outside Latin-1 replaced."""
    return text[:20].encode("latin-1", errors="replace").decode("latin-1").strip()


def _confirm_by_receipts(ambiguous: list[OutPart], receipts: list[dict], ledger: Ledger) -> set[str]:
    """Ambiguous parts proven taken by a receipt from their handset quoting their text."""
    seen: dict[tuple[str, str], str] = {}
    for receipt in receipts:
        seen.setdefault((receipt["handset"].lstrip("+"), _excerpt(receipt["text"])), receipt["message_id"])
    confirmed = set()
    for part in ambiguous:
        message_id = seen.get((part.destination, _excerpt(part.text)))
        if message_id is not None:
            ledger.outcome(part.key, P.ESME_ROK, message_id, evidence="receipt")
            confirmed.add(part.key)
    return confirmed


InFlight = Literal["hold", "resend"]


def in_flight_policy(summary: dict, chosen: InFlight | None = None) -> InFlight:
    """SEND-7: the chosen policy, else the campaign's (options.in_flight), else hold for marketing, resend else."""
    campaign = summary["campaign"]
    return chosen or campaign.get("in_flight") or ("hold" if campaign["type"] == "marketing" else "resend")


def _settle_in_flight(session: _Bind, in_flight: list[OutPart], ledger: Ledger, events_dir: Path,
                      policy: InFlight, grace: float) -> tuple[set[str], set[str]]:
    """SEND-7: parts written but never answered when a sender stopped; returns (confirmed, held) keys.

    Receipts the SMSC still holds arrive during `grace`, and those an earlier run stored count too: a receipt
    from the handset quoting the part's text proves it was taken. The others follow the policy: `hold` records
    them held (not sent again), `resend` records them to be sent again. Each decision is in the ledger.
    """
    session.listen(grace)
    stored = read_events(events_dir).filter(pl.col("kind") == "receipt").select("handset", "text",
                                                                               "message_id").to_dicts()
    confirmed = _confirm_by_receipts(in_flight, stored + session.receipts, ledger)
    unproven = [part.key for part in in_flight if part.key not in confirmed]
    ledger.decide(unproven, "held" if policy == "hold" else "resend", HELD_REASON)
    return confirmed, set(unproven) if policy == "hold" else set()


def send_batch(plan_dir: Path, settings: SmscSettings, batch: int | None = None, batch_size: int = 10_000,
               campaign: str | None = None, sender: str | None = None, valid_until: datetime | None = None,
               progress: Callable[[int], None] | None = None, bind_index: int = 0, binds: int = 1,
               window: WindowPolicy | None = None, *, in_flight: InFlight | None = None, release_held: bool = False,
               clock: Callable[[], datetime] | None = None, settle_only: bool = False) -> DispatchReport:
    """Send one batch of the plan (all of it when `batch` is None) over one bind, resuming from the ledger.

    Called under the campaign's lock (`send_plan`). With `binds` > 1 this call sends only the rows of its
    `bind_index` (rows are dealt by plan order). Parts in flight when an earlier sender stopped follow the
    in-flight policy (SEND-7); held parts go out only with `release_held`.
    A marketing campaign is sent inside its legal window only (SEND-2, checked now by `clock`, when the batch
    actually goes out): closed → WindowClosed before anything is sent; closing mid-batch → the rest waits for
    the next opening (WindowClosed after the parts in flight are answered). Its parts expire when the window
    closes (PLUS-9).
    """
    plan_dir = Path(plan_dir)
    clock = clock or (lambda: datetime.now(timezone.utc))
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    policy = in_flight_policy(summary, in_flight)
    deadline = None
    if window is None and summary["campaign"]["type"] == "marketing":
        window = send_window(summary["campaign"].get("send_window") or "seed")
    if window is not None:
        now = clock()
        if not is_open(window, now):
            raise WindowClosed(next_opening(window, now))
        closes = closing_time(window, now)
        valid_until = min(valid_until, closes) if valid_until else closes
        deadline = closes.timestamp()
    campaign = campaign or plan_dir.parent.name
    sender = sender or summary["campaign"]["sender"] or SHORT_CODE
    planned = sendable_rows(plan_dir)
    rows = planned
    if batch is not None:
        rows = rows.slice(batch * batch_size, batch_size)
    if binds > 1:
        rows = rows.filter(pl.int_range(pl.len()) % binds == bind_index)
    parts = build_parts(rows, campaign, settings.gsm7_packed)
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    state = ledger_state(ledger_dir)
    outcome = dict(zip(state.get_column("key").to_list(), state.get_column("outcome").to_list()))
    report = DispatchReport(batch=batch, parts=len(parts), not_in_plan=state.filter(~pl.col("MESSAGE_KEY").is_in(
        planned.get_column("MESSAGE_KEY").implode())).height)
    unanswered = [part for part in parts if outcome.get(part.key) == "none"]
    name = f"batch-{batch if batch is not None else 'all'}-bind-{bind_index}"
    ledger = events = session = None
    try:
        if unanswered or (not settle_only and (release_held or any(
                outcome.get(part.key) not in ("accepted", "refused", "held") for part in parts))):
            ledger = Ledger(ledger_dir, name, settings.fsync_group)
            events = EventWriter(events_dir, name)
            rate = settings.tps / binds if settings.tps else None
            session = _Bind(settings, ledger, events, source_address(sender), validity_period(valid_until), rate,
                            progress)
            session.open()
        if unanswered:
            confirmed, held = _settle_in_flight(session, unanswered, ledger, events_dir, policy,
                                                settings.ambiguous_grace)
            report.confirmed_by_receipt = len(confirmed)
            outcome.update({key: "accepted" for key in confirmed})
            outcome.update({part.key: "held" if part.key in held else "resend" for part in unanswered
                            if part.key not in confirmed})
        counts = itertools.groupby(sorted(outcome.get(part.key, "new") for part in parts))
        tally = {value: sum(1 for _ in group) for value, group in counts}
        report.skipped = tally.get("accepted", 0) + tally.get("refused", 0)
        report.resent = report.resent_ambiguous = tally.get("resend", 0)
        if release_held:
            report.released = tally.get("held", 0)
        else:
            report.held = tally.get("held", 0)
        stop = {"accepted", "refused"} if release_held else {"accepted", "refused", "held"}
        todo = [part for part in parts if outcome.get(part.key) not in stop]
        if report.released:
            log.warning("%s: %d held parts released by the operator are sent now [SEND-7]", plan_dir.parent,
                        report.released)
        if not todo or settle_only:
            return report
        bind_report = session.run(todo, deadline, clock)
    finally:
        if session is not None:
            session.close()
            events.flush()
            ledger.close()
    for name in (f.name for f in fields(BindReport)):
        setattr(report, name, getattr(bind_report, name))
    if report.paused:
        raise WindowClosed(next_opening(window, clock()), report.accepted)
    return report


def _send_in_child(arguments: tuple) -> DispatchReport | WindowClosed:
    plan_dir, settings_json, batch, batch_size, campaign, sender, valid_until, index, binds, window, options = \
        arguments
    settings = SmscSettings.model_validate_json(settings_json)
    try:
        return send_batch(Path(plan_dir), settings, batch, batch_size, campaign, sender, valid_until, None, index,
                          binds, window, **options)
    except WindowClosed as closed:
        return closed


def _check_plan(plan_dir: Path) -> None:
    for path in (plan_dir, plan_dir / "recipients.parquet", plan_dir / "summary.json"):
        if not path.exists():
            raise PlanMissing(f"no plan at {plan_dir}: {path.name} is missing; run `smsflow plan` first")


def send_plan(plan_dir: Path, settings: SmscSettings, batch: int | None = None, batch_size: int = 10_000, *,
              in_flight: InFlight | None = None, release_held: bool = False,
              progress: Callable[[int], None] | None = None, campaign: str | None = None, sender: str | None = None,
              valid_until: datetime | None = None, window: WindowPolicy | None = None,
              clock: Callable[[], datetime] | None = None) -> DispatchReport:
    """Send over `settings.binds` binds in parallel processes (Python encodes PDUs on one core per process).

    The campaign's sender lock is held for the whole send (CampaignBusy if another sender lives); bind
    processes die with this one. `in_flight` (SEND-7) overrides the campaign's policy for parts an earlier
    sender left unanswered; `release_held` sends the parts held so far. `clock` (tests) is the time the
    send window is judged at.
    """
    plan_dir = Path(plan_dir)
    _check_plan(plan_dir)
    options = {"in_flight": in_flight, "release_held": release_held, "clock": clock}
    with campaign_lock(plan_dir, batch) as bind_locks:
        if settings.binds == 1:
            report = send_batch(plan_dir, settings, batch, batch_size, campaign, sender, valid_until, progress,
                                window=window, **options)
        else:
            # Parts left in flight are settled once, by this process, before the binds deal the rows: a
            # receipt proving one bind's part may reach another bind.
            settled = send_batch(plan_dir, settings.model_copy(update={"tps": None}), batch, batch_size, campaign,
                                 sender, valid_until, window=window, in_flight=in_flight, clock=clock,
                                 settle_only=True)
            report = _send_in_processes(plan_dir, settings, batch, batch_size, campaign, sender, valid_until,
                                        progress, window, bind_locks, options)
            report.confirmed_by_receipt = settled.confirmed_by_receipt
    if report.not_in_plan:
        log.warning("%s: %d parts in the send ledger are of messages no longer in the plan (the list or the "
                    "message changed since they were sent); they are not sent again and not reported as anyone "
                    "else's [PLUS-1]", plan_dir.parent, report.not_in_plan)
    return report


def _send_in_processes(plan_dir: Path, settings: SmscSettings, batch, batch_size, campaign, sender, valid_until,
                       progress, window, bind_locks: Path, options: dict) -> DispatchReport:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    arguments = [(str(plan_dir), settings.model_dump_json(), batch, batch_size, campaign, sender, valid_until, index,
                  settings.binds, window, options) for index in range(settings.binds)]
    started = time.monotonic()
    try:
        with ProcessPoolExecutor(settings.binds, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_bind_process_started, initargs=(str(bind_locks), os.getpid())) as pool:
            reports = list(pool.map(_send_in_child, arguments))
    except BrokenProcessPool as error:
        raise DispatchError(f"a bind process died: {error}; re-run to resume from the ledger") from None
    closed = [report for report in reports if isinstance(report, WindowClosed)]
    if closed:
        raise WindowClosed(closed[0].reopens, sum(c.sent for c in closed))
    total = DispatchReport(batch=batch)
    counters = [f.name for f in fields(DispatchReport)
                if f.name not in ("batch", "seconds", "wall", "paused", "not_in_plan", "confirmed_by_receipt")]
    for report in reports:
        for name in counters:
            setattr(total, name, getattr(total, name) + getattr(report, name))
    total.not_in_plan = reports[0].not_in_plan  # the whole ledger against the whole plan: the same in every bind
    # Sending time: the binds run side by side, so the slowest one's; process start-up is in `wall`.
    total.seconds = max((report.seconds for report in reports), default=0.0)
    total.wall = time.monotonic() - started
    if progress is not None:
        progress(total.accepted + total.refused)
    return total


def receive(settings: SmscSettings, events_dir: Path, seconds: float | None = None,
            until: Callable[[BindReport], bool] | None = None) -> BindReport:
    """`smsflow receive`: stay bound as a receiver and record every receipt and reply (late ones too), for
    `seconds` or until `until(report)` holds."""
    session = _Bind(settings, None, EventWriter(events_dir, f"receiver-{os.getpid()}"), ("", 0, ""), "", None)
    session.open(mode="receiver")
    started = time.monotonic()
    try:
        while (seconds is None or time.monotonic() - started < seconds) and session._error is None \
                and not (until is not None and until(session.report)):
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        session.events.flush()
    session.report.seconds = time.monotonic() - started
    return session.report


@dataclass
class TestSendResult:
    number: str
    status: int
    message_id: str | None


def send_test(message: str, encoding: str, numbers: list[str], settings: SmscSettings, sender: str,
              ledger_dir: Path, events_dir: Path) -> list[TestSendResult]:
    """SEND-3: the personalised message to each test number, over one bind; returns the SMSC's answers.

    A test is meant to be sent again after each correction, so it has its own ledger and never touches the
    campaign's.
    """
    from pipelines.numbers import normalise_numbers

    verdicts = normalise_numbers(pl.Series(numbers, dtype=pl.String))
    if not verdicts.get_column("MF_VALID").all():
        bad = [n for n, ok in zip(numbers, verdicts.get_column("MF_VALID").to_list()) if not ok]
        raise ValueError(f"not valid mobile numbers: {', '.join(bad)} [SEND-3]")
    stamp = time.time_ns()
    tests = keyed_rows(verdicts.select("INT_MOBILE").with_columns(pl.lit(message).alias("MESSAGE")))
    out: list[OutPart] = []
    for index, (number, message_key) in enumerate(tests.select("INT_MOBILE", "MESSAGE_KEY").iter_rows()):
        pieces = sms_parts.split(message, encoding, sms_parts.reference(f"test\x1f{stamp}\x1f{index}"),
                                 settings.gsm7_packed)
        for part_number, piece in enumerate(pieces, start=1):
            out.append(OutPart(len(out), part_key(message_key, part_number), number.lstrip("+"),
                               piece.short_message, P.ESM_UDHI if piece.udh else 0, sms_parts.DATA_CODING[encoding],
                               piece.text, index))
    ledger = Ledger(ledger_dir, f"test-{stamp}", settings.fsync_group)
    events = EventWriter(events_dir, f"test-{stamp}")
    session = _Bind(settings, ledger, events, source_address(sender), "", settings.tps)
    session.open()
    try:
        session.run(out)
    finally:
        session.close()
        events.flush()
        ledger.close()
    first_parts = {part.key: part.row for part in out if part.key.endswith("\x1f1")}
    state = ledger_state(ledger_dir).filter(pl.col("key").is_in(list(first_parts)))
    answers = {first_parts[key]: (status, message_id) for key, status, message_id in
               state.select("key", "status", "message_id").iter_rows()}
    return [TestSendResult(number, *answers.get(index, (None, None))) for index, number in enumerate(numbers)]
