"""Splitting a planned message into the SMS parts that go on the wire (ENC-1, ENC-2, SEND-6).

The split is the plan's count made concrete: GSM7 parts of at most 153 septets and UCS2 parts of at most
67 UTF-16 units, an escape pair or a surrogate pair never cut, each part carrying a 6-octet concatenation
UDH (IE 0x00, 8-bit reference). `tests/unit/test_parts.py` checks that the number of parts equals the
plan's PARTS for any text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipelines.encoding import MULTI_PART, SINGLE_PART
from pipelines.smpp import gsm7

DATA_CODING = {"GSM7": 0x00, "UCS2": 0x08}  # SMPP 3.4 §5.2.19: SMSC default alphabet, UCS2


@dataclass(frozen=True)
class Part:
    """One submit_sm's payload: the short_message octets and whether it carries a UDH."""

    short_message: bytes
    udh: bool
    text: str


def _units(text: str, encoding: str) -> list[tuple[str, bytes, int]]:
    """(character, encoded octets, units it takes) for each character."""
    if encoding == "GSM7":
        return [(char, octets, len(octets)) for char, octets in zip(text, gsm7.septets(text))]
    return [(char, octets, len(octets) // 2) for char in text for octets in [char.encode("utf-16-be")]]


def reference(key: str) -> int:
    """A stable 8-bit concatenation reference for one message (the same after a restart)."""
    return hashlib.blake2b(key.encode(), digest_size=1).digest()[0]


def split(text: str, encoding: str, ref: int, packed: bool = False) -> list[Part]:
    """The parts of one message, greedy, never cutting an escape or surrogate pair."""
    whole = gsm7.encode(text) if encoding == "GSM7" else text.encode("utf-16-be")
    if len(whole) <= SINGLE_PART[encoding] * (1 if encoding == "GSM7" else 2):  # one SMS: no splitting to do
        return [Part(gsm7.pack(whole) if packed and encoding == "GSM7" else whole, False, text)]
    units = _units(text, encoding)
    total = sum(size for _, _, size in units)
    if total <= SINGLE_PART[encoding]:
        chunks = [units]
    else:
        chunks, current, used = [], [], 0
        for unit in units:
            if used + unit[2] > MULTI_PART[encoding]:
                chunks.append(current)
                current, used = [], 0
            current.append(unit)
            used += unit[2]
        chunks.append(current)
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        payload = b"".join(octets for _, octets, _ in chunk)
        header = bytes((0x05, 0x00, 0x03, ref, len(chunks), number)) if len(chunks) > 1 else b""
        if packed and encoding == "GSM7":
            fill = (7 - (len(header) * 8) % 7) % 7
            payload = gsm7.pack(payload, fill)
        parts.append(Part(header + payload, bool(header), "".join(char for char, _, _ in chunk)))
    return parts
