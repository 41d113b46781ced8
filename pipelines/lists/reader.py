"""A list's rows as streamed batches of text columns (LIST-1, LIST-6), manual recipients (LIST-5) and
blacklist files (BL-1)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from pipelines.lists.charsets import detect_encoding
from pipelines.lists.checks import BLOCK_BYTES, check_values, ends_with_quote, first_unreadable
from pipelines.lists.header import ListError, ListLayout, inspect_list

ID_LINE = "ID_LINE"
MANUAL_LIST = "manual"


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
                column_names=positional, skip_rows=layout.skip_lines, block_size=BLOCK_BYTES, use_threads=False,
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
            check_values(layout, batch, next_line)
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
        raise first_unreadable(layout) or ListError(str(layout.path), f"unreadable CSV: {error}", "LIST-1") \
            from None
    # A quote left open in the last value of the last row takes the rest of the file without complaint; a file
    # whose last character (line breaks aside) is not the closing quote is scanned to find it.
    if last_row_spans_lines and not ends_with_quote(layout.path):
        unclosed = first_unreadable(layout)
        if unclosed is not None:
            raise unclosed


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
