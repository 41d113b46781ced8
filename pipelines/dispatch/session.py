"""One SMPP bind (SEND-6, PLUS-5): a sending loop (the caller's thread) and a reading loop (a thread)."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pipelines.dispatch.errors import THROTTLING, DispatchError, status_name
from pipelines.dispatch.ledger import SendLedger
from pipelines.dispatch.pacing import ErrorBudget, RateLimiter
from pipelines.dispatch.parts import OutPart
from pipelines.dispatch.settings import SmscSettings
from pipelines.dlr import EventWriter, parse_receipt
from pipelines.smpp import pdu as P
from pipelines.status import FINAL_STATES

log = logging.getLogger(__name__)

_TICK = 0.5  # seconds between event flushes when receipts trickle in
_ENQUIRE_EVERY = 30.0  # seconds of silence before an enquire_link
_BURST = 64  # parts at most marked `sent` and written together when the window has room and the rate allows


@dataclass
class BindReport:
    paused: int = 0  # parts left unsent because the window closed
    accepted: int = 0
    refused: int = 0
    throttled: int = 0
    receipts: int = 0
    replies: int = 0
    seconds: float = 0.0


class BindSession:
    """One transceiver bind: a sending loop (this thread) and a reading loop (a thread)."""

    def __init__(self, settings: SmscSettings, ledger: SendLedger, events: EventWriter, source: tuple[int, int, str],
                 validity: str, rate: float | None, progress: Callable[[int], None] | None = None):
        self.settings, self.ledger, self.events = settings, ledger, events
        self.validity = validity
        self._source_ton, self._source_npi, self._source_address = source
        self.limiter = RateLimiter(rate)
        self.budget = ErrorBudget(settings.error_budget, settings.budget_window)
        self.progress = progress
        self._socket: socket.socket | None = None
        self._sequence = 0
        self._early: list = []
        self._leftover = bytearray()
        self._send_lock = threading.Lock()
        self._state = threading.Condition()
        self._in_flight: dict[int, OutPart] = {}
        self._retry: list[OutPart] = []
        self._error: BaseException | None = None
        self._closing = False
        self._draining = False
        self.report = BindReport()
        self.receipts: list[dict] = []
        # Message ids accepted in this session with no final receipt yet, and the final receipts' ids (in every
        # spelling), so `run` stops lingering once its parts' receipts are in.
        self._awaiting: set[str] = set()
        self._receipted: set[str] = set()
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
        """Unbind and disconnect; nothing to do when the bind never succeeded, and safe to call twice."""
        if self._socket is None or self._closing:
            self._closing = True
            return
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
                self.budget.accepted()
                if message_id and _id_key(message_id) not in self._receipted:
                    self._awaiting.add(_id_key(message_id))
            elif status in THROTTLING:
                # Stop sending until every part in flight is answered, so refused parts go again in order.
                self.report.throttled += 1
                self._draining = True
                heapq.heappush(self._retry, part)
                self.limiter.throttled(self._observed_rate())
            else:
                self.report.refused += 1
                self.budget.refused(status)
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
            with self._state:
                self.receipts.append({"handset": handset, "text": receipt.text, "message_id": receipt.message_id})
                self.report.receipts += 1
                if receipt.stat in FINAL_STATES:
                    spellings = _id_spellings(receipt.message_id)
                    self._receipted |= spellings
                    self._awaiting -= spellings
                self._state.notify_all()
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

    def run(self, parts: list[OutPart], deadline: float | None = None,
            clock: Callable[[], datetime] | None = None) -> BindReport:
        """Send `parts`; stop taking new ones at `deadline` (epoch seconds by `clock`: the window's close)."""
        now = (lambda: clock().timestamp()) if clock is not None else time.time
        started = self._started = self._last_answer = time.monotonic()
        pending = deque(sorted(parts))
        announced: set[str] = set()
        while (part := self._next_part(pending, deadline, now)) is not None:
            self.limiter.wait()
            self.limiter.recover()
            burst = self._burst(part, pending, deadline, now)
            self._announce(burst, pending, announced)
            self._submit(burst)
        self.ledger.sync()
        self.report.seconds = time.monotonic() - started  # sending time, without the receipts' linger
        if self.settings.linger:
            self.listen(self.settings.linger, until=lambda: not self._awaiting)
        return self.report

    def _next_part(self, pending: deque[OutPart], deadline: float | None, now: Callable[[], float]) -> OutPart | None:
        """The next part to send once there is room for it; None when every part is answered or the window closed
        (the parts left unsent are then counted in `report.paused`)."""
        with self._state:
            while True:
                self._wait_for_room(pending)
                if not self._in_flight and not self._retry and not pending:
                    return None
                if deadline is None or now() < deadline:
                    break
                if not self._in_flight:
                    self.report.paused = len(self._retry) + len(pending)
                    return None
                # The window closed: let what is in flight be answered, send nothing new.
                self._state.wait(timeout=self.settings.timeout)
            # Parts refused for throttling go again first, in their original order.
            if self._retry and (not pending or self._retry[0] < pending[0]):
                return heapq.heappop(self._retry)
            return pending.popleft()

    def _wait_for_room(self, pending: deque[OutPart]) -> None:
        """Under `_state`: until a part may go, or nothing is left; raises the reader's error and DispatchPaused."""
        while True:
            if self._error is not None:
                raise self._error
            self.budget.check()
            if self._draining and not self._in_flight:
                self._draining = False  # every answer is in: resend the refused parts, in order
            # Refused parts go again one at a time, each answered before the next, so they are taken in their
            # original order and before any part not sent yet.
            window = 1 if self._retry else self.settings.window
            if not self._draining and len(self._in_flight) < window and (self._retry or pending):
                return
            if not self._in_flight and not self._retry and not pending:
                return
            if self._state.wait(timeout=self.settings.timeout):
                self._last_answer = time.monotonic()
            elif time.monotonic() - self._last_answer > self.settings.timeout:
                raise DispatchError(f"no answer from the SMSC for {self.settings.timeout:.0f} s")

    def _burst(self, part: OutPart, pending: deque[OutPart], deadline: float | None,
               now: Callable[[], float]) -> list[OutPart]:
        """`part` and the parts after it that may go with it now: while the window has room and the rate allows
        them without waiting (each paced as it is taken); never while refused parts are being sent again."""
        burst = [part]
        with self._state:
            if self._retry or self._draining:
                return burst
            room = min(self.settings.window - len(self._in_flight), _BURST) - 1
            while room > 0 and pending and self.limiter.due() and (deadline is None or now() < deadline):
                self.limiter.wait()
                self.limiter.recover()
                burst.append(pending.popleft())
                room -= 1
        return burst

    def _announce(self, burst: list[OutPart], pending: deque[OutPart], announced: set[str]) -> None:
        """PLUS-1: the intents of the next group are on disk before any of them is sent."""
        if all(part.key in announced for part in burst):
            return
        group = [part.key for part in burst if part.key not in announced]
        group += [p.key for p in itertools.islice(pending, max(self.settings.fsync_group - len(group), 0))
                  if p.key not in announced]
        self.ledger.intents(group)
        announced.update(group)

    def _submit(self, burst: list[OutPart]) -> None:
        """One submit_sm per part with a receipt requested, written together; marked `sent` in the ledger (one
        call for the burst) before the bytes go (SEND-7)."""
        pdus = []
        for part in burst:
            sequence = self._next_sequence()
            body = P.build_short_message(P.ShortMessage(
                source_addr=self._source_address, source_addr_ton=self._source_ton,
                source_addr_npi=self._source_npi, destination_addr=part.destination, dest_addr_ton=1,
                dest_addr_npi=1, esm_class=part.esm_class, data_coding=part.data_coding,
                short_message=part.short_message, registered_delivery=1, validity_period=self.validity))
            pdus.append((sequence, P.encode(P.SUBMIT_SM, 0, sequence, body)))
        with self._state:
            for (sequence, _), part in zip(pdus, burst):
                self._in_flight[sequence] = part
        self.ledger.sent_many([part.key for part in burst])
        try:
            self._send(b"".join(pdu for _, pdu in pdus))
        except Exception as error:
            raise DispatchError(f"SMPP connection lost while sending: {error}") from None

    @property
    def error(self) -> BaseException | None:
        """Why the session ended on its own (connection lost, the SMSC unbound), else None."""
        return self._error

    @property
    def receipts_awaited(self) -> int:
        """Parts accepted in this session whose final receipt has not arrived yet."""
        with self._state:
            return len(self._awaiting)

    def listen(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        """Stay bound up to `seconds` (receipts and replies keep arriving); sooner once `until()` holds (checked
        at each receipt) or the session fails, so a generous budget is only spent when receipts are missing."""
        deadline = time.monotonic() + seconds
        with self._state:
            while self._error is None and not (until is not None and until()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._state.wait(min(left, _TICK))


def _id_key(message_id: str) -> str:
    """A message id compared as text: case and leading zeros do not count."""
    return message_id.strip().lower().lstrip("0") or "0"


def _id_spellings(message_id: str) -> set[str]:
    """The SMSC ids a receipt's id may stand for (PLUS-4): as written, and read as decimal or hex the other way."""
    text = message_id.strip()
    spellings = {_id_key(text)}
    with contextlib.suppress(ValueError):
        spellings.add(_id_key(format(int(text, 10), "x")))
    with contextlib.suppress(ValueError):
        spellings.add(_id_key(str(int(text, 16))))
    return spellings
