"""One ESME connection to the simulator: binds (optionally delayed), submit_sm, deliver_sm and their answers."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import TYPE_CHECKING

from pipelines.smpp import pdu as P

if TYPE_CHECKING:
    from pipelines.smpp.simulator.server import Simulator


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
