"""BL-2: numbers that replied STOP join the account's own blacklist file (dedup by E.164, atomic, idempotent)."""

from __future__ import annotations

import codecs
import fcntl
import os
import uuid
from pathlib import Path

import polars as pl


def add_to_blacklist(path: Path, numbers: list[str]) -> int:
    """BL-2: append the numbers not yet in a blacklist file (compared as E.164), atomically; returns how many.

    A file of one number a line gets a line each; a list with a mobile column gets rows with only that column.
    """
    from pipelines.lists import ListError, inspect_list, read_blacklist
    from pipelines.lists.charsets import detect_encoding

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    asked = _e164(pl.Series("number", numbers, dtype=pl.String)).unique(maintain_order=True)
    # The folder is locked, not the file: the file is replaced whole, so a lock on it would die with its inode.
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        original = path.read_bytes() if path.exists() else b""
        layout = None
        if original.strip():
            listed = read_blacklist(path)
            asked = asked.filter(~asked.is_in(pl.concat([listed, _e164(listed)]).implode()))
            try:
                layout = inspect_list(path)
            except ListError:
                pass
        if asked.is_empty():
            return 0
        if layout is not None:  # a CSV with a header: the number in its column, the other fields empty
            at = layout.columns.index(layout.mobile_column)
            before, after = layout.delimiter * at, layout.delimiter * (len(layout.columns) - at - 1)
            lines = pl.select(pl.concat_str(pl.lit(before), pl.lit(asked), pl.lit(after))).to_series()
        else:
            lines = asked
        encoding = detect_encoding(path) if original else "utf-8"
        if encoding == "utf-16":  # its BOM says which; encoding again with "utf-16" would write a second BOM
            encoding = "utf-16-le" if original.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        codec = encoding if encoding.startswith("utf-16") else "ascii"  # numbers are ASCII in every 8-bit charset
        newline = "\r\n" if "\r\n".encode(codec) in original else "\n"
        head = newline if original and not original.endswith(newline[-1].encode(codec)) else ""
        addition = (head + newline.join(lines.to_list()) + newline).encode(codec)
        staging = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            with staging.open("wb") as stream:
                stream.write(original + addition)
                stream.flush()
                os.fsync(stream.fileno())
            if path.exists():
                os.chmod(staging, path.stat().st_mode & 0o7777)
            os.replace(staging, path)  # readers see the old file or the new one, never half of it
        finally:
            staging.unlink(missing_ok=True)
        return asked.len()
    finally:
        os.close(folder)


def _e164(raw: pl.Series) -> pl.Series:
    """Each raw number in E.164 when it reads as one, else as written (so it is still compared as written)."""
    from pipelines.numbers import normalise_numbers

    return normalise_numbers(raw).get_column("INT_MOBILE").fill_null(raw.str.strip_chars()).alias("number")
