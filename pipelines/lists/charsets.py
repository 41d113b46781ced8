"""The text encodings of list files (LIST-1): UTF-8 (with or without BOM), UTF-16 (with or without BOM) and
Windows-1252 as Windows reads it, told apart over the whole file; a file mixing UTF-8 and Windows-1252 lines
is read line by line, with a warning. Importing this module registers the two codecs it names."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

_SNIFF_BYTES = 1 << 20


# --- Windows-1252 as Windows reads it ----------------------------------------------------------------------
# Python's cp1252 refuses the five bytes Windows leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D); Windows maps
# them to the C1 control with the same number. Doing the same keeps every byte of a CRM export.
_CP1252 = "".join(
    chr(byte) if char == "\ufffd" else char
    for byte, char in enumerate(bytes(range(256)).decode("cp1252", errors="replace"))
)
_CP1252_ENCODING = codecs.charmap_build(_CP1252)
WINDOWS_1252 = "smsflow-windows-1252"


class _Windows1252Decoder(codecs.IncrementalDecoder):
    def decode(self, data: bytes, final: bool = False) -> str:
        return codecs.charmap_decode(data, self.errors, _CP1252)[0]


def _windows_1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode the bytes that are not UTF-8 as Windows-1252 (for files that mix both)."""
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start:error.end].decode(WINDOWS_1252), error.end


_FALLBACK_ERRORS = "smsflow-windows-1252-fallback"
codecs.register_error(_FALLBACK_ERRORS, _windows_1252_fallback)
UTF8_OR_WINDOWS_1252 = "smsflow-utf-8-or-windows-1252"


class _Utf8OrWindows1252Decoder(codecs.BufferedIncrementalDecoder):
    def _buffer_decode(self, data, errors, final):  # type: ignore[override]
        return codecs.utf_8_decode(data, _FALLBACK_ERRORS, final)


def _find_codec(name: str) -> codecs.CodecInfo | None:
    name = name.replace("_", "-")
    if name == WINDOWS_1252:
        return codecs.CodecInfo(
            name=WINDOWS_1252,
            encode=lambda text, errors="strict": codecs.charmap_encode(text, errors, _CP1252_ENCODING),
            decode=lambda data, errors="strict": codecs.charmap_decode(data, errors, _CP1252),
            incrementaldecoder=_Windows1252Decoder,
        )
    if name == UTF8_OR_WINDOWS_1252:
        return codecs.CodecInfo(
            name=UTF8_OR_WINDOWS_1252,
            encode=lambda text, errors="strict": codecs.utf_8_encode(text, errors),
            decode=lambda data, errors="strict": codecs.utf_8_decode(bytes(data), _FALLBACK_ERRORS, True),
            incrementaldecoder=_Utf8OrWindows1252Decoder,
        )
    return None


codecs.register(_find_codec)

# A valid UTF-8 multi-byte sequence: in a Windows-1252 file it would be an upper-case accented letter followed
# by a symbol (`É»`), which names and addresses do not hold, so it marks a line written in UTF-8.
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 LE or BE told by its NUL bytes: text files hold none, UTF-16 holds one per ASCII character."""
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if len(head) < 2 or even + odd < len(head) // 4:
        return None
    return "utf-16-le" if odd > even else "utf-16-be"


def _line_at(path: Path, offset: int) -> int:
    """The 1-based physical line holding byte `offset` (line breaks `\n`, or `\r` in old Mac files)."""
    with path.open("rb") as stream:
        prefix = stream.read(offset)
    return (prefix.count(b"\n") or prefix.count(b"\r")) + 1


def sniff_encoding(path: Path) -> tuple[str, list[str]]:
    """The encoding of a list file, and warnings when it mixes UTF-8 and Windows-1252 lines (LIST-1).

    UTF-16 by its BOM or, without one, by its NUL bytes; UTF-8 if the whole file decodes as UTF-8; else
    Windows-1252, unless some lines are UTF-8 too: then each byte sequence is read in the encoding it is
    valid in, and a warning names the first line of each. Byte-level scans only (C speed on 10M rows).
    """
    with path.open("rb") as stream:
        head = stream.read(4096)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", []
        utf16 = _utf16_without_bom(head[: len(head) // 2 * 2])
        if utf16:
            return utf16, []
        bom = head.startswith(codecs.BOM_UTF8)
        stream.seek(len(codecs.BOM_UTF8) if bom else 0)
        offset, pending = stream.tell(), b""
        first_invalid = first_utf8 = None
        while first_invalid is None or first_utf8 is None:
            chunk = stream.read(_SNIFF_BYTES * 16)
            data, final = pending + chunk, not chunk
            consumed = len(data)
            if not data.isascii():
                if first_invalid is None:
                    try:
                        consumed = codecs.utf_8_decode(data, "strict", final)[1]
                    except UnicodeDecodeError as error:
                        first_invalid = offset + error.start
                if first_utf8 is None:
                    text, consumed = codecs.utf_8_decode(data, "surrogateescape", final)
                    if len(text) < consumed:  # fewer characters than bytes: a multi-byte sequence is valid UTF-8
                        match = _UTF8_SEQUENCE.search(data)
                        first_utf8 = offset + (match.start() if match else 0)
            if final:
                break
            offset, pending = offset + consumed, data[consumed:]
    if first_invalid is None:
        return ("utf-8-sig" if bom else "utf-8"), []
    if first_utf8 is None:
        return WINDOWS_1252, []
    invalid_line, utf8_line = _line_at(path, first_invalid), _line_at(path, first_utf8)
    return UTF8_OR_WINDOWS_1252, [
        f"{path}: mixes encodings: line {utf8_line} is UTF-8 but line {invalid_line} is Windows-1252; "
        f"each line is read in the encoding it is written in [LIST-1]"
    ]


def detect_encoding(path: Path) -> str:
    """UTF-16 by its BOM or NUL bytes; UTF-8 if the whole file decodes as UTF-8; else Windows-1252 (or both)."""
    return sniff_encoding(path)[0]
