"""A list's header (LIST-1, LIST-2, LIST-3): delimiter, column names and the mobile column, found before the
rows are read; and ListError, which every refusal of a list raises."""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.lists.charsets import UTF8_OR_WINDOWS_1252, _utf16_without_bom, sniff_encoding
from pipelines.storage import ObjectUrl

MOBILE_HEADERS = ("PORTABLE", "MOBILE", "SMS", "GSM")  # LIST-2
DELIMITERS = (";", ",", "\t", "|")
_SEP_HINT = re.compile(r"sep=(.)", re.IGNORECASE)


class ListError(ValueError):
    """A list that cannot be read as written: names the file, the line, the column and the rule."""

    def __init__(self, file: str, message: str, rule: str, line: int | None = None, column: str | None = None):
        self.file, self.line, self.column, self.rule, self.reason = file, line, column, rule, message
        where = file + (f", line {line}" if line is not None else "") + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message} [{rule}]")


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


def _header(file: str, header_line: str, hint: re.Match | None) -> tuple[list[str], str, str, int]:
    """The columns, the mobile column, the delimiter and the header's line number (2 after Excel's `sep=;`)."""
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
    return columns, mobile, delimiter, header_number


def inspect_list(path: Path, name: str | None = None) -> ListLayout:
    """Detect encoding, delimiter, header and mobile column of a list file (LIST-1, LIST-2)."""
    file = str(path)
    if not path.is_file():
        raise ListError(file, "file not found", "LIST-1")
    encoding, warnings = sniff_encoding(path)
    with path.open("r", encoding=encoding, newline="") as stream:
        header_line = stream.readline().lstrip("\ufeff").rstrip("\r\n")
        hint = _SEP_HINT.fullmatch(header_line.strip())
        if hint:  # Excel writes `sep=;` before the header to name the delimiter
            header_line = stream.readline().rstrip("\r\n")
    columns, mobile, delimiter, header_number = _header(file, header_line, hint)
    # LIST-2 names one column; a second one (MOBILE and Portable) stays a personalisation field, said aloud
    # so the plan summary shows which numbers receive the SMS.
    others = [c for c in columns if c != mobile and _mobile_key(re.sub(r" \(\d+\)$", "", c)) in MOBILE_HEADERS]
    if others:
        warnings.append(f"{file}: several mobile number columns: {mobile!r} is used (the first one); "
                        f"{', '.join(repr(c) for c in others)} kept as personalisation fields [LIST-2]")
    return ListLayout(path, name or path.name, encoding, delimiter, columns, mobile, path.stat().st_size,
                      skip_lines=header_number, warnings=warnings)


HEADER_BYTES = 1 << 16  # what `read_header` reads: a header row of hundreds of columns fits


def read_header(path: Path | ObjectUrl) -> tuple[list[str], str]:
    """A list's columns and mobile column (LIST-1, LIST-2, LIST-3) from its first bytes only, as `inspect_list`
    names them: what a spec check needs, without scanning a 10M-row file for its encoding. Never reads rows.
    An s3:// list (issue 13): one ranged GET of those bytes."""
    from pipelines import storage

    file = str(path)
    if isinstance(path, Path) and not path.is_file():
        raise ListError(file, "file not found", "LIST-1")
    try:
        head = storage.read_head(path, HEADER_BYTES)
    except FileNotFoundError:
        raise ListError(file, "file not found", "LIST-1") from None
    except OSError as error:
        reason = error.strerror or str(error).removeprefix(f"{file}: ") or type(error).__name__
        raise ListError(file, f"cannot be read: {reason}", "LIST-1") from None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = _utf16_without_bom(head[: len(head) // 2 * 2]) or UTF8_OR_WINDOWS_1252
    text = head.decode(encoding, errors="ignore") if encoding.startswith("utf-16") else head.decode(encoding)
    lines = text.lstrip("\ufeff").splitlines()
    header_line = lines[0] if lines else ""
    hint = _SEP_HINT.fullmatch(header_line.strip())
    if hint:
        header_line = lines[1] if len(lines) > 1 else ""
    columns, mobile, _, _ = _header(file, header_line, hint)
    return columns, mobile
