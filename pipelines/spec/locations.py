"""Where lists and blacklists are read (LIST-4, BL-1): spec locations resolved, and confined to the account's
folders (symlinks and `..` followed) before anything is opened. A location is a local path (relative to the spec's
folder, absolute, or file://) or an object in S3 (`s3://bucket/key`, issue 13), read through pipelines.storage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines.spec.problems import Problem, SpecError, rule_for
from pipelines.storage import ObjectUrl, is_url

Location = Path | ObjectUrl


def location_problems(raw: dict[str, Any], base: Path, roots: Sequence[Path]) -> list[Problem]:
    """Every list and blacklist location that does not resolve inside one of `roots`; no file is opened."""
    locations = [("lists", item) for item in raw.get("lists") or [] if isinstance(item, str)] \
        if isinstance(raw.get("lists"), list) else []
    account = raw.get("account") if isinstance(raw.get("account"), dict) else {}
    blacklists = account.get("blacklists") if isinstance(account.get("blacklists"), dict) else {}
    locations += [(f"account.blacklists.{kind}", item) for kind, item in blacklists.items() if isinstance(item, str)]
    problems = []
    for field_path, location in locations:
        try:
            confine(location, base, roots, field_path)
        except SpecError as error:
            problems.extend(error.problems)
    return problems


def confine(location: str, base: Path, roots: Sequence[Path | ObjectUrl | str], field_path: str = "lists") -> Location:
    """The real path of a list or blacklist location, refused unless it resolves (symlinks and `..` followed)
    inside one of `roots`, the folders the account may read (LIST-4, BL-1): an s3:// location only inside an
    s3:// root (a bucket, or a prefix of one). Never opens the file."""
    path = resolve_location(location, base, field_path).resolve()
    if not inside(path, roots):
        raise SpecError([Problem(field=field_path, value=location, rule=rule_for(field_path),
                                 message="is outside the folders this account may read (its bucket): "
                                         "lists and blacklists must be in them")])
    return path


def resolve_location(location: str, base: Location, field_path: str = "lists") -> Location:
    """A list or blacklist location from the spec: relative to the spec's folder, absolute, a file:// URI, or an
    `s3://bucket/key` URL (an ObjectUrl, its `..` folded; the endpoint and credentials are the AWS settings').
    A spec read from S3 has an s3:// folder as `base`: its relative locations are objects beside it."""
    if not isinstance(location, str):  # a saved list (LIST-4) is a file only once the store wrote it out
        name = getattr(location, "saved", location)
        raise SpecError([Problem(field=field_path, value=name, rule="LIST-4",
                                 message=f"saved list {name!r} is read from the account store: resolve it "
                                         "(pipelines.store.lists.resolve_saved_lists) before planning")])
    if is_url(location):
        try:
            url = ObjectUrl.parse(location)
        except ValueError:
            url = None
        if url is None or not url.key or url.key.endswith("/"):
            raise SpecError([Problem(field=field_path, value=location, rule="LIST-1",
                                     message="an s3:// location names a bucket and an object in it: "
                                             "s3://bucket/folder/file.csv")])
        return url
    if "://" in location:
        scheme, _, rest = location.partition("://")
        if scheme != "file":
            raise SpecError([Problem(field=field_path, value=location, rule="LIST-1",
                                     message=f"the {scheme}:// scheme is not supported; use a path, file:// or "
                                             "s3://")])
        path = Path(rest)
    else:
        path = Path(location).expanduser()
    if isinstance(base, ObjectUrl) and (path.is_absolute() or "://" in location):
        # a spec stored in S3 names objects (beside it, or s3://…): never a file of the machine that plans it
        raise SpecError([Problem(field=field_path, value=location, rule="LIST-1",
                                 message=f"a spec read from {base} names objects in S3 (a path relative to it, or "
                                         "s3://bucket/key), not files of the machine that plans it")])
    if path.is_absolute():
        return path
    return base.joinpath(location) if isinstance(base, ObjectUrl) else base / path


def inside(path: Location | str, roots: Sequence[Path | ObjectUrl | str]) -> bool:
    """Whether `path` resolves (symlinks and `..` followed) inside one of `roots`; an object only inside an s3://
    root, a file only inside a local one."""
    if is_url(path):
        url = path if isinstance(path, ObjectUrl) else ObjectUrl.parse(path)
        return any(url.is_relative_to(root if isinstance(root, ObjectUrl) else ObjectUrl.parse(root))
                   for root in roots if is_url(root))
    real = Path(path).resolve()
    return any(real.is_relative_to(Path(root).resolve()) for root in roots if not is_url(root))


BUCKET_ENV = "SMSFLOW_BUCKET"  # the bucket every command uses by default (./bucket when unset)


def spec_bucket(spec_path: Path) -> Path:
    """The bucket a spec file belongs to: $SMSFLOW_BUCKET (or ./bucket; an s3:// bucket's local working copy) when
    the spec is inside it, else the folder above the spec's (a bucket keeps specs in `specs/`, beside `incoming/`
    and `campaigns/`)."""
    from pipelines.storage import local_bucket

    spec_path = Path(spec_path)
    bucket = local_bucket()
    if inside(spec_path, [bucket]):
        return bucket
    return spec_path.resolve().parent.parent

