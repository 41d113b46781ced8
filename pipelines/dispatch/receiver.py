"""`smsflow receive` (PLUS-4): stay bound as a receiver and record receipts and replies; with an account store,
the STOP and START replies apply to the own blacklists within about a second of arriving (BL-2, PLUS-6). With a
`batches` handler (`--load`, `--announce`), the micro-batches written are handed on every few seconds, in a worker
thread so the opt-outs keep their pace while a load waits for the warehouse (issue 11). With the bucket on S3 (the
events folder in a working copy, issue 13), each micro-batch is uploaded as soon as written, and a load pulls the
campaigns it reads first (pipelines.events_s3)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipelines.dispatch.session import BindReport, BindSession
from pipelines.dispatch.settings import SmscSettings
from pipelines.dlr import EventWriter

log = logging.getLogger(__name__)
OPT_OUT_EVERY = 1.0  # seconds between two reads of the new event files for opt-outs (events are flushed each 0.5 s)
BATCHES_EVERY = 5.0  # seconds between two hand-overs of the new micro-batches (loaded within 60 s, issue 11)
COMPACT_EVERY = 600.0  # seconds between two compactions of the events folder's old micro-batches (issue 11)
CHECKPOINT = ".loaded.json"  # in the events folder: the micro-batches already handed on (a restart resumes)


@dataclass
class ReceiveReport(BindReport):
    opt_outs: int = 0  # numbers newly opted out by the replies received (BL-2)


@dataclass
class _UploadedWriter(EventWriter):
    """The receiver's event files, each uploaded to S3 once written (pipelines.storage.uploads.BatchUploads)."""

    uploads: object = field(default=None)

    def flush(self) -> Path | None:
        path = super().flush()
        self.uploads.written(path)
        return path


def receive(settings: SmscSettings, events_dir: Path, seconds: float | None = None,
            until: Callable[[BindReport], bool] | None = None, store=None,
            progress: Callable[[ReceiveReport], None] | None = None,
            batches: Callable[[list[Path]], object] | None = None, batches_every: float = BATCHES_EVERY) -> ReceiveReport:
    """`smsflow receive`: stay bound as a receiver and record every receipt and reply (late ones too), for
    `seconds` or until `until(report)` holds. With `store` (the account store's Engine), every second the replies
    flushed since are recorded as opt-outs (`apply_opt_outs_from_events`; the account that last sent to the number);
    `opt_outs` counts the numbers newly opted out. `progress(report)` is told the counts so far whenever they
    change (a live count on the command line), and once when bound. `batches(files)` is given the micro-batches
    (Parquet files of `events_dir`) not handed on yet (maybe none: an announcer checks its earlier announces), every
    `batches_every` seconds and once at the end; a file is handed on again until a call returns without raising
    (`BatchTracker` remembers them).

    With `events_dir` in a working copy of an S3 bucket: every file is uploaded once written, and all are on S3
    before `batches` is given them."""
    from pipelines.storage.uploads import BatchUploads

    uploads = BatchUploads(events_dir)
    if uploads.resume(events_dir):  # a previous run's batches that S3 did not take, sent now
        uploads.written(None)
    writer = _UploadedWriter(events_dir, f"receiver-{os.getpid()}", uploads=uploads) if uploads.remote is not None \
        else EventWriter(events_dir, f"receiver-{os.getpid()}")
    session = BindSession(settings, None, writer, ("", 0, ""), "", None)
    session.open(mode="receiver")
    handler = _BatchHandler(events_dir, batches, batches_every, uploads) if batches is not None else None
    started = time.monotonic()
    checked = started
    opt_outs = 0
    told = None
    try:
        while (seconds is None or time.monotonic() - started < seconds) and session.error is None \
                and not (until is not None and until(session.report)):
            time.sleep(0.05)
            if store is not None and time.monotonic() - checked >= OPT_OUT_EVERY:
                opt_outs += _apply_opt_outs(store, events_dir)
                checked = time.monotonic()
            if handler is not None:
                handler.poll()
            if progress is not None and told != (counts := (session.report.receipts, session.report.replies,
                                                            opt_outs)):
                told = counts
                progress(_report(session.report, started, opt_outs))
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        session.events.flush()
        if store is not None:
            opt_outs += _apply_opt_outs(store, events_dir)
        if handler is not None:
            handler.finish()
    return _report(session.report, started, opt_outs)


def _report(bind: BindReport, started: float, opt_outs: int) -> ReceiveReport:
    return ReceiveReport(**{**asdict(bind), "seconds": time.monotonic() - started}, opt_outs=opt_outs)


def _apply_opt_outs(store, events_dir: Path) -> int:
    """The new replies recorded; a store that does not answer is logged and tried again next second (the events
    are on disk, so nothing is lost)."""
    from pipelines.optouts import apply_opt_outs_from_events

    try:
        return apply_opt_outs_from_events(store, events_dir).added
    except Exception as error:  # noqa: BLE001 - the receiver must stay bound; the replies are read again later
        log.warning("opt-outs not recorded yet (%s: %s); trying again [BL-2]", type(error).__name__, error)
        return 0


class _BatchHandler:
    """Hands the new micro-batches of `folder` to `batches` every `every` seconds, one call at a time, in a thread."""

    def __init__(self, folder: Path, batches: Callable[[list[Path]], object], every: float, uploads=None):
        self.tracker, self.batches, self.every = BatchTracker(folder), batches, every
        self.uploads = uploads
        self.thread: threading.Thread | None = None
        self.last = time.monotonic()
        self.compacted = time.monotonic()

    def poll(self) -> None:
        if (self.thread is not None and self.thread.is_alive()) or time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        self.thread = threading.Thread(target=self._hand_on, name="smsflow-batches", daemon=True)
        self.thread.start()

    def finish(self) -> None:
        """The last micro-batches (the flush at the end) handed on before the receiver returns."""
        if self.thread is not None:
            self.thread.join()
        self._hand_on()

    def _hand_on(self) -> None:
        files = self.tracker.new()
        on_s3 = self.uploads is not None and self.uploads.remote is not None
        try:
            if on_s3:
                self.uploads.send_pending()  # on S3 before anyone is told of them
            self.batches(files)
        except Exception as error:  # noqa: BLE001 - the receiver stays bound; the same files are handed on next time
            log.warning("%d micro-batch(es) not handed on yet (%s: %s); trying again in %.0f s [PLUS-4]", len(files),
                        type(error).__name__, error, self.every)
            return
        self.tracker.handled(files)
        if time.monotonic() - self.compacted >= COMPACT_EVERY:
            self.compacted = time.monotonic()
            self.compact()

    def compact(self) -> None:
        """The old micro-batches merged into day files (pipelines.compaction), those not handed on yet left."""
        from pipelines.compaction import compact_events

        try:
            remote = self.uploads.remote if self.uploads is not None else None
            done = compact_events(self.tracker.folder, pending=[path.name for path in self.tracker.new()],
                                  remote=remote)
        except Exception as error:  # noqa: BLE001 - the batches stay as they are; tried again later
            log.warning("events folder not compacted (%s: %s) [PLUS-4]", type(error).__name__, error)
            return
        if done.removed:
            self.tracker.compacted(done)
            log.info(done.describe())


class BatchTracker:
    """The micro-batches of a shared events folder not handled yet, with a checkpoint file there so a restarted
    receiver handles what its previous run wrote and did not load (or announce)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.checkpoint = self.folder / CHECKPOINT
        try:
            self.done = set(json.loads(self.checkpoint.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError):
            # first start: what is already there was loaded by the campaigns' finish steps or `smsflow load`
            self.done = {path.name for path in self.folder.glob("*.parquet")} if self.folder.is_dir() else set()

    def new(self) -> list[Path]:
        files = sorted(self.folder.glob("*.parquet"), key=lambda path: path.name) if self.folder.is_dir() else []
        return [path for path in files if path.name not in self.done]

    def handled(self, files: list[Path]) -> None:
        if not files:
            return
        self.done |= {path.name for path in files}
        present = {path.name for path in self.folder.glob("*.parquet")} if self.folder.is_dir() else set()
        self.done &= present  # the names of batches compacted or deleted since: the checkpoint stays small
        self._save()

    def compacted(self, compaction) -> None:
        """A compaction's day files are handled (they hold handled batches), its merged batches gone."""
        self.done = (self.done - set(compaction.removed)) | {path.name for path in compaction.written}
        self._save()

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.checkpoint.with_suffix(".tmp")
        staging.write_text(json.dumps(sorted(self.done)), encoding="utf-8")
        staging.replace(self.checkpoint)
