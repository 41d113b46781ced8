"""The shared events folder kept small (issue 11, PLUS-4): old micro-batches merged into one file per day.

The long-lived `smsflow receive` writes a micro-batch of receipts and replies every few seconds while events come
(`bucket/events/receiver-<pid>-<ns>-<id>.parquet`), and every load of a campaign reads the whole folder for its late
events. Left alone, a busy month is tens of thousands of files and each load reads them all. `compact_events`
merges the batches older than `older_than` (an hour by default: long since loaded or announced) into
`compacted-<YYYYMMDD>.parquet`, one per UTC day of their writing, the day's earlier compaction included:

- never lost: the day's file is written aside, fsynced and renamed into place before any batch it holds is
  deleted, so every event is in at least one file at every instant (a reader that sees both reads an event twice:
  the derivation and the opt-outs take each event once; a compaction redone after a crash drops the duplicates);
- never early: a batch not handed on yet (`pending`: the receiver's loads or announces) stays as it is;
- an announced batch compacted before its `sms_events` run reads it is found in the day's file
  (`pipelines.events.batch_files` then loads the whole folder, which is idempotent);
- one at a time: a compaction holds the folder's `.compact.lock` (flock) from its listing to its last delete and
  skips its turn when another holds it (two receivers), and an erasure (PLUS-8) holds it while it rewrites the
  folder's files (`paused`), so a compaction never puts back a number an erasure hashed;
- on S3 too (issue 13, `remote`: the events folder's S3 twin): the day file is uploaded before the merged batches'
  objects are deleted, so a loader pulling the folder from S3 at any moment finds every event.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from pipelines.storage import ObjectUrl, delete, fsync_folder, replace_durably, upload

COMPACTED = "compacted-"  # the day files' prefix: never compacted into another day
COMPACT_AFTER = 3600.0  # seconds a micro-batch stays as written (SMSFLOW_EVENTS_COMPACT_AFTER)
LOCK = ".compact.lock"  # in the folder: held by a compaction, and by an erasure rewriting the folder


@dataclass(frozen=True)
class Compaction:
    written: tuple[Path, ...] = ()  # the day files written (or rewritten)
    removed: tuple[str, ...] = ()  # the names of the micro-batches merged into them, deleted

    def describe(self) -> str:
        return (f"{len(self.removed):,} micro-batch(es) of the events folder merged into "
                f"{', '.join(path.name for path in self.written)} [PLUS-4]") if self.removed else ""


def compact_after() -> float:
    value = os.environ.get("SMSFLOW_EVENTS_COMPACT_AFTER", "")
    try:
        return float(value) if value else COMPACT_AFTER
    except ValueError:
        raise ValueError(f"SMSFLOW_EVENTS_COMPACT_AFTER={value!r} is not a number of seconds") from None


@contextlib.contextmanager
def paused(folder: Path, wait: bool = True) -> Iterator[bool]:
    """The folder's compaction lock held (an erasure: `wait`; a compaction: not, it skips a busy turn); whether it
    is held. No folder: nothing to hold, True."""
    folder = Path(folder)
    if not folder.is_dir():
        yield True
        return
    with open(folder / LOCK, "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def compact_events(folder: Path, *, older_than: float | None = None, pending: Iterable[str] = (),
                   now: float | None = None, remote: ObjectUrl | None = None) -> Compaction:
    """Merge the micro-batches of `folder` older than `older_than` seconds, except those named in `pending`; nothing
    when another compaction or an erasure holds the folder. `remote`: the folder's S3 twin, changed alike."""
    folder = Path(folder)
    if not folder.is_dir():
        return Compaction()
    with paused(folder, wait=False) as held:
        return _compact(folder, older_than, pending, now, remote) if held else Compaction()


def _compact(folder: Path, older_than: float | None, pending: Iterable[str], now: float | None,
             remote: ObjectUrl | None) -> Compaction:
    from pipelines.dlr import EVENT_SCHEMA

    limit = (time.time() if now is None else now) - (compact_after() if older_than is None else older_than)
    waiting = set(pending)
    days: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.parquet")):
        if path.name.startswith(COMPACTED) or path.name in waiting:
            continue
        try:
            written = path.stat().st_mtime
        except FileNotFoundError:  # another compaction took it
            continue
        if written < limit:
            day = datetime.fromtimestamp(written, timezone.utc).strftime("%Y%m%d")
            days.setdefault(day, []).append(path)
    written_files, removed = [], []
    for day, sources in sorted(days.items()):
        target = folder / f"{COMPACTED}{day}.parquet"
        parts = [target, *sources] if target.is_file() else sources
        frame = pl.concat([pl.read_parquet(path).cast(EVENT_SCHEMA) for path in parts], how="vertical_relaxed") \
            .unique(maintain_order=True)
        replace_durably(target, frame.write_parquet)
        if remote is not None:
            upload(target, remote / target.name)
        for path in sources:  # only once the day's file holds them (on S3 too); S3 first: a failed delete is retried
            if remote is not None:
                with contextlib.suppress(FileNotFoundError):
                    delete(remote / path.name)
            path.unlink(missing_ok=True)
            removed.append(path.name)
        fsync_folder(folder)
        written_files.append(target)
    return Compaction(tuple(written_files), tuple(removed))

