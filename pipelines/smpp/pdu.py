"""SMPP 3.4 PDUs as pure functions over bytes (the Jasmin habit): no sockets, testable alone.

Used by the SMSC simulator, which must answer well over 10,000 submit_sm/s on one core, so decoding is a
few `struct` calls and C-string scans. Section numbers refer to the SMPP v3.4 specification (issue 1.2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HEADER = struct.Struct(">IIII")  # §3.2: command_length, command_id, command_status, sequence_number
MAX_PDU = 65536

# §5.1.2.1 command ids
GENERIC_NACK = 0x80000000
BIND_RECEIVER, BIND_TRANSMITTER, QUERY_SM, SUBMIT_SM, DELIVER_SM, UNBIND = 0x1, 0x2, 0x3, 0x4, 0x5, 0x6
BIND_TRANSCEIVER, ENQUIRE_LINK, DATA_SM = 0x9, 0x15, 0x103
RESPONSE = 0x80000000
BINDS = {BIND_RECEIVER: "receiver", BIND_TRANSMITTER: "transmitter", BIND_TRANSCEIVER: "transceiver"}

# §5.1.3 command_status
ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RMSGQFUL = 0x14
ESME_RSUBMITFAIL = 0x45
ESME_RTHROTTLED = 0x58

# §5.2.12 esm_class bits
ESM_DELIVERY_RECEIPT = 0x04
ESM_UDHI = 0x40

# §5.3.2 TLV tags
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427

# §5.2.28 message_state
MESSAGE_STATES = {"ENROUTE": 1, "DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6,
                  "UNKNOWN": 7, "REJECTD": 8}


class PduError(ValueError):
    """Bytes that are not a well-formed PDU; `status` is the error to answer with."""

    def __init__(self, message: str, status: int = ESME_RINVCMDLEN):
        super().__init__(message)
        self.status = status


def encode(command_id: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    """§3.2: a whole PDU."""
    return HEADER.pack(16 + len(body), command_id, status, sequence) + body


def split(buffer: bytearray) -> list[tuple[int, int, int, bytes]]:
    """Take every complete PDU off the front of `buffer`: (command_id, status, sequence, body)."""
    pdus = []
    offset, size = 0, len(buffer)
    while size - offset >= 16:
        length, command_id, status, sequence = HEADER.unpack_from(buffer, offset)
        if length < 16 or length > MAX_PDU:
            del buffer[:offset]
            raise PduError(f"command_length {length} out of range")
        if size - offset < length:
            break
        pdus.append((command_id, status, sequence, bytes(buffer[offset + 16:offset + length])))
        offset += length
    del buffer[:offset]
    return pdus


def cstring(value: str | bytes) -> bytes:
    """§3.1: a C-Octet String (ASCII, NUL-terminated)."""
    return (value.encode("latin-1") if isinstance(value, str) else value) + b"\x00"


def read_cstring(body: bytes, offset: int) -> tuple[str, int]:
    end = body.index(0, offset)
    return body[offset:end].decode("latin-1"), end + 1


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def read_tlvs(body: bytes, offset: int) -> dict[int, bytes]:
    """§3.3: tag, length, value until the end of the body."""
    tlvs = {}
    while offset + 4 <= len(body):
        tag, length = struct.unpack_from(">HH", body, offset)
        tlvs[tag] = body[offset + 4:offset + 4 + length]
        offset += 4 + length
    return tlvs


@dataclass
class ShortMessage:
    """The fields of submit_sm / deliver_sm (§4.4.1, §4.6.1) that matter here."""

    source_addr: str = ""
    destination_addr: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    service_type: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)


def parse_short_message(body: bytes) -> ShortMessage:
    """Decode a submit_sm or deliver_sm body."""
    try:
        service_type, offset = read_cstring(body, 0)
        source_ton, source_npi = body[offset], body[offset + 1]
        source, offset = read_cstring(body, offset + 2)
        dest_ton, dest_npi = body[offset], body[offset + 1]
        destination, offset = read_cstring(body, offset + 2)
        esm_class, protocol_id, priority = body[offset], body[offset + 1], body[offset + 2]
        schedule, offset = read_cstring(body, offset + 3)
        validity, offset = read_cstring(body, offset)
        registered, _replace, data_coding, _default_id, length = body[offset:offset + 5]
        offset += 5
        message = body[offset:offset + length]
        if len(message) != length:
            raise PduError("short_message shorter than sm_length", ESME_RINVMSGLEN)
        tlvs = read_tlvs(body, offset + length)
    except (IndexError, ValueError) as error:
        if isinstance(error, PduError):
            raise
        raise PduError(f"malformed body: {error}") from None
    return ShortMessage(source, destination, source_ton, source_npi, dest_ton, dest_npi, esm_class, protocol_id,
                        priority, schedule, validity, registered, data_coding, message, service_type, tlvs)


def build_short_message(message: ShortMessage) -> bytes:
    """Encode a submit_sm or deliver_sm body."""
    return b"".join((
        cstring(message.service_type),
        bytes((message.source_addr_ton, message.source_addr_npi)), cstring(message.source_addr),
        bytes((message.dest_addr_ton, message.dest_addr_npi)), cstring(message.destination_addr),
        bytes((message.esm_class, message.protocol_id, message.priority_flag)),
        cstring(message.schedule_delivery_time), cstring(message.validity_period),
        bytes((message.registered_delivery, 0, message.data_coding, 0, len(message.short_message))),
        message.short_message,
        b"".join(tlv(tag, value) for tag, value in message.tlvs.items()),
    ))


@dataclass(frozen=True)
class Bind:
    system_id: str
    password: str
    system_type: str


def parse_bind(body: bytes) -> Bind:
    """§4.1.1: system_id, password, system_type, interface_version, addr_ton, addr_npi, address_range."""
    try:
        system_id, offset = read_cstring(body, 0)
        password, offset = read_cstring(body, offset)
        system_type, offset = read_cstring(body, offset)
    except ValueError:
        raise PduError("malformed bind") from None
    return Bind(system_id, password, system_type)


def concatenation(message: ShortMessage) -> tuple[int, int, int] | None:
    """(reference, total, sequence) of a concatenated part: UDH IE 0x00 (8-bit ref) or 0x08 (16-bit ref),
    or the sar_* TLVs (§5.3.2.22-24); None for a single message."""
    if message.esm_class & ESM_UDHI and message.short_message:
        udh = message.short_message[1:1 + message.short_message[0]]
        position = 0
        while position + 2 <= len(udh):
            iei, length = udh[position], udh[position + 1]
            data = udh[position + 2:position + 2 + length]
            if iei == 0x00 and length == 3:
                return data[0], data[1], data[2]
            if iei == 0x08 and length == 4:
                return (data[0] << 8) | data[1], data[2], data[3]
            position += 2 + length
    if TAG_SAR_MSG_REF_NUM in message.tlvs:
        return (int.from_bytes(message.tlvs[TAG_SAR_MSG_REF_NUM], "big"),
                message.tlvs[TAG_SAR_TOTAL_SEGMENTS][0], message.tlvs[TAG_SAR_SEGMENT_SEQNUM][0])
    return None


def user_data(message: ShortMessage) -> bytes:
    """The text bytes of a part: short_message (or message_payload) without its UDH."""
    data = message.short_message or message.tlvs.get(TAG_MESSAGE_PAYLOAD, b"")
    if message.esm_class & ESM_UDHI and data:
        return data[1 + data[0]:]
    return data


def receipt_text(message_id: str, stat: str, submitted: str, done: str, text: str, error: int = 0) -> str:
    """The de-facto standard receipt text (SMPP 3.4 Appendix B)."""
    delivered = "001" if stat == "DELIVRD" else "000"
    return (f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{submitted} done date:{done} "
            f"stat:{stat} err:{error:03d} text:{text[:20]}")
