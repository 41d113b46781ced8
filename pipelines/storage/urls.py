"""Where an object is: `s3://bucket/key` as an ObjectUrl, and a location (Path or ObjectUrl) from what was written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Union

SCHEME = "s3://"


@dataclass(frozen=True)
class ObjectUrl:
    """`s3://bucket/key`: where an object is. Answers the few questions a Path answers about where it is (name,
    parent, parts) so that locations can be compared and named alike; `resolve()` is itself (no symlinks)."""

    bucket: str
    key: str = ""

    @classmethod
    def parse(cls, url: str) -> ObjectUrl:
        """`s3://bucket/key` (a `..` or `.` in the key folded, repeated slashes kept out); ValueError otherwise."""
        if not url.startswith(SCHEME):
            raise ValueError(f"not an s3:// URL: {url!r}")
        bucket, _, key = url[len(SCHEME):].partition("/")
        if not bucket:
            raise ValueError(f"an s3:// URL names its bucket: {url!r}")
        parts: list[str] = []
        for part in key.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return cls(bucket, "/".join(parts) + ("/" if key.endswith("/") and parts else ""))

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    def __fspath__(self) -> str:  # never opened as a local file by mistake: os.open of it fails loudly
        raise TypeError(f"{self} is an object in S3, not a local file: read it through pipelines.storage")

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def parent(self) -> ObjectUrl:
        parent = str(PurePosixPath(self.key).parent)
        return ObjectUrl(self.bucket, "" if parent == "." else parent)

    @property
    def parts(self) -> tuple[str, ...]:
        return (f"{SCHEME}{self.bucket}", *PurePosixPath(self.key).parts)

    @property
    def anchor(self) -> str:
        return self.parts[0]

    def resolve(self) -> ObjectUrl:
        return self

    def joinpath(self, *others: str | os.PathLike) -> ObjectUrl:
        """A key under this one (`..` folded; never above the bucket)."""
        parts = [self.key.rstrip("/"), *(os.fspath(other) for other in others)]
        return ObjectUrl.parse(f"{SCHEME}{self.bucket}/" + "/".join(parts).lstrip("/"))

    __truediv__ = joinpath

    def is_relative_to(self, other: ObjectUrl) -> bool:
        """Whether this object is `other` or under it (a folder boundary: `s3://b/in` does not hold `s3://b/inx`)."""
        if other.bucket != self.bucket:
            return False
        prefix = other.key.rstrip("/")
        return not prefix or self.key == prefix or self.key.startswith(prefix + "/")


Location = Union[Path, ObjectUrl]


def is_url(location: object) -> bool:
    """Whether a location (a spec's text, a Path, an ObjectUrl) is an object in S3."""
    return isinstance(location, ObjectUrl) or (isinstance(location, str) and location.startswith(SCHEME))


def location(value: str | os.PathLike | ObjectUrl) -> Location:
    """A Path or an ObjectUrl from what a user or a spec wrote."""
    if isinstance(value, ObjectUrl):
        return value
    if isinstance(value, str) and value.startswith(SCHEME):
        return ObjectUrl.parse(value)
    return Path(value)
