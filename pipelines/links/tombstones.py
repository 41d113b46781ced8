"""PLUS-8 for clicks not rolled yet: the recipients (and whole campaigns) erased, remembered so that every later
roll of the links service's segments drops their clicks' address and agent.

An erasure scrubs the click batches already written (pipelines.links.erase), but clicks answered a few seconds
before it, or after it until the service re-reads the erased plan (its poll), are still in the service's
segments (`links/log`), which a live worker is appending to. They are rolled later, so the erasure leaves a
tombstone: `<bucket>/links/erased.parquet`, the keys (campaign_id, ref_list, id_line; ref_list and id_line NULL
for a whole campaign purged) and nothing personal; `roll` nulls `ip_prefix` and `user_agent` of the events that
match. One lock orders them (`<bucket>/links/erased.parquet.lock`): an erasure holds it exclusively from its
tombstone to the end of its pass over the click batches (`erasing`), a roll shares it from reading the tombstones
to writing its batch (`rolling`), so a batch is either scrubbed by the roll or there for the erasure's pass.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from pipelines.storage import replace_durably

TOMBSTONES = ("links", "erased.parquet")  # under the bucket
CLICK_PERSONAL = ("ip_prefix", "user_agent")  # the click events' columns about the person clicking
KEYS = {"campaign_id": pl.String, "ref_list": pl.String, "id_line": pl.Int64}


def tombstones_file(bucket: Path) -> Path:
    return Path(bucket).joinpath(*TOMBSTONES)


@contextlib.contextmanager
def _locked(bucket: Path, mode: int) -> Iterator[None]:
    path = tombstones_file(bucket)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, mode)
        yield


def erasing(bucket: Path):
    """Held by an erasure from its tombstone to the end of its pass over the click batches."""
    return _locked(bucket, fcntl.LOCK_EX)


def rolling(bucket: Path):
    """Held by a roll from reading the tombstones to writing its batch (rolls share it)."""
    return _locked(bucket, fcntl.LOCK_SH)


def remember(bucket: Path, keys: pl.DataFrame) -> None:
    """Add erased keys: (campaign_id, ref_list, id_line) rows, or campaign_id alone for a whole campaign. The
    caller holds `erasing(bucket)`."""
    if keys.is_empty():
        return
    keys = keys.select(pl.col(name) if name in keys.columns else pl.lit(None).alias(name) for name in KEYS) \
        .cast(KEYS)
    path = tombstones_file(bucket)
    known = pl.read_parquet(path) if path.is_file() else pl.DataFrame(schema=KEYS)
    merged = pl.concat([known, keys]).unique(maintain_order=True)
    if merged.height == known.height:
        return
    replace_durably(path, merged.write_parquet)


def scrub(bucket: Path, events: pl.DataFrame) -> pl.DataFrame:
    """The events with `ip_prefix` and `user_agent` NULL for every erased recipient or campaign (unchanged when
    nothing was ever erased: no file read)."""
    path = tombstones_file(bucket)
    if events.is_empty() or not path.is_file():
        return events
    erased = pl.read_parquet(path)
    campaigns = erased.filter(pl.col("ref_list").is_null()).get_column("campaign_id").unique()
    rows = erased.filter(pl.col("ref_list").is_not_null()).unique().with_columns(pl.lit(True).alias("_erased"))
    marked = events.join(rows, on=list(KEYS), how="left", maintain_order="left")
    hit = pl.col("_erased").fill_null(False) | pl.col("campaign_id").is_in(campaigns.implode())
    return marked.with_columns(pl.when(hit).then(None).otherwise(pl.col(name)).alias(name)
                               for name in CLICK_PERSONAL).drop("_erased")
