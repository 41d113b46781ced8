"""Receipts and replies with the bucket on S3 (issue 13, PLUS-4): the receiver's micro-batches sent to S3 as soon as
written, and the loaders working on a local copy of the bucket (pipelines.storage.mirror) brought up to date first.

- The long-lived receiver writes each micro-batch into its working copy's events/ and uploads it at once
  (`BatchUploads`), before any load or announce hands it on; its compaction uploads the day file before it deletes
  the merged batches' objects (pipelines.compaction), so every event is on S3 at every instant.
- A loader (the `sms_events` DAG, `smsflow receive --load`) runs anywhere: it pulls events/ and campaigns/ (the
  plans, the campaigns' own receipts, the reports to write again) before it loads, and pushes campaigns/ after (the
  reports and figures written again).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from pipelines.storage import ObjectUrl
from pipelines.storage.mirror import MARKER, pull, push, remote_of, working_root

log = logging.getLogger(__name__)

LOADER_PREFIXES = ("events", "campaigns")  # what a loader reads; it writes back in campaigns/ only


def root_of(folder: Path) -> Path | None:
    """The working copy a folder is in (the folder holding the mirror's marker), None for a local bucket."""
    folder = Path(folder).absolute()
    return next((root for root in (folder, *folder.parents) if (root / MARKER).is_file()), None)


def bucket_folder(bucket: str | Path) -> Path:
    """The local folder of SMSFLOW_BUCKET: itself, or the working copy of an s3:// bucket."""
    return working_root(str(bucket)).resolve()


@contextlib.contextmanager
def synced_for_loading(bucket: Path, prefixes: tuple[str, ...] = LOADER_PREFIXES) -> Iterator[Path]:
    """`prefixes` of a working copy pulled from S3 before a load, campaigns/ pushed after (also when the load
    fails: a report written before the failure is on S3 too); a local bucket: nothing synced."""
    root = root_of(bucket)
    if root is None:
        yield Path(bucket)
        return
    for prefix in prefixes:
        pull(root, prefix)
    try:
        yield Path(bucket)
    finally:
        if "campaigns" in prefixes:
            push(root, "campaigns")


class BatchUploads:
    """The micro-batches of a working copy's events folder uploaded to its S3 twin as they are written; a batch
    that could not be sent (S3 unreachable a moment) is sent again before any batch is handed on."""

    def __init__(self, events_dir: Path):
        self.remote: ObjectUrl | None = remote_of(events_dir)
        self.pending: list[Path] = []
        self.lock = threading.Lock()

    def resume(self, folder: Path) -> int:
        """The batches of `folder` a previous run wrote and could not send (its S3 twin lacks them), kept to send
        (`send_pending`, at once); how many."""
        from pipelines.storage import listing

        if self.remote is None or not Path(folder).is_dir():
            return 0
        try:
            sent = {item.name for item in listing(ObjectUrl(self.remote.bucket, self.remote.key.rstrip("/") + "/"))}
        except OSError as error:  # S3 not answering: what this run writes is sent, the rest on a later start
            log.warning("the micro-batches of %s not checked against %s (%s) [PLUS-4]", folder, self.remote, error)
            return 0
        unsent = sorted(path for path in Path(folder).glob("*.parquet") if path.name not in sent)
        with self.lock:
            self.pending.extend(unsent)
        return len(unsent)

    def written(self, path: Path | None) -> None:
        """A batch just written (by the receiver's session; None: none), uploaded now with any left from before, or
        kept for `send_pending`."""
        if self.remote is None:
            return
        if path is not None:
            with self.lock:
                self.pending.append(path)
        try:
            self.send_pending()
        except OSError as error:  # the receiver stays bound; the batch is sent before it is handed on
            log.warning("%d micro-batch(es) not sent to %s yet (%s); trying again [PLUS-4]", len(self.pending),
                        self.remote, error)

    def send_pending(self) -> None:
        """Every batch written and not sent yet, uploaded (OSError when S3 does not answer)."""
        from pipelines.storage import upload

        if self.remote is None:
            return
        with self.lock:
            while self.pending:
                path = self.pending[0]
                if path.is_file():  # a batch compacted meanwhile is in its day file, sent by the compaction
                    upload(path, self.remote / path.name)
                self.pending.pop(0)
