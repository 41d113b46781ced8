"""A bucket on S3 worked on through a local working copy (issue 13): each process reads and writes files in its own
working folder and syncs it with S3 at task boundaries. S3 is the truth; no two workers share a local disk.

    working_root(bucket)   the local folder of a bucket: a local bucket is its own folder; `s3://b/prefix` is
                           $SMSFLOW_WORKDIR, else ~/.cache/smsflow/<name>, marked with `.smsflow-mirror.json`
    remote_of(folder)      the s3:// URL a working folder (or a folder inside it) mirrors; None for a local one
    pull / push            a prefix (`campaigns/<id>`, a spec's key) synced one way, both ways aware of what was
                           synced last (`.smsflow-mirror-state.json`: path → size, mtime, etag) so that a deletion
                           on either side is carried over, never mistaken for a new file on the other
    synced(bucket, prefix) pull, work on the local folder, push (also when the work fails)
    local_bucket()         the working root of $SMSFLOW_BUCKET (else ./bucket): what commands use

A sync lists both sides once and moves only what changed, 16 transfers at a time; an flock on the working root
keeps two processes of one host from syncing it at the same time. Lock files, `*.tmp`/`*.part` files and the
mirror's own files are never synced (a lock is a host's, a temporary file is half written), nor, at the top of the
bucket, a local account store or lake catalog (SQLite files of this host) and the lake's data (the lake's own).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipelines.storage.client import _call, list_objects
from pipelines.storage.urls import ObjectUrl, is_url

log = logging.getLogger(__name__)

WORKDIR_ENV = "SMSFLOW_WORKDIR"
BUCKET_ENV = "SMSFLOW_BUCKET"
MARKER = ".smsflow-mirror.json"
STATE = ".smsflow-mirror-state.json"
LOCK = ".smsflow-mirror.lock"
PLAN_MARKER = ".smsflow-plan"  # pipelines.layout's: a plan folder is whole once it is there
TRANSFERS = 16  # parallel GETs/PUTs: S3 latency, not bandwidth, bounds a folder of many small files
_SKIPPED = re.compile(r"(^\.smsflow-mirror)|(\.(lock|tmp|part)$)")
_HOST_ONLY = re.compile(r"^((smsflow\.db|warehouse\.sqlite)(-journal|-wal|-shm)?|warehouse/.*)$")


class MirrorError(OSError):
    """A working folder that cannot mirror the bucket asked (it mirrors another): names the folder and both URLs."""


def working_root(bucket: str | os.PathLike | ObjectUrl) -> Path:
    """The local folder of a bucket: a local bucket is itself; an s3:// bucket's working copy is $SMSFLOW_WORKDIR,
    else ~/.cache/smsflow/<bucket-prefix-hash> (one per URL and endpoint), made and marked with its URL."""
    if not is_url(bucket):
        return Path(bucket)
    url = bucket if isinstance(bucket, ObjectUrl) else ObjectUrl.parse(str(bucket))
    url = ObjectUrl(url.bucket, url.key.rstrip("/"))
    root = Path(os.environ[WORKDIR_ENV]).expanduser() if os.environ.get(WORKDIR_ENV) else _cache_folder(url)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    if marker.is_file():
        mirrored = json.loads(marker.read_text(encoding="utf-8")).get("url")
        if mirrored != str(url):
            raise MirrorError(f"{root} is the working copy of {mirrored}, not of {url}: set {WORKDIR_ENV} to "
                              "another folder (a working copy mirrors one bucket)")
    else:
        marker.write_text(json.dumps({"url": str(url)}) + "\n", encoding="utf-8")
    return root


def _cache_folder(url: ObjectUrl) -> Path:
    """~/.cache/smsflow/<bucket>-<prefix>-<hash of the URL and endpoint> (another endpoint: another bucket)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    digest = hashlib.sha256(f"{url}\n{endpoint}".encode()).hexdigest()[:10]
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{url.bucket}/{url.key}").strip("-.")
    return cache / "smsflow" / f"{readable}-{digest}"


def root_of(folder: str | os.PathLike) -> Path | None:
    """The working root a folder or file is in (itself, or the nearest folder above marked with its URL); None."""
    folder = Path(folder).absolute()
    return next((root for root in (folder, *folder.parents) if (root / MARKER).is_file()), None)


def remote_of(folder: str | os.PathLike) -> ObjectUrl | None:
    """The s3:// URL a working folder, or a folder or file inside one, mirrors; None when it is no working copy."""
    root = root_of(folder)
    if root is None:
        return None
    url = ObjectUrl.parse(json.loads((root / MARKER).read_text(encoding="utf-8"))["url"])
    inside = Path(folder).absolute().relative_to(root).as_posix()
    return url if inside == "." else url.joinpath(inside)


def push_folder(folder: str | os.PathLike) -> SyncCount:
    """Push a folder of a working copy (a campaign folder a command just wrote); nothing for a local bucket's."""
    root = root_of(folder)
    if root is None:
        return SyncCount()
    return push(root, Path(folder).absolute().relative_to(root).as_posix())


def pull_folder(folder: str | os.PathLike) -> SyncCount:
    """Pull a folder of a working copy from S3 (a campaign folder a command is about to read); nothing for a
    local bucket's."""
    root = root_of(folder)
    if root is None:
        return SyncCount()
    return pull(root, Path(folder).absolute().relative_to(root).as_posix())


def local_bucket() -> Path:
    """The working root of $SMSFLOW_BUCKET (a folder or s3://bucket/prefix), else ./bucket."""
    return working_root(os.environ.get(BUCKET_ENV) or "bucket")


@dataclass(frozen=True)
class SyncCount:
    """What one pull or push moved: files fetched or sent, and files removed on the other side."""

    copied: int = 0
    deleted: int = 0


def pull(root: Path, prefix: str = "", *, only: str | None = None) -> SyncCount:
    """Bring `prefix` (relative to the bucket: a folder or one object) from S3 into the working copy: new and
    changed objects downloaded, local files synced before and since deleted from S3 removed (unless changed here
    since); `only`: just the paths this regular expression finds. A local bucket: nothing to do."""
    remote = remote_of(root)
    if remote is None:
        return SyncCount()
    root = Path(root)
    kept = re.compile(only).search if only else (lambda path: True)
    with _locked(root):
        state = _read_state(root)
        objects = {path: meta for path, meta in _remote_listing(remote, prefix).items() if kept(path)}
        local = _local_listing(root, prefix)
        fetch = [path for path, meta in objects.items()
                 if state.get(path, {}).get("etag") != meta["etag"] or path not in local]
        gone = [path for path in _under(state, prefix) if kept(path) and path not in objects and path in local
                and _same(local[path], state[path])]
        # a plan folder's marker last: a reader that waits for it (the links service) finds the whole plan
        fetch.sort(key=lambda path: path.rpartition("/")[2] == PLAN_MARKER)
        markers = sum(path.rpartition("/")[2] == PLAN_MARKER for path in fetch)
        with ThreadPoolExecutor(TRANSFERS) as pool:
            fetched = list(pool.map(lambda path: _download(remote, root, path), fetch[:len(fetch) - markers]))
        fetched += [_download(remote, root, path) for path in fetch[len(fetch) - markers:]]
        for path, (size, mtime) in zip(fetch, fetched):
            state[path] = {"size": size, "mtime_ns": mtime, "etag": objects[path]["etag"]}
        for path in gone:
            (root / path).unlink(missing_ok=True)
        for path in _under(state, prefix):
            if kept(path) and path not in objects:
                state.pop(path)  # gone from S3: whatever is left here is the working copy's own, new file
        _write_state(root, state)
    return SyncCount(len(fetch), len(gone))


def push(root: Path, prefix: str = "") -> SyncCount:
    """Send `prefix` of the working copy to S3: new and changed local files uploaded (one PUT each, whole), objects
    synced before and since deleted here removed (unless changed on S3 since). A local bucket: nothing to do."""
    remote = remote_of(root)
    if remote is None:
        return SyncCount()
    root = Path(root)
    with _locked(root):
        state = _read_state(root)
        objects = _remote_listing(remote, prefix)
        local = _local_listing(root, prefix)
        # unchanged here and gone from S3: deleted there since (the next pull removes it here), not sent back
        send = [path for path, stat in local.items() if path not in state or not _same(stat, state[path])]
        gone = [path for path in _under(state, prefix) if path not in local and path in objects
                and objects[path]["etag"] == state[path].get("etag")]
        with ThreadPoolExecutor(TRANSFERS) as pool:
            tags = list(pool.map(lambda path: _upload(remote, root, path), send))
            list(pool.map(lambda path: _delete(remote, path), gone))
        for path, etag in zip(send, tags):
            state[path] = {"size": local[path][0], "mtime_ns": local[path][1], "etag": etag}
        for path in _under(state, prefix):
            if path not in local:
                state.pop(path)
        _write_state(root, state)
    return SyncCount(len(send), len(gone))


@contextlib.contextmanager
def synced(bucket: str | os.PathLike | ObjectUrl, prefix: str = "", *, also: Iterable[str] = ()) -> Iterator[Path]:
    """The local folder of `prefix` in the bucket's working copy, pulled first and pushed after, also when the work
    fails (a batch's ledger must reach S3 even then); `also`: more prefixes pulled, read only (a spec, its
    lists). A local bucket: the folder itself, nothing synced."""
    root = working_root(bucket)
    for extra in also:
        pull(root, extra)
    pull(root, prefix)
    try:
        yield root / prefix if prefix else root
    except BaseException as error:
        try:
            push(root, prefix)
        except Exception as failed:  # the work's own error is the one to see; the push's is said beside it
            error.add_note(f"and the working copy's {prefix or 'files'} could not be sent to S3: {failed}")
        raise
    push(root, prefix)


def _locked(root: Path):
    """An exclusive flock on the working root for one sync (held until the context ends)."""

    @contextlib.contextmanager
    def held() -> Iterator[None]:
        root.mkdir(parents=True, exist_ok=True)
        with open(root / LOCK, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    return held()


def _key_prefix(remote: ObjectUrl, prefix: str) -> str:
    return "/".join(part for part in (remote.key.strip("/"), prefix.strip("/")) if part)


def _remote_listing(remote: ObjectUrl, prefix: str) -> dict[str, dict]:
    """Path (relative to the bucket URL) → {size, etag} of every object of `prefix`: under it, or it."""
    import obstore

    base = remote.key.strip("/")
    wanted = _key_prefix(remote, prefix)
    found: dict[str, dict] = {}
    metas = list_objects(remote, wanted or None)
    if not metas and wanted:  # obstore lists folders (`a/b` lists `a/b/…`): `wanted` may be one object
        with contextlib.suppress(FileNotFoundError):
            metas = [_call(remote, obstore.head, wanted)]
    for meta in metas:
        path = meta["path"][len(base) + 1:] if base else meta["path"]
        if _outside(path):  # a key such as `a/../../x` or `/x` never names a file outside the working copy
            log.warning("%s/%s skipped: its key does not name a file inside the working copy", remote, path)
            continue
        if not _skipped(path):
            found[path] = {"size": int(meta["size"]), "etag": meta.get("e_tag")}
    return found


def _local_listing(root: Path, prefix: str) -> dict[str, tuple[int, int]]:
    """Path (relative to the root) → (size, mtime_ns) of every file of `prefix` in the working copy."""
    start = root / prefix if prefix else root
    found: dict[str, tuple[int, int]] = {}
    if start.is_file():
        stat = start.stat()
        return {} if _skipped(prefix) else {Path(prefix).as_posix(): (stat.st_size, stat.st_mtime_ns)}
    stack = [start] if start.is_dir() else []
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    path = Path(entry.path).relative_to(root).as_posix()
                    if not _skipped(path):
                        stat = entry.stat()
                        found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


def _skipped(path: str) -> bool:
    return bool(_SKIPPED.search(path.rpartition("/")[2]) or _HOST_ONLY.match(path))


def _under(state: dict[str, dict], prefix: str) -> list[str]:
    prefix = prefix.strip("/")
    return [path for path in state if not prefix or path == prefix or path.startswith(prefix + "/")]


def _same(stat: tuple[int, int], synced_as: dict) -> bool:
    return stat == (synced_as.get("size"), synced_as.get("mtime_ns"))


def _outside(path: str) -> bool:
    parts = path.split("/")
    return not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts)


def _download(remote: ObjectUrl, root: Path, path: str) -> tuple[int, int]:
    """One object written whole into the working copy (a `.part` beside it, renamed); its (size, mtime_ns)."""
    import obstore

    url = remote.joinpath(path)
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        result = _call(url, obstore.get, url.key)
        with temporary.open("wb") as stream:
            for block in result.stream(min_chunk_size=8 << 20):
                stream.write(block)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    stat = target.stat()
    return stat.st_size, stat.st_mtime_ns


def _upload(remote: ObjectUrl, root: Path, path: str) -> str | None:
    """One local file put whole (multipart above 5 MiB, completed at once); the object's etag."""
    import obstore

    url = remote.joinpath(path)
    return _call(url, obstore.put, url.key, root / path).get("e_tag")


def _delete(remote: ObjectUrl, path: str) -> None:
    import obstore

    url = remote.joinpath(path)
    _call(url, obstore.delete, url.key)


def _read_state(root: Path) -> dict[str, dict]:
    try:
        return json.loads((root / STATE).read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return {}


def _write_state(root: Path, state: dict[str, dict]) -> None:
    from pipelines.storage.files import write_bytes

    write_bytes(root / STATE, json.dumps({"files": state}, separators=(",", ":")).encode())
