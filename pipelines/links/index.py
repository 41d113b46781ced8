"""The serving index of short links (URL-3, URL-5): every campaign planned under a bucket, O(1) lookup by token.

Memory: each campaign's `links.parquet` is turned once (in a child process, so the server never holds the
Polars frames) into an uncompressed Arrow IPC file that the server memory-maps: targets and previews stay in
Arrow string buffers shared by every worker and paged in by the kernel, never as 10M Python strings. The only
anonymous memory is a bucketed hash table of int32 row ids (about 8 bytes a link). Tokens are kept padded to
24 bytes (three little-endian uint64 words) and hashed by the same function in NumPy (build) and Python (lookup).

New campaigns: `IndexWatcher` stat-polls the plan markers (`campaigns/*/plan/.smsflow-plan`, a cheap and
portable check) every few seconds; a new, replaced (re-planned: the marker's inode or mtime changes) or removed
plan builds a new snapshot in the background and swaps it in; a re-planned campaign's old tokens are gone.
"""

from __future__ import annotations

import bisect
import os
import re
import struct
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from pipelines.layout import PLAN_MARKER

LINKS_FILE = "links.parquet"  # the plan's links artifact (helper A's contract), beside the plan marker
TOKEN_WIDTH = 24  # bytes a token is padded to: three uint64 words (URL-1: tokens of 8..17 characters fit)
TOKEN = re.compile(rb"[0-9A-Za-z]{8,24}")
ISOLATE_BYTES = 16 << 20  # plans bigger than this (Parquet bytes) are read in a child process
NEVER = np.iinfo(np.int64).max  # expires_us of a link without expiry
_SEED, _MULT, _MASK = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, (1 << 64) - 1
_WORDS = struct.Struct("<3Q")
COLUMNS = ("short_url", "ref_list", "id_line", "link", "target", "title", "description", "image")


def token_hash(token: bytes) -> int:
    """The 64-bit hash of one token (a request's), equal to `token_hashes` on the same token."""
    h = _SEED
    for word in _WORDS.unpack(token.ljust(TOKEN_WIDTH, b"\0")):
        h = ((h ^ word) * _MULT) & _MASK
        h ^= h >> 31
    return h


def token_hashes(tokens: np.ndarray) -> np.ndarray:
    """`token_hash` of every token of an `S24` array, vectorised."""
    words = np.ascontiguousarray(tokens).view("<u8").reshape(len(tokens), 3)
    h = np.full(len(tokens), _SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in range(3):
            h ^= words[:, column]
            h *= np.uint64(_MULT)
            h ^= h >> np.uint64(31)
    return h


def build_campaign_cache(links: str, destination: str) -> int:
    """Turn a plan's links.parquet into the memory-mappable Arrow IPC file the server reads (run in a child
    process). Rows whose token is not [0-9A-Za-z]{8,24} or whose target is not a printable http(s) URL are
    dropped (URL-5: never a redirect to anything else, never a header injection). Returns the rows kept."""
    import polars as pl
    import pyarrow as pa

    frame = (pl.read_parquet(links, columns=["token", "expires_at", *COLUMNS])
             .filter(pl.col("token").str.contains(r"^[0-9A-Za-z]{8,24}$")
                     & pl.col("target").str.contains(r"^https?://[!-~]+$"))
             .select(pl.col("token").str.pad_end(TOKEN_WIDTH, "\0"),
                     pl.col("expires_at").dt.epoch("us").fill_null(NEVER).alias("expires_us"),
                     *[pl.col(name) for name in COLUMNS]))
    table = frame.to_arrow().combine_chunks()
    table = table.cast(pa.schema([pa.field(f.name, pa.large_string() if pa.types.is_string(f.type)
                                           or pa.types.is_large_string(f.type) else f.type)
                                  for f in table.schema]))
    temporary = f"{destination}.{os.getpid()}.tmp"
    with pa.OSFile(temporary, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=max(1, table.num_rows)):
            writer.write_batch(batch)
    np.save(temporary + ".npy", token_hashes(_fixed_tokens(table.column("token").chunks[0])
                                             if table.num_rows else np.zeros(0, "S24")))
    os.replace(temporary + ".npy", destination + ".hash.npy")
    os.replace(temporary, destination)
    return table.num_rows


def _fixed_tokens(array) -> np.ndarray:
    """The padded token column as an `S24` view of its Arrow data buffer (zero copy)."""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64, count=len(array) + 1, offset=array.offset * 8)
    return np.frombuffer(array.buffers()[2], dtype=f"S{TOKEN_WIDTH}", count=len(array), offset=int(offsets[0]))


def _ints(array: np.ndarray) -> memoryview:
    """A read view whose items are Python ints (the request path reads one at a time: no NumPy scalars)."""
    return memoryview(np.ascontiguousarray(array))


class _Strings:
    """One memory-mapped Arrow large_string column, read by row without building Arrow scalars."""

    __slots__ = ("offsets", "data")

    def __init__(self, array):
        buffers = array.buffers()
        self.offsets = _ints(np.frombuffer(buffers[1], dtype=np.int64, count=len(array) + 1,
                                           offset=array.offset * 8))
        self.data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")

    def __getitem__(self, row: int) -> bytes:
        return self.data[self.offsets[row]:self.offsets[row + 1]].tobytes()


@dataclass
class CampaignLinks:
    """One campaign's links, memory-mapped; rows are addressed by their position in the file."""

    campaign: str
    plan_dir: Path
    version: tuple[int, int]  # the plan marker's (inode, mtime_ns): a re-plan changes it
    tokens: np.ndarray
    hashes: np.ndarray
    expires_us: np.ndarray
    columns: dict[str, object]
    id_line: np.ndarray
    link: np.ndarray
    planned_us: int

    def __post_init__(self):
        self.token_bytes = memoryview(np.ascontiguousarray(self.tokens).view(np.uint8))
        self.expires = _ints(self.expires_us)
        self.id_lines, self.links = _ints(self.id_line), _ints(self.link)

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def open(cls, campaign: str, plan_dir: Path, version: tuple[int, int], cache: Path) -> CampaignLinks:
        import pyarrow as pa

        with pa.memory_map(str(cache), "r") as source:
            table = pa.ipc.open_file(source).read_all()
        batch = table.combine_chunks()
        if batch.num_rows == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(campaign, plan_dir, version, np.zeros(0, "S24"), np.zeros(0, np.uint64), empty, {},
                       empty, empty, version[1] // 1000)
        column = {name: batch.column(name).chunks[0] for name in batch.column_names}
        return cls(campaign, plan_dir, version, _fixed_tokens(column["token"]),
                   np.load(str(cache) + ".hash.npy", mmap_mode="r"),
                   np.frombuffer(column["expires_us"].buffers()[1], dtype=np.int64, count=batch.num_rows),
                   {name: _Strings(column[name]) for name in ("short_url", "ref_list", "target", "title",
                                                              "description", "image")},
                   column["id_line"].to_numpy(zero_copy_only=False), column["link"].to_numpy(zero_copy_only=False),
                   version[1] // 1000)


class Link:
    """One link found by a request: what a click needs is read at once, the preview's fields when asked."""

    __slots__ = ("token", "of", "row", "target", "expires_us")

    def __init__(self, token: str, of: CampaignLinks, row: int, target: bytes, expires_us: int):
        self.token, self.of, self.row, self.target, self.expires_us = token, of, row, target, expires_us

    def _text(self, name: str) -> str:
        return self.of.columns[name][self.row].decode()

    campaign = property(lambda self: self.of.campaign)
    plan_dir = property(lambda self: self.of.plan_dir)
    id_line = property(lambda self: self.of.id_lines[self.row])
    link = property(lambda self: self.of.links[self.row])
    ref_list = property(lambda self: self._text("ref_list"))
    short_url = property(lambda self: self._text("short_url"))
    title = property(lambda self: self._text("title"))
    description = property(lambda self: self._text("description"))
    image = property(lambda self: self._text("image"))


@dataclass
class Snapshot:
    """An immutable index over some campaigns: a hash table of buckets (sorted row ids, bucket starts)."""

    campaigns: list[CampaignLinks] = field(default_factory=list)
    lifetime_us: int | None = None
    starts: memoryview = field(default_factory=lambda: _ints(np.zeros(2, np.int64)))
    order: memoryview = field(default_factory=lambda: _ints(np.zeros(0, np.int32)))
    offsets: list[int] = field(default_factory=lambda: [0])
    shift: int = 63

    @classmethod
    def build(cls, campaigns: list[CampaignLinks], lifetime_us: int | None = None, bits: int | None = None):
        """Newest plan first, so that a token planned twice resolves to the newest campaign's link."""
        campaigns = sorted(campaigns, key=lambda c: (-c.version[1], c.campaign))
        offsets = [0]
        for item in campaigns:
            offsets.append(offsets[-1] + len(item))
        total = offsets[-1]
        bits = bits if bits is not None else max(4, int(total - 1).bit_length() if total > 1 else 1)
        shift = 64 - bits
        hashes = (np.concatenate([np.asarray(c.hashes) for c in campaigns]) if campaigns
                  else np.zeros(0, np.uint64))
        buckets = (hashes >> np.uint64(shift)).astype(np.int64)
        del hashes
        order = np.argsort(buckets, kind="stable").astype(np.int32)
        starts = np.zeros((1 << bits) + 1, dtype=np.int64)
        np.cumsum(np.bincount(buckets, minlength=1 << bits), out=starts[1:])
        return cls(campaigns, lifetime_us, _ints(starts.astype(np.int32 if total < 2**31 else np.int64)),
                   _ints(order), offsets, shift)

    def __len__(self) -> int:
        return self.offsets[-1]

    def locate(self, token: bytes) -> tuple[CampaignLinks, int] | None:
        """The campaign and row of a token, or None (malformed or unknown)."""
        if not TOKEN.fullmatch(token):
            return None
        padded = token.ljust(TOKEN_WIDTH, b"\0")
        bucket = token_hash(padded) >> self.shift
        starts, order, offsets = self.starts, self.order, self.offsets
        for position in range(starts[bucket], starts[bucket + 1]):
            row = order[position]
            which = bisect.bisect_right(offsets, row) - 1
            campaign = self.campaigns[which]
            local = row - offsets[which]
            if campaign.token_bytes[local * TOKEN_WIDTH:(local + 1) * TOKEN_WIDTH] == padded:
                return campaign, local
        return None

    def lookup(self, token: bytes) -> Link | None:
        found = self.locate(token)
        if found is None:
            return None
        campaign, row = found
        expires = campaign.expires[row]
        if self.lifetime_us is not None:
            expires = min(expires, campaign.planned_us + self.lifetime_us)
        return Link(token.decode(), campaign, row, campaign.columns["target"][row], expires)


def planned_campaigns(bucket: Path) -> dict[str, tuple[Path, tuple[int, int]]]:
    """Every complete plan under the bucket with links: campaign -> (plan folder, marker version)."""
    found = {}
    for marker in (bucket / "campaigns").glob(f"*/plan/{PLAN_MARKER}"):
        try:
            stat = marker.stat()
        except FileNotFoundError:  # a plan being replaced right now: seen at the next poll
            continue
        if (marker.parent / LINKS_FILE).exists():
            found[marker.parent.parent.name] = (marker.parent, (stat.st_ino, stat.st_mtime_ns))
    return found


class _InProcess:
    """The executor interface, run here and now (for small plans)."""

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return False

    def submit(self, function, *args):
        from concurrent.futures import Future

        future = Future()
        try:
            future.set_result(function(*args))
        except Exception as error:  # noqa: BLE001 - handed to the caller as a child's would be
            future.set_exception(error)
        return future


class IndexWatcher:
    """The live index of a bucket: `snapshot` is always a complete index; a thread polls the plan markers every
    `poll` seconds and swaps in a new snapshot when a plan appears, is replaced or goes."""

    def __init__(self, bucket: Path, cache: Path | None = None, lifetime_days: float | None = None,
                 poll: float = 2.0):
        self.bucket, self.poll = Path(bucket), poll
        self.cache = Path(cache) if cache else self.bucket / "links" / "index"
        self.lifetime_us = None if lifetime_days is None else int(lifetime_days * 86_400 * 1_000_000)
        self.snapshot = Snapshot(lifetime_us=self.lifetime_us)
        self._loaded: dict[str, CampaignLinks] = {}
        self._failed: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Bring the index up to the bucket's plans now; True when the snapshot changed. A plan whose links
        cannot be read is skipped (said on stderr once per version) and the others are served."""
        planned = {name: item for name, item in planned_campaigns(self.bucket).items()
                   if self._failed.get(name) != item[1]}
        current = {name: links.version for name, links in self._loaded.items()}
        if current == {name: version for name, (_, version) in planned.items()}:
            return False
        self.cache.mkdir(parents=True, exist_ok=True)
        loaded = {name: links for name, links in self._loaded.items()
                  if name in planned and planned[name][1] == links.version}
        missing = {name: item for name, item in planned.items() if name not in loaded}
        caches = {name: self.cache / f"{name}-{version[0]}-{version[1]}.arrow"
                  for name, (_, version) in missing.items()}
        to_build = {name: path for name, path in caches.items()
                    if not (path.exists() and Path(str(path) + ".hash.npy").exists())}
        sources = {name: missing[name][0] / LINKS_FILE for name in to_build}
        # Big plans are read in a child process, so the server never holds (nor keeps the heap of) their
        # Polars frames; small ones are not worth a process start.
        isolate = sum(path.stat().st_size for path in sources.values()) > ISOLATE_BYTES
        with (ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) if isolate
              else _InProcess()) as pool:
            jobs = {name: pool.submit(build_campaign_cache, str(sources[name]), str(path))
                    for name, path in to_build.items()}
            for name, job in jobs.items():
                try:
                    job.result()
                except Exception as error:  # noqa: BLE001 - one bad plan must not stop the others
                    self._refuse(name, missing.pop(name)[1], error)
        for name, (plan_dir, version) in missing.items():
            try:
                loaded[name] = CampaignLinks.open(name, plan_dir, version, caches[name])
            except Exception as error:  # noqa: BLE001 - as above
                self._refuse(name, version, error)
        self.snapshot = Snapshot.build(list(loaded.values()), self.lifetime_us)
        self._loaded = loaded
        self._forget_stale_caches()
        return True

    def _refuse(self, name: str, version: tuple[int, int], error: Exception) -> None:
        import sys

        self._failed[name] = version
        print(f"links index: campaign {name} not served, its links cannot be read ({type(error).__name__}: "
              f"{error})", file=sys.stderr)

    def _forget_stale_caches(self) -> None:
        """Cache files of versions no longer planned (a mapped file stays readable after its unlink)."""
        live = {f"{name}-{links.version[0]}-{links.version[1]}.arrow" for name, links in self._loaded.items()}
        for path in self.cache.glob("*.arrow"):
            try:
                stale = path.name not in live and time.time() - path.stat().st_mtime > 60
            except FileNotFoundError:  # another worker removed it
                continue
            if stale:
                for item in (path, Path(str(path) + ".hash.npy")):
                    item.unlink(missing_ok=True)

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="links-index", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.refresh()
            except Exception as error:  # noqa: BLE001 - a bad plan must not stop serving the others
                import sys

                print(f"links index: refresh failed ({type(error).__name__}: {error})", file=sys.stderr)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
