"""Contact lists (LIST-1 … LIST-6): CRM exports read exactly as written, in streamed batches.

A list is a CSV or TXT file with a header row, delimited by `;`, `,`, tab or `|` (detected), in UTF-8 (with
or without BOM), UTF-16 (Excel's "Unicode text", with or without BOM) or Windows-1252 (detected over the whole
file, so an `é` on the last line is never garbled; a file mixing it with UTF-8 lines is read line by line, with
a warning). Every value is read as text: leading zeros of numbers and postcodes survive. Blank lines are
skipped; a row with a different number of fields than the header, a quote that swallows the rows after it, or
a value too large for a contact field is an error that names the file, the line and the column.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import itertools
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
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


def _sniff_encoding(path: Path) -> tuple[str, list[str]]:
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
    return _sniff_encoding(path)[0]


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
    warnings: list[str] = field(default_factory=list)  # what was read but deserves a look (mixed encodings, …)

    @property
    def personalisation_columns(self) -> list[str]:
        """LIST-3: every column but the mobile number."""
        return [c for c in self.columns if c != self.mobile_column]


def inspect_list(path: Path, name: str | None = None) -> ListLayout:
    """Detect encoding, delimiter, header and mobile column of a list file (LIST-1, LIST-2)."""
    file = str(path)
    if not path.is_file():
        raise ListError(file, "file not found", "LIST-1")
    encoding, warnings = _sniff_encoding(path)
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
    # LIST-2 names one column; a second one (MOBILE and Portable) stays a personalisation field, said aloud
    # so the plan summary shows which numbers receive the SMS.
    others = [c for c in columns if c != mobile and _mobile_key(re.sub(r" \(\d+\)$", "", c)) in MOBILE_HEADERS]
    if others:
        warnings.append(f"{file}: several mobile number columns: {mobile!r} is used (the first one); "
                        f"{', '.join(repr(c) for c in others)} kept as personalisation fields [LIST-2]")
    return ListLayout(path, name or path.name, encoding, delimiter, columns, mobile, path.stat().st_size,
                      skip_lines=header_number, warnings=warnings)


# --- What a value may hold -----------------------------------------------------------------------------------
# A quoted value may span lines (an address over two lines), but an unclosed quote makes one value swallow the
# rows after it, and their numbers and names would go out inside another contact's SMS. An address or a note
# holds no delimiter after its first line break and stays within 10 lines and 1,000 characters (a French postal
# address is at most 6 lines of 38, AFNOR NF Z10-011); past that it is swallowed rows, and the plan stops.
_MULTILINE_MAX_LINES = 10
_MULTILINE_MAX_CHARS = 1_000
# No SMS holds more than 255 parts × 153 characters (39,015); a value over Python's csv limit (128 KiB) is a
# broken export, not a contact field.
_MAX_FIELD_BYTES = 1 << 17


def _value_problems(values: pl.Series, delimiter: str, mobile: bool) -> pl.DataFrame:
    """(row, reason) of the values a contact field cannot hold: too long, or rows swallowed by a quote."""
    text = pl.col("value")
    lines = text.str.count_matches(r"\r\n|\r|\n") + 1
    after_first_break = text.str.replace(r"^[^\r\n]*(\r\n|\r|\n)", "")
    size = text.str.len_bytes()
    reason = (
        pl.when(size > _MAX_FIELD_BYTES)
        .then(pl.format("a value of {} bytes, more than the {} a list value may hold", size,
                        pl.lit(_MAX_FIELD_BYTES)))
        .when(lines == 1).then(None)
        .when(pl.lit(mobile)).then(pl.lit("the mobile number spans several lines"))
        .when(after_first_break.str.contains(delimiter, literal=True))
        .then(pl.format("a quoted value runs over {} lines and holds the delimiter after its first line, as rows "
                        "read into it would (a value meant to hold both needs another delimiter)", lines))
        .when((lines > _MULTILINE_MAX_LINES) | (text.str.len_chars() > _MULTILINE_MAX_CHARS))
        .then(pl.format("a quoted value runs over {} lines ({} characters), more than a multi-line value (an "
                        f"address) ever needs ({_MULTILINE_MAX_LINES} lines, {_MULTILINE_MAX_CHARS} characters)",
                        lines, text.str.len_chars()))
    )
    return (values.rename("value").to_frame().with_row_index("row")
            .select("row", reason.alias("reason")).drop_nulls("reason"))


def _check_values(layout: ListLayout, batch: pa.RecordBatch, first_id: int) -> None:
    """Stop on a value no contact field holds (see above); byte-level scans, values inspected only when needed."""
    for index, column in enumerate(batch.columns):
        data = column.buffers()[2]
        if data is None:
            continue
        raw = data.to_pybytes()
        too_long = len(raw) > _MAX_FIELD_BYTES and pc.max(pc.binary_length(column)).as_py() > _MAX_FIELD_BYTES
        if not too_long and b"\n" not in raw and b"\r" not in raw:
            continue
        name = layout.columns[index]
        values = pl.Series(column)
        problems = _value_problems(values, layout.delimiter, name == layout.mobile_column)
        if problems.height:
            row, reason = problems.row(0)
            raise _located_error(layout, first_id + row, index, reason)


# --- Locating a problem in the file (error path only: Python's csv module, record by record) -----------------
@dataclass
class _Record:
    """One data row as written: the physical line it starts on, its physical lines and its fields."""

    id_line: int
    line: int
    lines: list[str]
    fields: list[str]


def _records(layout: ListLayout) -> Iterator[_Record]:
    """The data rows of the file with their physical lines (blank lines skipped, as the reader does)."""
    consumed: list[str] = []
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # sizes are checked by the caller, with a message naming the line

    def physical_lines(stream: io.TextIOBase) -> Iterator[str]:
        for text in stream:
            consumed.append(text)
            yield text

    line = 1
    try:
        with layout.path.open("r", encoding=layout.encoding, newline="") as stream:
            reader = csv.reader(physical_lines(stream), delimiter=layout.delimiter)
            for _ in range(layout.skip_lines):
                next(reader, None)
            line, id_line = line + len(consumed), 0
            consumed.clear()
            for fields in reader:
                lines = consumed.copy()
                consumed.clear()
                if fields and not (len(fields) == 1 and not fields[0] and len(layout.columns) > 1):
                    id_line += 1
                    yield _Record(id_line, line, lines, fields)
                line += len(lines)
    except (csv.Error, UnicodeDecodeError) as error:
        raise ListError(str(layout.path), f"unreadable: {error}", "LIST-1", line=line) from None
    finally:
        csv.field_size_limit(limit)


def _quote_openings(record: _Record, delimiter: str) -> list[tuple[int, int, bool]]:
    """(column index, physical line, closed) of each quoted value of a record."""
    raw = "".join(record.lines)
    starts = list(itertools.accumulate(len(text) for text in record.lines))
    openings: list[tuple[int, int, bool]] = []
    column, field_start, quoted, skip = 0, 0, False, -1
    for token in re.finditer("\"|" + re.escape(delimiter) + r"|\r\n|\r|\n", raw):
        at = token.start()
        if at < skip:
            continue
        if quoted:
            if token.group() == '"':
                if raw.startswith('"', at + 1):  # a doubled quote stands for one quote character
                    skip = at + 2
                    continue
                quoted = False
                openings[-1] = (*openings[-1][:2], True)
        elif token.group() == '"':
            if at == field_start:
                quoted = True
                openings.append((column, record.line + bisect.bisect_right(starts, at), False))
        elif token.group() == delimiter:
            column, field_start = column + 1, at + 1
        else:
            break
    return openings


def _column_name(layout: ListLayout, index: int) -> str:
    return layout.columns[index] if index < len(layout.columns) else f"field {index + 1}"


def _located_error(layout: ListLayout, id_line: int, index: int, reason: str) -> ListError:
    """The error for data row `id_line`, column `index`: at the line its quote opened, when it is quoted."""
    file, column = str(layout.path), _column_name(layout, index)
    record = next((r for r in _records(layout) if r.id_line == id_line), None)
    if record is None:
        return ListError(file, f"data row {id_line}: {reason}", "LIST-1", column=column)
    opening = next((o for o in _quote_openings(record, layout.delimiter) if o[0] == index), None)
    if opening is None:
        return ListError(file, reason, "LIST-1", line=record.line, column=column)
    _, line, closed = opening
    if "\n" in record.fields[index] or "\r" in record.fields[index] or not closed:
        reason += f"; the quote opened on this line {'closes only further down' if closed else 'never closes'}: " \
                  "an unclosed quote?"
    return ListError(file, reason, "LIST-1", line=line, column=column)


def _unclosed_quote(layout: ListLayout, record: _Record) -> ListError | None:
    for index, line, closed in _quote_openings(record, layout.delimiter):
        if not closed:
            return ListError(str(layout.path), "a quote opens here and never closes: every line after it up to "
                             "the end of the file was read into this value", "LIST-1", line=line,
                             column=_column_name(layout, index))
    return None


def _first_unreadable(layout: ListLayout) -> ListError | None:
    """The first row the reader refused: wrong field count, a value or row too large, a quote never closed."""
    file, expected, last = str(layout.path), len(layout.columns), None
    for record in _records(layout):
        last = record
        if len(record.fields) != expected:
            unclosed = _unclosed_quote(layout, record)
            if unclosed is not None:
                return unclosed
            fields = len(record.fields)
            return ListError(file, f"this row has {fields} field{'s' * (fields != 1)} but the header has "
                             f"{expected} (delimiter {layout.delimiter!r})", "LIST-1", line=record.line)
        for index, value in enumerate(record.fields):
            if len(value) > _MAX_FIELD_BYTES // 4 and len(value.encode()) > _MAX_FIELD_BYTES:
                return _located_error(layout, record.id_line, index, f"a value of {len(value.encode())} bytes, "
                                      f"more than the {_MAX_FIELD_BYTES} a list value may hold")
        if sum(len(text) for text in record.lines) > _BLOCK_BYTES // 4 and \
                len("".join(record.lines).encode()) > _BLOCK_BYTES:
            return ListError(file, f"a row of more than {_BLOCK_BYTES} bytes", "LIST-1", line=record.line)
    return _unclosed_quote(layout, last) if last is not None else None


def read_list_batches(layout: ListLayout) -> Iterator[pl.DataFrame]:
    """The list's rows as batches of text columns named as the (trimmed) header, plus ID_LINE (LIST-6).

    ID_LINE counts data rows from 1, header and blank lines excluded. A value that swallowed the rows after an
    unclosed quote, or too large for a contact field, stops the reading with the line where it starts.
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
        next_line, last_row_spans_lines = 1, False
        for batch in reader:
            _check_values(layout, batch, next_line)
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            frame = frame.rename(dict(zip(positional, layout.columns)))
            frame = frame.with_columns(pl.int_range(next_line, next_line + frame.height, dtype=pl.Int64).alias(ID_LINE))
            next_line += frame.height
            if frame.height:
                last_value = frame.item(-1, layout.columns[-1])
                last_row_spans_lines = "\n" in last_value or "\r" in last_value
            yield frame
    except pa.ArrowInvalid as error:
        raise _first_unreadable(layout) or ListError(str(layout.path), f"unreadable CSV: {error}", "LIST-1") \
            from None
    # A quote left open in the last value of the last row takes the rest of the file without complaint; a file
    # whose last character (line breaks aside) is not the closing quote is scanned to find it.
    if last_row_spans_lines and not _ends_with_quote(layout.path):
        unclosed = _first_unreadable(layout)
        if unclosed is not None:
            raise unclosed


def _ends_with_quote(path: Path) -> bool:
    """Whether the file's last character, line breaks aside, is `"` (NUL bytes dropped: UTF-16 alike)."""
    with path.open("rb") as stream:
        stream.seek(max(0, path.stat().st_size - 64))
        return stream.read().replace(b"\0", b"").rstrip(b"\r\n").endswith(b'"')


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
