"""The operations on a location, local or s3:// (the package's docstring says what each guarantees)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from pipelines.storage.client import _call
from pipelines.storage.urls import Location, ObjectUrl, location

READ_BLOCK = 8 << 20  # a streamed read's request size: large enough that a 100 MB list is ~13 GETs of data


def open_read(where: Location | str) -> IO[bytes]:
    """A binary stream of a file or object, read as it is consumed (S3: buffered ranged GETs), seekable."""
    where = location(where)
    if isinstance(where, Path):
        return where.open("rb")
    import obstore

    return _ObjectReader(where, _call(where, obstore.open_reader, where.key, buffer_size=READ_BLOCK))


class _ObjectReader:
    """obstore's reader as a context manager whose errors name the object."""

    def __init__(self, url: ObjectUrl, reader):
        self.url, self._reader = url, reader

    def read(self, size: int = -1) -> bytes:
        return bytes(self._reader.read(None if size is None or size < 0 else size))

    def readline(self) -> bytes:
        return bytes(self._reader.readline())

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._reader.seek(offset, whence)

    def tell(self) -> int:
        return self._reader.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> _ObjectReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read_bytes(where: Location | str) -> bytes:
    """A whole file or object."""
    where = location(where)
    if isinstance(where, Path):
        return where.read_bytes()
    import obstore

    return bytes(_call(where, obstore.get, where.key).bytes())


def read_head(where: Location | str, size: int) -> bytes:
    """At most the first `size` bytes (S3: one ranged GET; an object shorter than `size` is read whole)."""
    where = location(where)
    if isinstance(where, Path):
        with where.open("rb") as stream:
            return stream.read(size)
    import obstore

    if size <= 0 or _call(where, obstore.head, where.key)["size"] == 0:
        return b""  # S3 answers a range of an empty object with 416, not with nothing
    return bytes(_call(where, obstore.get, where.key, options={"range": (0, size)}).bytes())


def size(where: Location | str) -> int:
    """A file's or object's size in bytes; FileNotFoundError when there is none."""
    where = location(where)
    if isinstance(where, Path):
        if not where.is_file():
            raise FileNotFoundError(2, "no such file", str(where))
        return where.stat().st_size
    import obstore

    return int(_call(where, obstore.head, where.key)["size"])


def exists(where: Location | str) -> bool:
    """Whether a file (not a folder) or an object is there."""
    try:
        size(where)
    except FileNotFoundError:
        return False
    return True


def write_bytes(where: Location | str, data: bytes) -> None:
    """Write a whole file or object: readers see the old content or the new, never part of it (local: a temp file
    in the same folder renamed over it; S3: one PUT, which S3 makes visible whole)."""
    where = location(where)
    if isinstance(where, Path):
        where.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=where.parent, prefix=f".{where.name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
            os.replace(temporary, where)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return
    import obstore

    _call(where, obstore.put, where.key, data, use_multipart=False)


def replace_durably(path: Path, write: Callable[[Path], object], *, keep_mode: bool = False) -> None:
    """A local file replaced whole and on disk: `write(temporary)` beside it (a hidden `.tmp` name no `*.parquet`
    glob sees), fsynced, renamed over `path`, the folder fsynced (so the rename survives a power loss too);
    `keep_mode`: the new file gets the old one's permissions. The temporary file is removed if anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    temporary = Path(name)
    try:
        write(temporary)
        with temporary.open("rb") as stream:
            os.fsync(stream.fileno())
        if keep_mode:
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """A local folder's entries (names created, renamed, removed) on disk."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def upload(source: Path, where: Location | str) -> None:
    """A local file written to a location, whole or not at all (S3: multipart above 5 MiB, completed at once)."""
    where = location(where)
    if isinstance(where, Path):
        where.parent.mkdir(parents=True, exist_ok=True)
        temporary = where.with_name(f".{where.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, temporary)
        os.replace(temporary, where)
        return
    import obstore

    _call(where, obstore.put, where.key, Path(source))


def listing(prefix: Location | str) -> list[Location]:
    """Every file or object under a folder or key prefix, recursively, sorted (S3: `s3://b/in/` lists the keys
    that start with `in/`; a prefix without its slash is taken as a folder all the same)."""
    prefix = location(prefix)
    if isinstance(prefix, Path):
        if not prefix.is_dir():
            return []
        return sorted(path for path in prefix.rglob("*") if path.is_file())
    from pipelines.storage.client import list_objects

    folder = prefix.key.rstrip("/")
    found = [ObjectUrl(prefix.bucket, meta["path"]) for meta in list_objects(prefix, f"{folder}/" if folder else None)]
    return sorted(found, key=str)


def delete(where: Location | str) -> None:
    """Remove a file or object (FileNotFoundError when there is none)."""
    where = location(where)
    if isinstance(where, Path):
        where.unlink()
        return
    import obstore

    size(where)  # S3 deletes a missing key without a word; a move must know
    _call(where, obstore.delete, where.key)


def move(source: Location | str, target: Location | str) -> None:
    """Move a file or object (processed/, quarantine/): local, one rename (a copy then a delete across devices); S3,
    a server-side copy then a delete of the source, so a failure in between leaves both, never neither. Across
    the two kinds: written then deleted."""
    source, target = location(source), location(target)
    if isinstance(source, Path) and isinstance(target, Path):
        if not source.is_file():
            raise FileNotFoundError(2, "no such file", str(source))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
        return
    if isinstance(source, ObjectUrl) and isinstance(target, ObjectUrl) and source.bucket == target.bucket:
        import obstore

        _call(source, obstore.copy, source.key, target.key)
    elif isinstance(source, Path):
        upload(source, target)
    else:
        with tempfile.TemporaryDirectory(prefix="smsflow-move-") as folder:
            upload(local_copy(source, Path(folder)), target)
    delete(source)


def local_copy(where: Location | str, folder: Path) -> Path:
    """A real file holding the object, for the readers that need one: an S3 object is streamed into `folder`
    under its own name (written whole, then renamed); a local file is returned as it is, never copied."""
    where = location(where)
    if isinstance(where, Path):
        if not where.is_file():
            raise FileNotFoundError(2, "no such file", str(where))
        return where
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (where.name or "object")
    temporary = folder / f".{target.name}.part"
    import obstore

    result = _call(where, obstore.get, where.key)
    try:
        with temporary.open("wb") as stream:
            for block in result.stream(min_chunk_size=READ_BLOCK):
                stream.write(block)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target



class Staged:
    """An object copied into a temporary folder for a reader that needs a real file (`local_copy`), removed on
    close (or when garbage-collected: tempfile's finalizer). `told` says a text about the copy about the object."""

    def __init__(self, url: ObjectUrl | str):
        self.url = location(url)
        self._folder = tempfile.TemporaryDirectory(prefix="smsflow-staged-")
        try:
            self.path = local_copy(self.url, Path(self._folder.name))
        except BaseException:
            self._folder.cleanup()
            raise

    def told(self, text: str) -> str:
        """`text` with the local copy's path replaced by the object's URL (a reader's warnings and errors)."""
        return text.replace(str(self.path), str(self.url))

    def close(self) -> None:
        self._folder.cleanup()

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
