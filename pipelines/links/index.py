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
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from pipelines.layout import PLAN_MARKER

from pipelines.links.cache import (  # noqa: F401 - the index's names, as before the split
    COLUMNS, ISOLATE_BYTES, LINKS_FILE, NEVER, PREVIEW_COLUMNS, ROW, TOKEN_WIDTH, _MASK, _MULT, _PADS, _ROW,
    _ROW_SIZE, _SEED, _WORDS,
    build_campaign_cache, cache_files, token_hash, token_hashes,
)


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
    """One campaign's links, memory-mapped; rows are addressed by their position in the files."""

    campaign: str
    plan_dir: Path
    version: tuple[int, int]  # the plan marker's (inode, mtime_ns): a re-plan changes it
    rows: np.ndarray  # ROW records
    hashes: np.ndarray
    columns: dict[str, _Strings]  # the preview texts, read for previews only
    targets: memoryview  # the targets' varying parts, one buffer
    ref_lists: list[str]
    affixes: list[tuple[bytes, bytes]]
    planned_us: int

    def __post_init__(self):
        self.records = memoryview(np.ascontiguousarray(self.rows).view(np.uint8))
        # Map every page of what a click reads now: a first touch on the request path is a page fault, tens of
        # µs on a busy machine (the pages are the kernel's page cache, shared by the workers).
        for view in (self.records, self.targets):
            np.frombuffer(view, dtype=np.uint8)[::4096].sum()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def tokens(self) -> np.ndarray:
        return self.rows["token"]

    @classmethod
    def open(cls, campaign: str, plan_dir: Path, version: tuple[int, int], cache: Path) -> CampaignLinks:
        import json

        import pyarrow as pa

        arrow, rows, hashes = cache_files(cache)
        with pa.memory_map(str(arrow), "r") as source:
            table = pa.ipc.open_file(source).read_all()
        ref_lists = json.loads(table.schema.metadata[b"ref_lists"])
        affixes = [(prefix.encode(), suffix.encode()) for prefix, suffix in
                   json.loads(table.schema.metadata[b"affixes"])]
        rows, hashes = np.load(rows, mmap_mode="r"), np.load(hashes, mmap_mode="r")
        if table.num_rows == 0:
            return cls(campaign, plan_dir, version, np.zeros(0, ROW), np.zeros(0, np.uint64), {}, memoryview(b""),
                       ref_lists, affixes, version[1] // 1000)
        table = table.combine_chunks()
        columns = {name: _Strings(table.column(name).chunks[0]) for name in ("target_part", *PREVIEW_COLUMNS)}
        part = columns.pop("target_part")
        targets = part.data[part.offsets[0]:]  # target_at counts from the first target
        return cls(campaign, plan_dir, version, rows, hashes, columns, targets, ref_lists, affixes,
                   version[1] // 1000)


class Link:
    """One link found by a request: what a click needs is read at once, the preview's texts when asked."""

    __slots__ = ("token", "of", "row", "target", "expires_us", "id_line", "link", "ref")

    def __init__(self, token: str, of: CampaignLinks, row: int, target: bytes, expires_us: int, id_line: int,
                 link: int, ref: int):
        self.token, self.of, self.row, self.target, self.expires_us = token, of, row, target, expires_us
        self.id_line, self.link, self.ref = id_line, link, ref

    def _text(self, name: str) -> str:
        return self.of.columns[name][self.row].decode()

    campaign = property(lambda self: self.of.campaign)
    plan_dir = property(lambda self: self.of.plan_dir)
    ref_list = property(lambda self: self.of.ref_lists[self.ref])
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

    def __post_init__(self):
        self.several = len(self.campaigns) > 1  # one campaign: no bisect to find a row's

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

    def find(self, token: bytes) -> tuple | None:
        """What a click needs of a token's link, or None (malformed or unknown): (campaign, row, target,
        expires_us, id_line, link, ref). The request path: no object built, the hash unrolled (`token_hash`)."""
        if not 8 <= len(token) <= TOKEN_WIDTH or not token.isalnum():  # bytes.isalnum: ASCII [0-9A-Za-z] only
            return None
        padded = token + _PADS[len(token)]
        low, high = _WORDS.unpack(padded)
        h = ((_SEED ^ low) * _MULT) & _MASK
        h ^= h >> 31
        h = ((h ^ high) * _MULT) & _MASK
        h ^= h >> 31
        h >>= self.shift
        starts, order, offsets = self.starts, self.order, self.offsets
        position, end = starts[h], starts[h + 1]
        while position < end:
            row = order[position]
            position += 1
            which = bisect.bisect_right(offsets, row) - 1 if self.several else 0
            campaign = self.campaigns[which]
            local = row - offsets[which]
            record = _ROW.unpack_from(campaign.records, local * _ROW_SIZE)
            if record[0] == padded:
                _, expires, target_at, id_line, target_len, link, ref, affix = record
                if self.lifetime_us is not None:
                    expires = min(expires, campaign.planned_us + self.lifetime_us)
                prefix, suffix = campaign.affixes[affix]
                return (campaign, local, prefix + campaign.targets[target_at:target_at + target_len] + suffix,
                        expires, id_line, link, ref)
        return None

    def lookup(self, token: bytes) -> Link | None:
        found = self.find(token)
        return None if found is None else Link(token.decode(), *found)


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
                    if not all(item.exists() for item in cache_files(path))}
        sources = {name: missing[name][0] / LINKS_FILE for name in to_build}
        # Big plans are read in a child process, so the server never holds (nor keeps the heap of) their
        # Polars frames; small ones are not worth a process start.
        isolate = sum(path.stat().st_size for path in sources.values()) > ISOLATE_BYTES
        with (ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) if isolate
              else ThreadPoolExecutor(max_workers=1)) as pool:
            jobs = {name: pool.submit(build_campaign_cache, str(sources[name]), str(path))
                    for name, path in to_build.items()}
            for name, job in jobs.items():
                try:
                    job.result()
                except BrokenProcessPool as error:  # the child died (memory?): tried again at the next poll
                    print(f"links index: campaign {name} not loaded yet ({error})", file=sys.stderr)
                    missing.pop(name)
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
                for item in cache_files(path):
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
                print(f"links index: refresh failed ({type(error).__name__}: {error})", file=sys.stderr)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
