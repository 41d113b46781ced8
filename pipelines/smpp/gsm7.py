"""GSM 03.38 7-bit default alphabet (3GPP TS 23.038 §6.2.1) as SMPP carries it with data_coding 0.

Most SMSCs take one septet per octet ("unpacked") in short_message; some want the septets packed 8 into 7
octets. Both are here, with the extension table reached through the escape code 0x1B.

smpplib ships a GSM table too, but it maps position 0x5F to '`' instead of '§' and splits escape pairs,
so the exact table is kept here, next to its decoder. It is the project's one GSM7 alphabet (issue 8):
`pipelines.encoding` reads its GSM7 character sets from BASIC and EXTENSION.
"""

from __future__ import annotations

ESCAPE = 0x1B
# Position = septet value; 0x1B is the escape to the extension table.
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
             0x40: "|", 0x65: "€"}

assert len(BASIC) == 128
_ENCODE = {char: bytes([value]) for value, char in enumerate(BASIC) if value != ESCAPE}
_ENCODE.update({char: bytes([ESCAPE, value]) for value, char in EXTENSION.items()})
_DECODE_EXTENSION = {value: char for value, char in EXTENSION.items()}


def septets(text: str) -> list[bytes]:
    """Each character's septets (one, or escape + one), in order. KeyError on a non-GSM7 character."""
    return [_ENCODE[char] for char in text]


def encode(text: str) -> bytes:
    """Unpacked GSM7: one septet per octet."""
    return b"".join(_ENCODE[char] for char in text)


_LATIN1_TO_GSM = {value: char for value, char in enumerate(BASIC)}
_LATIN1_TO_GSM.update({value: BASIC[value & 0x7F] for value in range(128, 256)})


def decode(data: bytes) -> str:
    """Unpacked GSM7 → text."""
    if ESCAPE not in data:  # the common case: one table lookup per octet, in C
        return data.decode("latin-1").translate(_LATIN1_TO_GSM)
    out, escaped = [], False
    for value in data:
        if escaped:
            out.append(_DECODE_EXTENSION.get(value, BASIC[value & 0x7F]))
            escaped = False
        elif value == ESCAPE:
            escaped = True
        else:
            out.append(BASIC[value & 0x7F])
    return "".join(out)


CR = 0x0D


def pack(septet_bytes: bytes, fill_bits: int = 0, second_cr: bool = True) -> bytes:
    """Pack septets 8 into 7 octets (3GPP TS 23.038 §6.1.2.1.1), after `fill_bits` zero bits (UDH alignment).

    §6.1.2.3.1: 7 spare bits at the end hold CR, not zeros a reader would take for '@'; and a text that
    ends with CR exactly on an octet boundary gets a second CR, so that a reader who drops a padding CR
    keeps the wanted one (`second_cr=False` when that septet would not fit the part).
    """
    if second_cr and septet_bytes[-1:] == bytes([CR]) and (fill_bits + 7 * len(septet_bytes)) % 8 == 0:
        septet_bytes += bytes([CR])
    value, bits, out = 0, fill_bits, bytearray()
    for septet in septet_bytes:
        value |= (septet & 0x7F) << bits
        bits += 7
        while bits >= 8:
            out.append(value & 0xFF)
            value >>= 8
            bits -= 8
    if bits == 1:
        value |= CR << 1
    if bits:
        out.append(value & 0xFF)
    return bytes(out)


def unpack(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """The first `count` septets of packed data."""
    value = int.from_bytes(data, "little") >> fill_bits
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))


def unpack_text(data: bytes, fill_bits: int = 0) -> bytes:
    """Every septet of a packed text whose length is only known in octets: when the septets fill the octets
    exactly, a final CR is the padding of §6.1.2.3.1 and is dropped."""
    total = len(data) * 8 - fill_bits
    septet_bytes = unpack(data, total // 7, fill_bits)
    if total % 7 == 0 and septet_bytes[-1:] == bytes([CR]):
        septet_bytes = septet_bytes[:-1]
    return septet_bytes
