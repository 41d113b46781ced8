"""Receipts and replies with the bucket on S3 (issue 13, PLUS-4): the receiver's micro-batches sent to S3 as soon as
written, and the loaders working on a local copy of the bucket (pipelines.storage.mirror) brought up to date first.

- The long-lived receiver writes each micro-batch into its working copy's events/ and uploads it at once
  (`BatchUploads`), before any load or announce hands it on; its compaction uploads the day file before it deletes
  the merged batches' objects (pipelines.compaction), so every event is on S3 at every instant.
- A loader (the `sms_events` DAG, `smsflow receive --load`) runs anywhere: it pulls events/ (the DAG; the receiver
  has them) and the folders of the campaigns it loads (their plans, own receipts, reports to write again) before it
  loads, and pushes those folders after (the reports and figures written again). The campaigns a batch belongs to
  are found without their folders when the send ledger is in the account store (`campaigns_to_pull`); with file
  ledgers, which live in the folders, every campaign folder is pulled.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from pipelines.storage.mirror import pull, push, root_of, working_root
from pipelines.storage.uploads import BatchUploads  # noqa: F401 - its home before; the receiver's uploads

log = logging.getLogger(__name__)



def bucket_folder(bucket: str | Path) -> Path:
    """The local folder of SMSFLOW_BUCKET: itself, or the working copy of an s3:// bucket."""
    return working_root(str(bucket)).resolve()


def campaigns_to_pull(bucket: Path, files: list[Path] | None, index) -> list[str] | None:
    """The campaigns a load of `files` (None: the whole shared events folder) and of the links service's click
    batches writes: found on the account store's ledger rows (`index`, an events.LedgerIndex) when the ledger is
    there; None (every campaign) when ledgers are files in the campaign folders."""
    import polars as pl

    from pipelines.dispatch.ledger import reads_store
    from pipelines.dlr import EVENT_SCHEMA
    from pipelines.events import campaigns_of_events
    from pipelines.layout import SHARED_EVENTS
    from pipelines.links.load import batch_files as click_batches

    if not reads_store():
        return None
    bucket = Path(bucket)
    if files is None:
        shared = bucket / SHARED_EVENTS
        files = sorted(shared.glob("*.parquet")) if shared.is_dir() else []
    files = [Path(file) for file in files if Path(file).is_file()]
    found: set[str] = set()
    if files:
        events = pl.concat([pl.read_parquet(file) for file in files], how="vertical_relaxed").cast(EVENT_SCHEMA)
        found.update(campaigns_of_events(events, index.parts()))
    clicks = click_batches(bucket)
    if clicks:
        found.update(pl.scan_parquet(clicks).select("campaign_id").unique().collect()
                     .get_column("campaign_id").drop_nulls().to_list())
    return sorted(name for name in found if name and "/" not in name and name not in (".", ".."))


@contextlib.contextmanager
def synced_campaigns(bucket: Path, campaigns: list[str] | None) -> Iterator[None]:
    """These campaign folders (None: campaigns/ whole) of a working copy pulled from S3 before a load, pushed after
    (also when the load fails: a report written before the failure reaches S3 too); a local bucket: nothing."""
    root = root_of(bucket)
    if root is None:
        yield
        return
    prefixes = ["campaigns"] if campaigns is None else [f"campaigns/{name}" for name in campaigns]
    for prefix in prefixes:
        pull(root, prefix)
    try:
        yield
    finally:
        for prefix in prefixes:
            push(root, prefix)


def load_announced(bucket: Path, names: list[str]):
    """The sms_events task: the micro-batches named (relative to the bucket; none: the whole shared folder) and
    the click batches loaded, on a working copy brought up to date from S3 first (events/, then the campaigns they
    concern); (events.BatchLoad, the files named or None)."""
    from pipelines.events import LedgerIndex, batch_files, load_event_batches

    root = root_of(bucket)
    if root is not None:
        pull(root, "events")
    files = batch_files(bucket, names) if names else None  # None: the whole folder
    index = LedgerIndex(bucket)
    with synced_campaigns(bucket, campaigns_to_pull(bucket, files, index) if root is not None else []):
        return load_event_batches(bucket, files, index=index), files


def synced_loads(bucket: Path, index, load):
    """`load(files)` (a receiver's --load) with the campaigns the files concern pulled from S3 before and pushed
    after when `bucket` is a working copy (`campaigns_to_pull` on `index`, an events.LedgerIndex); else `load`."""
    if root_of(bucket) is None:
        return load

    def synced(files):
        with synced_campaigns(bucket, campaigns_to_pull(bucket, files, index)):
            return load(files)

    return synced
