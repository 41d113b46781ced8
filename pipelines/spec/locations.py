"""Where lists and blacklists are read (LIST-4, BL-1): spec locations resolved, and confined to the account's
folders (symlinks and `..` followed) before anything is opened."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines.spec.problems import Problem, SpecError, rule_for


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


def confine(location: str, base: Path, roots: Sequence[Path], field_path: str = "lists") -> Path:
    """The real path of a list or blacklist location, refused unless it resolves (symlinks and `..` followed)
    inside one of `roots`, the folders the account may read (LIST-4, BL-1). Never opens the file."""
    path = resolve_location(location, base, field_path).resolve()
    if not inside(path, roots):
        raise SpecError([Problem(field=field_path, value=location, rule=rule_for(field_path),
                                 message="is outside the folders this account may read (its bucket): "
                                         "lists and blacklists must be in them")])
    return path


def resolve_location(location: str, base: Path, field_path: str = "lists") -> Path:
    """A list or blacklist location from the spec: relative to the spec's folder, absolute, or file:// URI."""
    if not isinstance(location, str):  # a saved list (LIST-4) is a file only once the store wrote it out
        name = getattr(location, "saved", location)
        raise SpecError([Problem(field=field_path, value=name, rule="LIST-4",
                                 message=f"saved list {name!r} is read from the account store: resolve it "
                                         "(pipelines.store.lists.resolve_saved_lists) before planning")])
    if "://" in location:
        scheme, _, rest = location.partition("://")
        if scheme != "file":
            raise SpecError([Problem(field=field_path, value=location, rule="LIST-1",
                                     message=f"the {scheme}:// scheme is not supported yet; use a path or file://")])
        return Path(rest)
    path = Path(location).expanduser()
    return path if path.is_absolute() else base / path


def inside(path: Path, roots: Sequence[Path]) -> bool:
    """Whether `path` resolves (symlinks and `..` followed) inside one of `roots`."""
    real = Path(path).resolve()
    return any(real.is_relative_to(Path(root).resolve()) for root in roots)


BUCKET_ENV = "SMSFLOW_BUCKET"  # the bucket every command uses by default (./bucket when unset)


def spec_bucket(spec_path: Path) -> Path:
    """The bucket a spec file belongs to: $SMSFLOW_BUCKET (or ./bucket) when the spec is inside it, else the
    folder above the spec's (a bucket keeps specs in `specs/`, beside `incoming/` and `campaigns/`)."""
    import os

    spec_path = Path(spec_path)
    bucket = Path(os.environ.get(BUCKET_ENV) or "bucket")
    if inside(spec_path, [bucket]):
        return bucket
    return spec_path.resolve().parent.parent

