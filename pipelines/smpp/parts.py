"""Splitting a planned message into the SMS parts that go on the wire (ENC-1, ENC-2, SEND-6).

The cut points come from `encoding.part_texts`, the one splitter that also counts the plan's PARTS (GSM7
parts of at most 153 septets, UCS2 parts of at most 67 UTF-16 units, an escape pair or a surrogate pair
never cut); here each part is encoded and given a 6-octet concatenation UDH (IE 0x00, 8-bit reference).
`tests/unit/smpp/test_parts.py` checks that the number of parts equals the plan's PARTS for any text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipelines.encoding import part_texts
from pipelines.smpp import gsm7

DATA_CODING = {"GSM7": 0x00, "UCS2": 0x08}  # SMPP 3.4 §5.2.19: SMSC default alphabet, UCS2


@dataclass(frozen=True)
class Part:
    """One submit_sm's payload: the short_message octets and whether it carries a UDH."""

    short_message: bytes
    udh: bool
    text: str


MAX_OCTETS = 140  # SMPP short_message for one SMS: UDH + user data (3GPP TS 23.040 §9.2.3.24)


def reference(key: str) -> int:
    """A stable 8-bit concatenation reference for one message (the same after a restart)."""
    return hashlib.blake2b(key.encode(), digest_size=1).digest()[0]


def split(text: str, encoding: str, ref: int, packed: bool = False) -> list[Part]:
    """The parts of one message as submit_sm payloads, cut where the plan counted them."""
    chunks = part_texts(text, encoding)
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        payload = gsm7.encode(chunk) if encoding == "GSM7" else chunk.encode("utf-16-be")
        header = bytes((0x05, 0x00, 0x03, ref, len(chunks), number)) if len(chunks) > 1 else b""
        if packed and encoding == "GSM7":
            fill = (7 - (len(header) * 8) % 7) % 7  # the septets start on a septet boundary after the UDH
            packed_payload = gsm7.pack(payload, fill)
            if len(header) + len(packed_payload) > MAX_OCTETS:  # no room for §6.1.2.3.1's second CR
                packed_payload = gsm7.pack(payload, fill, second_cr=False)
            payload = packed_payload
        parts.append(Part(header + payload, bool(header), chunk))
    return parts
