"""The click log (URL-3, URL-4): every click and preview appended durably, then rolled into Parquet micro-batches.

An event is one JSON line written with os.write on an O_APPEND descriptor before its answer is sent: once the
kernel has it, a server killed with SIGKILL loses none of the clicks it answered. A thread fsyncs in groups
(every `group_seconds`), as the send ledger does, for power loss. Each worker writes its own segment
(`<bucket>/links/log/<worker>-<pid>-<ns>.jsonl.open`, held by an flock while it is written); segments are
closed every `roll_seconds` (renamed `.jsonl`) and rolled: the Parquet micro-batch is written aside, fsynced and
renamed to `<bucket>/events/links/<segment>.parquet` (a name fixed by the segment, so a roll redone after a crash
rewrites the same file: never a duplicate), and only then is the segment removed. A segment left open by a dead
worker (its flock is free) is closed and rolled by the next roller.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import threading
import time
from functools import lru_cache
from pathlib import Path

import polars as pl

from pipelines.storage import fsync_folder, replace_durably

LOG_FOLDER = ("links", "log")  # under the bucket
EVENTS_FOLDER = ("events", "links")  # under the bucket: beside, never among, the receiver's events/*.parquet
OPEN, CLOSED = ".jsonl.open", ".jsonl"
LOG_SCHEMA = {"token": pl.String, "campaign_id": pl.String, "ref_list": pl.String, "id_line": pl.Int64,
              "link": pl.Int32, "kind": pl.String, "at": pl.Int64, "agent_class": pl.String, "bot": pl.Boolean,
              "ip_prefix": pl.String, "user_agent": pl.String}
CLICKS_SCHEMA = {**LOG_SCHEMA, "at": pl.Datetime("us", "UTC")}


def log_folder(bucket: Path) -> Path:
    return Path(bucket).joinpath(*LOG_FOLDER)


def events_folder(bucket: Path) -> Path:
    return Path(bucket).joinpath(*EVENTS_FOLDER)


@lru_cache(maxsize=65536)
def _json(text: str | None) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode()


# One event line: the token, the link's campaign and list (`event_head`, the same for every link of a list), its
# line, link number and time, then who asked (`event_tail`, the same for every request of one agent and network).
# Key order is free: the roll reads the lines by name.
LINE = b'{"token":"%s",%s"id_line":%d,"link":%d,"at":%d,%s'


@lru_cache(maxsize=4096)
def event_head(campaign_id: str, ref_list: str) -> bytes:
    return b'"campaign_id":%s,"ref_list":%s,' % (_json(campaign_id), _json(ref_list))


def event_tail(kind: str, agent_class: str, bot: bool, ip_prefix: str | None, user_agent: str) -> bytes:
    return (b'"kind":"%s","agent_class":%s,"bot":%s,"ip_prefix":%s,"user_agent":%s}\n'
            % (kind.encode(), _json(agent_class), b"true" if bot else b"false", _json(ip_prefix), _json(user_agent)))


def event_line(token: str | bytes, campaign_id: str, ref_list: str, id_line: int, link: int, kind: str,
               at_us: int, agent_class: str, bot: bool, ip_prefix: str | None, user_agent: str) -> bytes:
    """One event as the log holds it: a JSON object of the Parquet columns, `at` in microseconds since the epoch
    (formatted by hand from cached JSON pieces: this runs for every answer). `token` and `kind` are plain ASCII
    ([0-9A-Za-z] tokens, the event kinds)."""
    return LINE % (token.encode() if isinstance(token, str) else token, event_head(campaign_id, ref_list),
                   id_line, link, at_us, event_tail(kind, agent_class, bot, ip_prefix, user_agent))


class ClickLog:
    """One worker's log: `append` from the request path, a thread for group fsyncs, segment closes and rolls."""

    def __init__(self, bucket: Path, worker: str = "w", group_seconds: float = 0.05, roll_seconds: float = 5.0):
        self.bucket, self.worker = Path(bucket), worker
        self.folder = log_folder(bucket)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.group_seconds, self.roll_seconds = group_seconds, roll_seconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.appended = 0  # events written by this process
        self._written = 0  # events in the current segment
        self._synced = 0
        self._path, self._fd = self._open_segment()

    def _open_segment(self) -> tuple[Path, int]:
        path = self.folder / f"{self.worker}-{os.getpid()}-{time.time_ns()}{OPEN}"
        fresh = path.with_name(path.name + ".new")  # locked before it gets a name a roller looks at
        descriptor = os.open(fresh, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # held while written: a free lock means its writer is gone
        os.rename(fresh, path)
        fsync_folder(self.folder)
        return path, descriptor

    def append(self, line: bytes) -> None:
        """In the kernel when this returns (a SIGKILL loses nothing); on disk at the next group fsync."""
        with self._lock:
            os.write(self._fd, line)
            self._written += 1
        self.appended += 1

    def sync(self) -> None:
        with self._lock:
            if self._written == self._synced:
                return
            descriptor, written = os.dup(self._fd), self._written
        try:
            os.fsync(descriptor)  # outside the lock: requests keep appending meanwhile
        finally:
            os.close(descriptor)
        with self._lock:
            if self._synced < written:
                self._synced = written

    def close_segment(self) -> Path | None:
        """Close the segment being written (if it holds events) and start another; the closed one's path."""
        with self._lock:
            if self._written == 0:
                return None
        new_path, new_fd = self._open_segment()
        with self._lock:
            old_path, old_fd = self._path, self._fd
            self._path, self._fd, self._written, self._synced = new_path, new_fd, 0, 0
        os.fsync(old_fd)
        closed = old_path.with_name(old_path.name[:-len(OPEN)] + CLOSED)
        os.rename(old_path, closed)
        fsync_folder(self.folder)
        os.close(old_fd)
        return closed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="links-clicks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_roll = time.monotonic() + self.roll_seconds
        while not self._stop.wait(self.group_seconds):
            try:
                self.sync()
                if time.monotonic() >= next_roll:
                    next_roll = time.monotonic() + self.roll_seconds
                    self.close_segment()
                    roll(self.bucket)
            except Exception as error:  # noqa: BLE001 - the log keeps going; events stay in their segments
                import sys

                print(f"links click log: {type(error).__name__}: {error}", file=sys.stderr)

    def close(self) -> None:
        """Stop the thread, close the last segment and roll what is closed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.close_segment()
        with self._lock:
            os.close(self._fd)
            self._path.unlink(missing_ok=True)  # the fresh, empty segment
        roll(self.bucket)


def _close_orphans(folder: Path) -> None:
    """Segments left open by a writer that is gone (killed, crashed): their flock is free."""
    for path in folder.glob(f"*{OPEN}"):
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live writer
        else:
            try:
                os.rename(path, path.with_name(path.name[:-len(OPEN)] + CLOSED))
            except FileNotFoundError:  # another worker's roller closed it first
                pass
        finally:
            os.close(descriptor)


def read_segment(path: Path) -> pl.DataFrame:
    """A segment's events as the Parquet columns; a torn last line (power loss mid-write) is left out."""
    data = path.read_bytes()
    data = data[:data.rfind(b"\n") + 1]
    if not data:
        return pl.DataFrame(schema=CLICKS_SCHEMA)
    return (pl.read_ndjson(io.BytesIO(data), schema=LOG_SCHEMA)
            .with_columns(pl.from_epoch("at", time_unit="us").dt.replace_time_zone("UTC")))


def roll(bucket: Path) -> list[Path]:
    """Turn every closed segment (and every orphan) into a Parquet micro-batch under events/links; the paths
    written. Idempotent: rolling the same segment twice writes the same file once."""
    folder, target = log_folder(bucket), events_folder(bucket)
    if not folder.exists():
        return []
    from pipelines.links.tombstones import rolling

    _close_orphans(folder)
    with rolling(bucket):  # an erasure waits: each batch is scrubbed here or is there for its pass (PLUS-8)
        return _roll(bucket, folder, target)


def _roll(bucket: Path, folder: Path, target: Path) -> list[Path]:
    from pipelines.links.tombstones import scrub

    written = []
    for segment in sorted(folder.glob(f"*{CLOSED}")):
        try:
            events = scrub(bucket, read_segment(segment))  # PLUS-8: clicks of a recipient erased since, scrubbed
        except FileNotFoundError:  # another roller took it
            continue
        if events.height:
            target.mkdir(parents=True, exist_ok=True)
            final = target / (segment.name[:-len(CLOSED)] + ".parquet")
            replace_durably(final, events.write_parquet)
            written.append(final)
        segment.unlink(missing_ok=True)
        fsync_folder(folder)
    return written


def read_clicks(bucket: Path) -> pl.DataFrame:
    """Every rolled event of the bucket (for tests and the bench; the warehouse loads the files itself)."""
    files = sorted(events_folder(bucket).glob("*.parquet"))
    return pl.read_parquet(files) if files else pl.DataFrame(schema=CLICKS_SCHEMA)
