"""What a list value may hold, and where a row the reader refused starts (LIST-1): a value too large, a quote
that swallows the rows after it, a row with the wrong number of fields, each named by file, line and column."""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lists.header import ListError, ListLayout

BLOCK_BYTES = 4 << 20  # one streamed batch ≈ 70,000 rows of a typical export


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


def check_values(layout: ListLayout, batch: pa.RecordBatch, first_id: int) -> None:
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


def first_unreadable(layout: ListLayout) -> ListError | None:
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
        if sum(len(text) for text in record.lines) > BLOCK_BYTES // 4 and \
                len("".join(record.lines).encode()) > BLOCK_BYTES:
            return ListError(file, f"a row of more than {BLOCK_BYTES} bytes", "LIST-1", line=record.line)
    return _unclosed_quote(layout, last) if last is not None else None


def ends_with_quote(path: Path) -> bool:
    """Whether the file's last character, line breaks aside, is `"` (NUL bytes dropped: UTF-16 alike)."""
    with path.open("rb") as stream:
        stream.seek(max(0, path.stat().st_size - 64))
        return stream.read().replace(b"\0", b"").rstrip(b"\r\n").endswith(b'"')
