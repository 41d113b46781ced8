"""Contact lists (LIST-1 … LIST-6): CRM exports read exactly as written, in streamed batches.

A list is a CSV or TXT file with a header row, delimited by `;`, `,`, tab or `|` (detected), in UTF-8 (with
or without BOM), UTF-16 (Excel's "Unicode text", with or without BOM) or Windows-1252 (detected over the whole
file, so an `é` on the last line is never garbled; a file mixing it with UTF-8 lines is read line by line, with
a warning). Every value is read as text: leading zeros of numbers and postcodes survive. Blank lines are
skipped; a row with a different number of fields than the header, a quote that swallows the rows after it, or
a value too large for a contact field is an error that names the file, the line and the column.

charsets: encoding sniffing; header: delimiter, columns, mobile column, ListError; checks: the value and row
checks; reader: the streamed CSV reader, manual recipients, blacklists.
"""

from pipelines.lists.charsets import UTF8_OR_WINDOWS_1252, WINDOWS_1252, detect_encoding
from pipelines.lists.header import DELIMITERS, MOBILE_HEADERS, ListError, ListLayout, find_mobile_column, inspect_list, \
    read_header
from pipelines.lists.reader import ID_LINE, MANUAL_LIST, manual_recipients, read_blacklist, read_list_batches

__all__ = [
    "DELIMITERS", "ID_LINE", "MANUAL_LIST", "MOBILE_HEADERS", "UTF8_OR_WINDOWS_1252", "WINDOWS_1252", "ListError",
    "ListLayout", "detect_encoding", "find_mobile_column", "inspect_list", "manual_recipients", "read_blacklist",
    "read_header", "read_list_batches",
]
