"""Contact lists (LIST-1 … LIST-6): CRM exports read exactly as written, in streamed batches.

A list is a CSV or TXT file with a header row, delimited by `;`, `,`, tab or `|` (detected), in UTF-8 (with
or without BOM), UTF-16 (Excel's "Unicode text") or Windows-1252 (detected over the whole file, so an `é`
on the last line is never garbled). Every value is read as text: leading zeros of numbers and postcodes
survive. Blank lines are skipped; a row with a different number of fields than the header is an error that
names the file and the line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

MOBILE_HEADERS = ("PORTABLE", "MOBILE", "SMS", "GSM")  # LIST-2
DELIMITERS = (";", ",", "\t", "|")
_SEP_HINT = re.compile(r"sep=(.)", re.IGNORECASE)
ID_LINE = "ID_LINE"
MANUAL_LIST = "manual"
_SNIFF_BYTES = 1 << 20
_BLOCK_BYTES = 4 << 20  # one streamed batch ≈ 70,000 rows of a typical export


class ListError(ValueError):
    """A list that cannot be read as written: names the file, the line, the column and the rule."""

    def __init__(self, file: str, message: str, rule: str, line: int | None = None, column: str | None = None):
        self.file, self.line, self.column, self.rule = file, line, column, rule
        where = file + (f", line {line}" if line is not None else "") + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message} [{rule}]")


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


def _find_codec(name: str) -> codecs.CodecInfo | None:
    if name.replace("_", "-") != WINDOWS_1252:
        return None
    return codecs.CodecInfo(
        name=WINDOWS_1252,
        encode=lambda text, errors="strict": codecs.charmap_encode(text, errors, _CP1252_ENCODING),
        decode=lambda data, errors="strict": codecs.charmap_decode(data, errors, _CP1252),
        incrementaldecoder=_Windows1252Decoder,
    )


codecs.register(_find_codec)


def detect_encoding(path: Path) -> str:
    """UTF-16 or UTF-8 by their BOM; else UTF-8 if the whole file decodes as UTF-8; else Windows-1252."""
    with path.open("rb") as stream:
        head = stream.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        stream.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := stream.read(_SNIFF_BYTES * 16):
                if not chunk.isascii():
                    decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return WINDOWS_1252
    return "utf-8"


def _mobile_key(header: str) -> str:
    """Header as compared for LIST-2: accents removed, upper case, surrounding spaces ignored."""
    decomposed = unicodedata.normalize("NFKD", header.strip())
    return "".join(char for char in decomposed if not unicodedata.combining(char)).upper()


def find_mobile_column(columns: list[str], file: str) -> str:
    """The first column named PORTABLE, MOBILE, SMS or GSM (LIST-2), or an error naming the columns found."""
    for column in columns:
        if _mobile_key(column) in MOBILE_HEADERS:
            return column
    raise ListError(
        file,
        f"no mobile number column: expected one named {', '.join(MOBILE_HEADERS)}; "
        f"columns found: {', '.join(repr(c) for c in columns) or 'none'}",
        "LIST-2",
        line=1,
    )


def _detect_delimiter(header_line: str) -> str:
    """The candidate that splits the header into the most fields (quotes respected); `;` on a tie."""
    best, best_fields = DELIMITERS[0], 1
    for delimiter in DELIMITERS:
        fields = len(next(csv.reader([header_line], delimiter=delimiter), []))
        if fields > best_fields:
            best, best_fields = delimiter, fields
    return best


def _unique_headers(raw: list[str]) -> list[str]:
    """Trimmed header names (LIST-3); blank ones named after their position, repeats numbered."""
    names: list[str] = []
    for position, name in enumerate(raw, start=1):
        name = name.strip().lstrip("\ufeff").strip() or f"column_{position}"
        candidate, copy = name, 2
        while candidate in names:
            candidate, copy = f"{name} ({copy})", copy + 1
        names.append(candidate)
    return names


@dataclass
class ListLayout:
    """How one list file is written: what the reader needs, found before reading it."""

    path: Path
    name: str  # REF_LIST
    encoding: str
    delimiter: str
    columns: list[str]
    mobile_column: str
    size_bytes: int = 0
    skip_lines: int = 1  # lines before the data: the header, and Excel's `sep=;` hint when present

    @property
    def personalisation_columns(self) -> list[str]:
        """LIST-3: every column but the mobile number."""
        return [c for c in self.columns if c != self.mobile_column]


def inspect_list(path: Path, name: str | None = None) -> ListLayout:
    """Detect encoding, delimiter, header and mobile column of a list file (LIST-1, LIST-2)."""
    file = str(path)
    if not path.is_file():
        raise ListError(file, "file not found", "LIST-1")
    encoding = detect_encoding(path)
    with path.open("r", encoding=encoding, newline="") as stream:
        header_line = stream.readline().lstrip("\ufeff").rstrip("\r\n")
        hint = _SEP_HINT.fullmatch(header_line.strip())
        if hint:  # Excel writes `sep=;` before the header to name the delimiter
            header_line = stream.readline().rstrip("\r\n")
    header_number = 2 if hint else 1
    if not header_line.strip():
        raise ListError(file, "the file is empty or its header line is blank; a header row is required", "LIST-1",
                        line=header_number)
    delimiter = hint.group(1) if hint else _detect_delimiter(header_line)
    columns = _unique_headers(next(csv.reader([header_line], delimiter=delimiter)))
    try:
        mobile = find_mobile_column(columns, file)
    except ListError as error:
        error.line = header_number
        raise
    return ListLayout(path, name or path.name, encoding, delimiter, columns, mobile, path.stat().st_size,
                      skip_lines=header_number)


def _first_ragged_line(layout: ListLayout) -> tuple[int, int] | None:
    """(physical line, field count) of the first data row whose field count differs from the header's."""
    with layout.path.open("r", encoding=layout.encoding, newline="") as stream:
        reader = csv.reader(stream, delimiter=layout.delimiter)
        for _ in range(layout.skip_lines):
            next(reader, None)
        for record in reader:
            if not record or (len(record) == 1 and not record[0] and len(layout.columns) > 1):
                continue  # blank line
            if len(record) != len(layout.columns):
                return reader.line_num, len(record)
    return None


def read_list_batches(layout: ListLayout) -> Iterator[pl.DataFrame]:
    """The list's rows as batches of text columns named as the (trimmed) header, plus ID_LINE (LIST-6).

    ID_LINE counts data rows from 1, header and blank lines excluded.
    """
    positional = [f"c{i}" for i in range(len(layout.columns))]
    reader_encoding = "utf-8" if layout.encoding == "utf-8-sig" else layout.encoding
    try:
        reader = pacsv.open_csv(
            layout.path,
            read_options=pacsv.ReadOptions(
                column_names=positional, skip_rows=layout.skip_lines, block_size=_BLOCK_BYTES, use_threads=False,
                encoding=reader_encoding,
            ),
            parse_options=pacsv.ParseOptions(delimiter=layout.delimiter, newlines_in_values=True,
                                             ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in positional},
                strings_can_be_null=False, quoted_strings_can_be_null=False, check_utf8=False,
            ),
        )
        next_line = 1
        for batch in reader:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            frame = frame.rename(dict(zip(positional, layout.columns)))
            frame = frame.with_columns(pl.int_range(next_line, next_line + frame.height, dtype=pl.Int64).alias(ID_LINE))
            next_line += frame.height
            yield frame
    except pa.ArrowInvalid as error:
        ragged = _first_ragged_line(layout)
        if ragged is not None:
            line, fields = ragged
            raise ListError(str(layout.path), f"this row has {fields} field{'s' * (fields != 1)} but the header has "
                            f"{len(layout.columns)} (delimiter {layout.delimiter!r})", "LIST-1", line=line) from None
        raise ListError(str(layout.path), f"unreadable CSV: {error}", "LIST-1") from None


def manual_recipients(entries: list[dict[str, str]]) -> tuple[pl.DataFrame, list[str]]:
    """LIST-5: recipients given inline in the spec, as a list frame with a `mobile` column."""
    columns: list[str] = ["mobile"]
    for entry in entries:
        columns.extend(key for key in entry if key not in columns)
    data = {column: ["" if entry.get(column) is None else str(entry.get(column)) for entry in entries]
            for column in columns}
    frame = pl.DataFrame(data, schema={column: pl.String for column in columns})
    frame = frame.with_columns(pl.int_range(1, len(entries) + 1, dtype=pl.Int64).alias(ID_LINE))
    return frame, columns


def read_blacklist(path: Path) -> pl.Series:
    """BL-1: a file of numbers, one per line, or a list with a mobile column; raw strings to normalise."""
    layout = None
    try:
        layout = inspect_list(path)
    except ListError:
        pass
    if layout is not None:
        frames = [batch.get_column(layout.mobile_column) for batch in read_list_batches(layout)]
        return pl.concat(frames) if frames else pl.Series([], dtype=pl.String)
    if not path.is_file():
        raise ListError(str(path), "blacklist file not found", "BL-1")
    text = path.read_text(encoding=detect_encoding(path))
    return pl.Series([line.strip() for line in io.StringIO(text) if line.strip()], dtype=pl.String)
