"""The asyncio SMSC: sessions, message ids, reassembly, receipts (stored or per session), replies, throttling."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import signal
import time
from collections import defaultdict, deque
from datetime import datetime, timezone
from functools import lru_cache

from pipelines.smpp import gsm7
from pipelines.smpp import pdu as P
from pipelines.smpp.simulator.config import SmscConfig
from pipelines.smpp.simulator.log import EventLog
from pipelines.smpp.simulator.session import Session


def _timestamp(moment: float) -> str:
    return _minute(int(moment // 60))


@lru_cache(maxsize=4)
def _minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, timezone.utc).strftime("%y%m%d%H%M")


class Simulator:
    """The SMSC: sessions, message ids, reassembly, receipts and replies."""

    def __init__(self, config: SmscConfig):
        self.config = config
        self.log = EventLog(config.log)
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
                data = gsm7.unpack_text(data, fill)
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
