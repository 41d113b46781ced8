"""The receiver's micro-batches sent to S3 as soon as written (issue 13, PLUS-4): a working copy's events folder
uploaded to its S3 twin file by file, before any batch is handed on (pipelines.events_s3 loads them)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pipelines.storage.mirror import remote_of
from pipelines.storage.urls import ObjectUrl

log = logging.getLogger(__name__)


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
