"""The serving index's files (URL-3, URL-5): a plan's links.parquet turned, once, into what the links service
memory-maps (pipelines.links.index): an Arrow IPC file of the targets' varying parts and the previews, the 48-byte
ROW records and the tokens' hashes. The token hash is computed by the same function in NumPy (here, at build)
and in Python (the index, per request)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

LINKS_FILE = "links.parquet"  # the plan's links artifact (helper A's contract), beside the plan marker
TOKEN_WIDTH = 16  # bytes a token is padded to: two uint64 words (URL-1: 19 - len(domain) - 1, a domain of 2+)
ISOLATE_BYTES = 16 << 20  # plans bigger than this (Parquet bytes) are read in a child process
NEVER = np.iinfo(np.int64).max  # expires_us of a link without expiry
_SEED, _MULT, _MASK = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, (1 << 64) - 1
_WORDS = struct.Struct("<2Q")
COLUMNS = ("short_url", "ref_list", "id_line", "link", "target", "title", "description", "image")


def token_hash(token: bytes) -> int:
    """The 64-bit hash of one token (a request's), equal to `token_hashes` on the same token."""
    h = _SEED
    for word in _WORDS.unpack(token.ljust(TOKEN_WIDTH, b"\0")):
        h = ((h ^ word) * _MULT) & _MASK
        h ^= h >> 31
    return h


def token_hashes(tokens: np.ndarray) -> np.ndarray:
    """`token_hash` of every token of an `S16` array, vectorised."""
    words = np.ascontiguousarray(tokens).view("<u8").reshape(len(tokens), 2)
    h = np.full(len(tokens), _SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in range(2):
            h ^= words[:, column]
            h *= np.uint64(_MULT)
            h ^= h >> np.uint64(31)
    return h


# One link's fixed fields in one 48-byte record (one page touched by a lookup): the padded token, expiry (µs),
# where the varying part of its target is in the Arrow file's buffer and its length, id_line, the link number,
# its list (an index into the campaign's list names) and its target's affixes (an index into the campaign's
# common prefixes and suffixes of targets, one pair per link number: `https://shop.fr/p?id=` … `&utm=sms`).
ROW = np.dtype([("token", f"S{TOKEN_WIDTH}"), ("expires_us", "<i8"), ("target_at", "<i8"), ("id_line", "<i4"),
                ("target_len", "<i4"), ("link", "<i4"), ("ref", "<i2"), ("affix", "<i2")])
_ROW = struct.Struct(f"<{TOKEN_WIDTH}sqqiiihh")
_ROW_SIZE = _ROW.size
_PADS = [b"\0" * (TOKEN_WIDTH - length) for length in range(TOKEN_WIDTH + 1)]
PREVIEW_COLUMNS = ("short_url", "title", "description", "image")


def _affixes(frame):
    """Per link number, the prefix and suffix every target of the campaign shares (from the smallest and largest
    target and reversed target: whole-column expressions, one Python step per link number)."""
    import os.path

    import polars as pl

    bounds = (frame.group_by("link", maintain_order=True)
              .agg(pl.col("target").min().alias("low"), pl.col("target").max().alias("high"),
                   pl.col("target").str.reverse().min().alias("low_r"),
                   pl.col("target").str.reverse().max().alias("high_r"),
                   pl.col("target").str.len_bytes().min().alias("shortest")))
    affixes = []
    for low, high, low_r, high_r, shortest in bounds.select("low", "high", "low_r", "high_r", "shortest").rows():
        prefix = os.path.commonprefix([low, high])
        suffix = os.path.commonprefix([low_r, high_r])[::-1][:max(0, shortest - len(prefix))]
        affixes.append((prefix, suffix))
    return bounds["link"], affixes


def build_campaign_cache(links: str, destination: str) -> int:
    """Turn a plan's links.parquet into the memory-mappable files the server reads (run in a child process for
    big plans): `destination` (Arrow IPC: the targets' varying parts and the preview texts; the list names and
    target affixes in its metadata), `.rows.npy` (the ROW records) and `.hash.npy` (the tokens' hashes). Rows
    whose token is not [0-9A-Za-z]{8,16} or whose target is not a printable http(s) URL are dropped (URL-5: never
    a redirect to anything else, never a header injection). Returns the rows kept."""
    import json

    import polars as pl
    import pyarrow as pa

    frame = (pl.read_parquet(links, columns=["token", "expires_at", *COLUMNS])
             .filter(pl.col("token").str.contains(r"^[0-9A-Za-z]{8,16}$")
                     & pl.col("target").str.contains(r"^https?://[!-~]+$"))
             .with_columns(pl.col("link").fill_null(0)))
    ref_lists = frame["ref_list"].fill_null("").unique(maintain_order=True).to_list()
    links_seen, affixes = _affixes(frame)
    affix = pl.DataFrame({"link": links_seen, "affix": range(len(affixes)),
                          "prefix_len": [len(p) for p, _ in affixes], "suffix_len": [len(x) for _, x in affixes]},
                         schema_overrides={"link": frame.schema["link"], "affix": pl.Int16})
    frame = frame.join(affix, on="link", how="left", maintain_order="left").with_columns(
        pl.col("target").str.slice(pl.col("prefix_len"), pl.col("target").str.len_bytes() - pl.col("prefix_len")
                                   - pl.col("suffix_len")).alias("target_part"))  # ASCII: bytes are characters
    rows = np.zeros(frame.height, dtype=ROW)
    rows["token"] = frame["token"].to_numpy().astype(f"S{TOKEN_WIDTH}")  # ASCII, padded with NULs
    rows["id_line"] = frame["id_line"].fill_null(0).to_numpy()
    rows["expires_us"] = frame["expires_at"].dt.epoch("us").fill_null(NEVER).to_numpy()
    rows["link"] = frame["link"].to_numpy()
    rows["ref"] = frame["ref_list"].fill_null("").cast(pl.Enum(ref_lists)).to_physical().to_numpy()
    rows["affix"] = frame["affix"].to_numpy()
    # no nulls: the request path reads a row's bytes by offsets alone, without the validity bitmap
    table = frame.select(pl.col(name).fill_null("") for name in ("target_part", *PREVIEW_COLUMNS)).to_arrow()
    table = table.cast(pa.schema([pa.field(name, pa.large_string()) for name in table.column_names]),
                       safe=False).combine_chunks()
    table = table.replace_schema_metadata({"ref_lists": json.dumps(ref_lists), "affixes": json.dumps(affixes)})
    if frame.height:
        target = table.column("target_part").chunks[0]
        offsets = np.frombuffer(target.buffers()[1], dtype=np.int64, count=len(target) + 1,
                                offset=target.offset * 8)
        rows["target_at"], rows["target_len"] = offsets[:-1] - offsets[0], np.diff(offsets)
    temporary = f"{destination}.{os.getpid()}.tmp"
    with pa.OSFile(temporary, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=max(1, table.num_rows)):
            writer.write_batch(batch)
    np.save(temporary + ".rows.npy", rows)
    np.save(temporary + ".hash.npy", token_hashes(rows["token"]))
    os.replace(temporary + ".rows.npy", destination + ".rows.npy")
    os.replace(temporary + ".hash.npy", destination + ".hash.npy")
    os.replace(temporary, destination)
    return frame.height


def cache_files(cache: Path) -> tuple[Path, Path, Path]:
    return cache, Path(f"{cache}.rows.npy"), Path(f"{cache}.hash.npy")
