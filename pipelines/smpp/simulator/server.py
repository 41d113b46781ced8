"""`smsflow smsc`: an SMPP 3.4 SMSC simulator, a real network server (like SMPPSim in the Java world).

No SMSC that runs here installs from a package registry, so smsflow ships its own: the dispatcher's tests,
the demo and the benchmarks talk to it over TCP, and people run it for load tests. It binds ESMEs with a
password, answers submit_sm with message ids in decimal or hex, reassembles concatenated messages, sends
delivery receipts (intermediate and final; kept for the next bind, or tied to the submitting session and
lost with it: `receipts`) and MO replies, throttles and fills its queue on demand, and
writes every accepted part and every reassembled message to a JSON-lines log: what handsets would receive.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import signal
import sys
import time
from collections import defaultdict, deque
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.smpp import gsm7
from pipelines.smpp import pdu as P

Outcome = Literal["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "UNKNOWN", "DELETED", "NONE"]


class OutcomeRule(BaseModel):
    """A destination whose number starts or ends with `value` gets `outcome` (NONE: no receipt at all)."""

    model_config = ConfigDict(extra="forbid")
    match: Literal["prefix", "suffix"] = "suffix"
    value: str
    outcome: Outcome
    error: int = 0


class ReplyRule(BaseModel):
    """After delivery to `number` (as submitted, e.g. 33612345678), the handset answers `text`."""

    model_config = ConfigDict(extra="forbid")
    number: str
    text: str
    delay: float = 0.2


class QueueFull(BaseModel):
    """Out of every `every` submit_sm, `burst` in a row are refused with ESME_RMSGQFUL."""

    model_config = ConfigDict(extra="forbid")
    every: int = Field(gt=0)
    burst: int = Field(ge=0)


class SmscConfig(BaseModel):
    """The simulator's behaviour; from flags or a YAML/TOML file."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = 2775
    users: dict[str, str] = Field(default_factory=lambda: {"smsflow": "smsflow"},
                                  description="system_id: password (SMPP 3.4 §5.2.1: at most 15 and 8 characters)")
    message_id_format: Literal["decimal", "hex"] = "decimal"
    first_message_id: int = 1_000_000
    tps_per_bind: int | None = Field(None, gt=0, description="submit_sm per second per bind; more: ESME_RTHROTTLED")
    queue_full: QueueFull | None = None
    refuse_prefixes: list[str] = Field(default_factory=list,
                                       description="destinations refused at submit (ESME_RINVDSTADR)")
    rules: list[OutcomeRule] = Field(default_factory=list)
    ratios: dict[Outcome, float] = Field(default_factory=lambda: {"DELIVRD": 1.0})
    seed: int = 42
    bind_delay: float = Field(0.0, ge=0, description="Seconds before answering a bind (a SMSC across a WAN).")
    receipt_delay: float = 0.2
    receipts: Literal["stored", "session"] = Field(
        "stored", description="stored: receipts wait for any receiver of the system_id, unacknowledged ones are "
                              "delivered again; session: only the submitting transceiver gets them, lost (and "
                              "logged as receipt_lost) if it died. MO replies are stored in both modes.")
    intermediate: list[Literal["ENROUTE", "ACCEPTD"]] = Field(default_factory=list)
    replies: list[ReplyRule] = Field(default_factory=list)
    gsm7_packed: bool = False
    log: Path | None = None
    log_receipts: bool = Field(False, description="Also log every receipt sent (parts, messages and replies "
                                                  "are always logged).")

    @field_validator("users")
    @classmethod
    def _smpp_lengths(cls, users: dict[str, str]) -> dict[str, str]:
        """A user no ESME can bind as is refused at start, not at every bind (SMPP 3.4 §4.1.1, §5.2.1)."""
        problems = [f"user {system_id!r}: system_id has {len(system_id)} characters, SMPP 3.4 allows at most 15"
                    for system_id in users if len(system_id) > 15]
        problems += [f"user {system_id!r}: password has {len(password)} characters, SMPP 3.4 allows at most 8"
                     for system_id, password in users.items() if len(password) > 8]
        if problems:
            raise ValueError("; ".join(problems))
        return users

    @classmethod
    def from_file(cls, path: Path, **overrides) -> SmscConfig:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
        data.update({key: value for key, value in overrides.items() if value is not None})
        return cls.model_validate(data)


def _timestamp(moment: float) -> str:
    return _minute(int(moment // 60))


@lru_cache(maxsize=4)
def _minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, timezone.utc).strftime("%y%m%d%H%M")


class _Log:
    """The JSON-lines log of what handsets would receive, flushed after every network read."""

    def __init__(self, path: Path | None):
        self._file = path.open("a", encoding="utf-8") if path else None

    def write(self, record: dict) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None  # a connection lost during shutdown must not write to a closed file


class Simulator:
    """The SMSC: sessions, message ids, reassembly, receipts and replies."""

    def __init__(self, config: SmscConfig):
        self.config = config
        self.log = _Log(config.log)
        self._ids = itertools.count(config.first_message_id)
        self._submits = 0
        self._random = random.Random(config.seed)
        self._receivers: dict[str, list[Session]] = defaultdict(list)
        self._waiting: dict[str, deque[bytes]] = defaultdict(deque)  # deliver_sm bodies with no receiver bound
        self._partials: dict[tuple, dict[int, dict]] = {}
        self.server: asyncio.AbstractServer | None = None
        # Receipts due, one FIFO per delay (every entry of a FIFO has the same delay, so they fall due in
        # order): one timer sweep every few ms instead of one asyncio timer per receipt.
        self._due: dict[float, deque[tuple]] = defaultdict(deque)
        self._dirty: set[Session] = set()
        self._pump: asyncio.Task | None = None

    # --- sessions --------------------------------------------------------------------------------------
    def bound(self, session: Session) -> None:
        if session.mode in ("receiver", "transceiver"):
            self._receivers[session.system_id].append(session)
            waiting = self._waiting[session.system_id]
            while waiting:
                session.deliver(waiting.popleft())
            session.flush_out()

    def closed(self, session: Session) -> None:
        receivers = self._receivers.get(session.system_id, [])
        if session in receivers:
            receivers.remove(session)
        for body, receipt in session.unacknowledged():
            if receipt is not None:  # a session-bound receipt dies with its session, as on many real SMSCs
                self._lost(session, receipt, "session closed before acknowledging it")
            else:  # a stored receipt or a reply the ESME never acknowledged is delivered again
                self.deliver(session.system_id, body)

    def _deliver_to_session(self, session: Session, body: bytes, receipt: dict) -> None:
        """`receipts: session`: the receipt goes to the session that submitted the part, or is lost."""
        if session.closing:
            self._lost(session, receipt, "session closed")
        elif session.mode != "transceiver":
            self._lost(session, receipt, "submitting session is a transmitter")
        else:
            session.deliver(body, receipt)
            self._dirty.add(session)

    def _lost(self, session: Session, receipt: dict, reason: str) -> None:
        self.log.write({"event": "receipt_lost", **receipt, "system_id": session.system_id, "reason": reason,
                        "ts": time.time()})

    def deliver(self, system_id: str, body: bytes) -> None:
        """Hand a deliver_sm to a bound receiver of this system id, or keep it until one binds."""
        receivers = [r for r in self._receivers.get(system_id, ()) if not r.closing]
        if receivers:
            session = receivers[self._submits % len(receivers)]  # spread over the receivers
            session.deliver(body)
            self._dirty.add(session)
        else:
            self._waiting[system_id].append(body)

    async def _sweep(self) -> None:
        """Send the receipts that fell due, in bulk, every few milliseconds."""
        while True:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            for queue in self._due.values():
                while queue and queue[0][0] <= now:
                    _, function, arguments = queue.popleft()
                    function(*arguments)
            for session in self._dirty:
                session.flush_out()
            self._dirty.clear()
            self.log.flush()

    # --- submit_sm ---------------------------------------------------------------------------------------
    def submit_status(self, session: Session, message: P.ShortMessage) -> int:
        """ESME_ROK, or why this submit is refused (throttling, queue full, refused destination)."""
        config = self.config
        if config.tps_per_bind is not None and not session.take_token(config.tps_per_bind):
            return P.ESME_RTHROTTLED
        self._submits += 1
        if config.queue_full is not None and (self._submits - 1) % config.queue_full.every < config.queue_full.burst:
            return P.ESME_RMSGQFUL
        if any(message.destination_addr.startswith(prefix) for prefix in config.refuse_prefixes):
            return P.ESME_RINVDSTADR
        return P.ESME_ROK

    def accept(self, session: Session, message: P.ShortMessage) -> str:
        """Log the accepted part, reassemble, schedule receipts; returns the message id."""
        number = next(self._ids)
        message_id = format(number, "X") if self.config.message_id_format == "hex" else str(number)
        text = self._decode(message)
        concatenated = P.concatenation(message)
        now = time.time()
        part = {"event": "part", "message_id": message_id, "system_id": session.system_id,
                "source": message.source_addr, "source_ton": message.source_addr_ton,
                "destination": message.destination_addr, "data_coding": message.data_coding,
                "esm_class": message.esm_class, "validity_period": message.validity_period, "text": text,
                "ref": None, "total": 1, "seq": 1, "ts": now}
        if concatenated is not None:
            part["ref"], part["total"], part["seq"] = concatenated
        self.log.write(part)
        self._reassemble(part)
        if message.registered_delivery & 0x03:
            self._schedule_receipts(session, message, message_id, text, now)
        return message_id

    def _decode(self, message: P.ShortMessage) -> str:
        data = P.user_data(message)
        if message.data_coding == 8:
            return data.decode("utf-16-be", errors="replace")
        if message.data_coding in (0, 1):
            if self.config.gsm7_packed:
                udh = message.short_message[0] + 1 if message.esm_class & P.ESM_UDHI else 0
                fill = (7 - (udh * 8) % 7) % 7  # septets start on a septet boundary after the UDH
                data = gsm7.unpack(data, (len(data) * 8 - fill) // 7, fill)
            return gsm7.decode(data)
        return data.decode("latin-1")

    def _reassemble(self, part: dict) -> None:
        if part["total"] <= 1:
            self.log.write({"event": "message", "source": part["source"], "destination": part["destination"],
                            "text": part["text"], "parts": 1, "message_ids": [part["message_id"]],
                            "data_coding": part["data_coding"], "ts": part["ts"]})
            return
        key = (part["system_id"], part["source"], part["destination"], part["ref"], part["total"])
        parts = self._partials.setdefault(key, {})
        parts[part["seq"]] = part
        if len(parts) == part["total"]:
            del self._partials[key]
            ordered = [parts[i] for i in sorted(parts)]
            self.log.write({"event": "message", "source": part["source"], "destination": part["destination"],
                            "text": "".join(p["text"] for p in ordered), "parts": part["total"],
                            "message_ids": [p["message_id"] for p in ordered], "data_coding": part["data_coding"],
                            "ts": part["ts"]})

    # --- receipts and replies ------------------------------------------------------------------------------
    def outcome(self, destination: str) -> tuple[str, int]:
        """The final state for a destination: a matching rule, else the seeded ratios (stable per number)."""
        for rule in self.config.rules:
            if (destination.endswith(rule.value) if rule.match == "suffix" else destination.startswith(rule.value)):
                return rule.outcome, rule.error
        ratios = self.config.ratios
        digest = hashlib.blake2b(f"{self.config.seed}:{destination}".encode(), digest_size=8).digest()
        draw = int.from_bytes(digest, "big") / 2**64 * sum(ratios.values())
        for outcome, weight in ratios.items():
            if draw < weight:
                return outcome, 0 if outcome == "DELIVRD" else 1
            draw -= weight
        return "DELIVRD", 0

    def _later(self, delay: float, function, *arguments) -> None:
        self._due[delay].append((time.monotonic() + delay, function, arguments))

    def _schedule_receipts(self, session: Session, message: P.ShortMessage, message_id: str, text: str,
                           submitted: float) -> None:
        delay = self.config.receipt_delay
        target = session if self.config.receipts == "session" else session.system_id
        for step, state in enumerate(self.config.intermediate, start=1):
            self._later(delay * step / (len(self.config.intermediate) + 1), self._send_receipt, target,
                        message, message_id, text, submitted, state, 0)
        outcome, error = self.outcome(message.destination_addr)
        if outcome != "NONE":
            self._later(delay, self._send_receipt, target, message, message_id, text, submitted, outcome, error)
        if outcome == "DELIVRD":  # a reply is mobile-originated: any receiver of the system id gets it
            for reply in self.config.replies:
                if reply.number == message.destination_addr:
                    self._later(delay + reply.delay, self._send_reply, session.system_id, message, reply.text)

    def _send_receipt(self, target: str | Session, message: P.ShortMessage, message_id: str, text: str,
                      submitted: float, stat: str, error: int) -> None:
        """Build a delivery receipt for the system id (`stored`) or the submitting session (`session`)."""
        now = time.time()
        receipt = P.ShortMessage(
            source_addr=message.destination_addr, source_addr_ton=message.dest_addr_ton,
            source_addr_npi=message.dest_addr_npi, destination_addr=message.source_addr,
            dest_addr_ton=message.source_addr_ton, dest_addr_npi=message.source_addr_npi,
            esm_class=P.ESM_DELIVERY_RECEIPT,
            short_message=P.receipt_text(message_id, stat, _timestamp(submitted), _timestamp(now), text,
                                         error).encode("latin-1", errors="replace"),
            tlvs={P.TAG_RECEIPTED_MESSAGE_ID: P.cstring(message_id),
                  P.TAG_MESSAGE_STATE: bytes([P.MESSAGE_STATES[stat]])},
        )
        if self.config.log_receipts:
            self.log.write({"event": "receipt", "message_id": message_id, "destination": message.destination_addr,
                            "stat": stat, "ts": now})
        if isinstance(target, Session):
            self._deliver_to_session(target, P.build_short_message(receipt),
                                     {"message_id": message_id, "destination": message.destination_addr, "stat": stat})
        else:
            self.deliver(target, P.build_short_message(receipt))

    def _send_reply(self, system_id: str, message: P.ShortMessage, text: str) -> None:
        try:
            payload, coding = gsm7.encode(text), 0
        except KeyError:
            payload, coding = text.encode("utf-16-be"), 8
        reply = P.ShortMessage(source_addr=message.destination_addr, source_addr_ton=1, source_addr_npi=1,
                               destination_addr=message.source_addr, dest_addr_ton=message.source_addr_ton,
                               data_coding=coding, short_message=payload)
        self.log.write({"event": "reply", "source": message.destination_addr, "destination": message.source_addr,
                        "text": text, "ts": time.time()})
        self.deliver(system_id, P.build_short_message(reply))

    # --- server -----------------------------------------------------------------------------------------
    async def start(self) -> asyncio.AbstractServer:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: Session(self), self.config.host, self.config.port)
        self._pump = asyncio.create_task(self._sweep())
        return self.server

    def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self.server is not None:
            self.server.close()
        self.log.close()


class Session(asyncio.Protocol):
    """One ESME connection."""

    def __init__(self, simulator: Simulator):
        self.simulator = simulator
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.mode: str | None = None
        self.system_id = ""
        self._out: list[bytes] = []
        self._sequence = itertools.count(1)
        self._in_flight: dict[int, tuple[bytes, dict | None]] = {}
        self._second = 0
        self._count = 0
        self._held: list[tuple] | None = None  # PDUs read while a delayed bind waits for its answer

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.simulator.closed(self)

    def take_token(self, per_second: int) -> bool:
        second = int(time.monotonic())
        if second != self._second:
            self._second, self._count = second, 0
        if self._count >= per_second:
            return False
        self._count += 1
        return True

    @property
    def closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def deliver(self, body: bytes, receipt: dict | None = None) -> None:
        """Queue a deliver_sm (`receipt`: a session-bound receipt, lost if unacknowledged); sent at next flush."""
        sequence = next(self._sequence)
        self._in_flight[sequence] = (body, receipt)
        self._out.append(P.encode(P.DELIVER_SM, 0, sequence, body))

    def flush_out(self) -> None:
        self._flush()

    def unacknowledged(self) -> list[tuple[bytes, dict | None]]:
        bodies = list(self._in_flight.values())
        self._in_flight.clear()
        return bodies

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            pdus = P.split(self.buffer)
        except P.PduError as error:
            self._send(P.GENERIC_NACK, error.status, 0)
            self._flush()
            assert self.transport is not None
            self.transport.close()
            return
        self._handle_all(pdus)

    def _handle_all(self, pdus: list[tuple]) -> None:
        for index, (command_id, _status, sequence, body) in enumerate(pdus):
            if self._held is not None:  # a delayed bind is pending: what follows waits for its answer
                self._held.extend(pdus[index:])
                break
            self._handle(command_id, sequence, body)
        self.simulator.log.flush()  # what handsets receive is on record before the ESME hears "accepted"
        self._flush()

    def _send(self, command_id: int, status: int, sequence: int, body: bytes = b"") -> None:
        self._out.append(P.encode(command_id, status, sequence, body))

    def _flush(self) -> None:
        if self._out and not self.closing:
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def _handle(self, command_id: int, sequence: int, body: bytes) -> None:
        if command_id == P.SUBMIT_SM:
            if self.mode not in ("transmitter", "transceiver"):
                self._send(command_id | P.RESPONSE, P.ESME_RINVBNDSTS, sequence, b"\x00")
                return
            try:
                message = P.parse_short_message(body)
            except P.PduError as error:
                self._send(command_id | P.RESPONSE, error.status, sequence, b"\x00")
                return
            status = self.simulator.submit_status(self, message)
            if status != P.ESME_ROK:
                self._send(command_id | P.RESPONSE, status, sequence, b"\x00")
                return
            message_id = self.simulator.accept(self, message)
            self._send(command_id | P.RESPONSE, P.ESME_ROK, sequence, P.cstring(message_id))
        elif command_id == P.DELIVER_SM | P.RESPONSE:
            self._in_flight.pop(sequence, None)
        elif command_id in P.BINDS:
            self._bind(command_id, sequence, body)
        elif command_id == P.ENQUIRE_LINK:
            self._send(P.ENQUIRE_LINK | P.RESPONSE, P.ESME_ROK, sequence)
        elif command_id == P.UNBIND:
            self._send(P.UNBIND | P.RESPONSE, P.ESME_ROK, sequence)
            self._flush()
            assert self.transport is not None
            self.transport.close()
        elif command_id & P.RESPONSE:
            pass  # responses to nothing we sent (enquire_link_resp ...)
        else:
            self._send(P.GENERIC_NACK, P.ESME_RINVCMDID, sequence)

    def _bind(self, command_id: int, sequence: int, body: bytes) -> None:
        delay = self.simulator.config.bind_delay
        if delay <= 0 or self.mode is not None:
            self._answer_bind(command_id, sequence, body)
            return
        self._held = []
        assert self.transport is not None
        self.transport.pause_reading()
        asyncio.get_running_loop().call_later(delay, self._delayed_bind, command_id, sequence, body)

    def _delayed_bind(self, command_id: int, sequence: int, body: bytes) -> None:
        """`bind_delay` later: answer the bind, then the PDUs that came after it, in order."""
        held, self._held = self._held or [], None
        if self.closing:
            return
        self._answer_bind(command_id, sequence, body)
        self._handle_all(held)
        if self._held is None and not self.closing:
            self.transport.resume_reading()

    def _answer_bind(self, command_id: int, sequence: int, body: bytes) -> None:
        response = command_id | P.RESPONSE
        if self.mode is not None:
            self._send(response, P.ESME_RALYBND, sequence, b"\x00")
            return
        try:
            bind = P.parse_bind(body)
        except P.PduError:
            self._send(response, P.ESME_RINVCMDLEN, sequence, b"\x00")
            return
        expected = self.simulator.config.users.get(bind.system_id)
        if expected is None:
            self._send(response, 0x0F, sequence, b"\x00")  # ESME_RINVSYSID
            return
        if expected != bind.password:
            self._send(response, P.ESME_RINVPASWD, sequence, b"\x00")
            return
        self.mode, self.system_id = P.BINDS[command_id], bind.system_id
        self._send(response, P.ESME_ROK, sequence, P.cstring("smsflow-smsc"))
        self._flush()
        self.simulator.bound(self)


async def serve(config: SmscConfig, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT; prints one `listening on host:port` line when ready (tests wait for it)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # before the line: whoever read it may stop us at once
        loop.add_signal_handler(signum, stop.set)
    simulator = Simulator(config)
    server = await simulator.start()
    host, port = server.sockets[0].getsockname()[:2]
    print(f"smsflow smsc listening on {host}:{port}", flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        simulator.close()


def run(config: SmscConfig) -> None:
    asyncio.run(serve(config))


def start_process(config: SmscConfig, folder: Path):
    """Start `smsflow smsc` as a child process on `config` (port 0 = any free port); returns (process, port).

    For the demo and benchmarks, which need a real SMSC on 127.0.0.1 for the length of a run.
    """
    import subprocess

    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "smsc.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)), encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "smsc", "--config", str(path)],
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"the SMSC simulator did not start: {line!r}")
    return process, int(line.rsplit(":", 1)[1])
