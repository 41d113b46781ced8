"""The lists a campaign form names (LIST-4, LIST-5): uploaded files, files its spec already reads, saved lists;
their columns (the personalisation fields offered, MSG-3) and the longest value of each (ENC-6's worst case).

A form posts files by reference: an upload of the person's account (`uploads.upload_ref`) or a file the campaign's
stored spec already reads. Any other path is ignored, so a forged field never reaches another account's upload
or a server file (ACC-3). Longest values are computed with Polars on whole columns and kept per file version
(path, size, time) and per saved list version (immutable), so the live counter reads a list once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from pipelines.console.uploads import display_name, upload_path, uploads_dir


@dataclass
class ChosenLists:
    """What a form's lists come to: files (absolute paths), saved lists (`NAME` or `NAME:VERSION`), their columns
    in order and the longest value of each, and what could not be read."""

    files: list[str] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    longest: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, columns: tuple[str, ...], longest: dict[str, str]) -> None:
        self.columns += [column for column in columns if column not in self.columns]
        for name, value in longest.items():
            if len(value) > len(self.longest.get(name, "")):
                self.longest[name] = value


def longest_values(frame: pl.DataFrame, columns: list[str]) -> dict[str, str]:
    """Each column's longest trimmed value (characters), one Polars select over the whole columns."""
    if not frame.height or not columns:
        return {}
    trimmed = [pl.col(name).cast(pl.String).str.strip_chars() for name in columns]
    row = frame.select(value.gather(value.str.len_chars().fill_null(-1).arg_max()).alias(name)
                       for name, value in zip(columns, trimmed)).row(0, named=True)
    return {name: value for name, value in row.items() if value}


@lru_cache(maxsize=64)
def _file_fields(path: str, size: int, modified: int) -> tuple[tuple[str, ...], dict[str, str]]:
    """A list file's columns and longest values (cached per version of the file: `size`, `modified`)."""
    from pipelines.lists.header import inspect_list
    from pipelines.lists.reader import read_list_batches

    layout = inspect_list(Path(path))
    found = ChosenLists()
    for batch in read_list_batches(layout):
        found.add((), longest_values(batch, list(layout.columns)))
    return tuple(layout.columns), found.longest


def file_fields(path: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    stat = path.stat()
    return _file_fields(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _saved_fields(engine: Engine, account: str, name: str, version: int, created: str
                  ) -> tuple[tuple[str, ...], dict[str, str]]:
    """A saved list version's columns and longest values: its rows decoded by the store's own reader (a version
    never changes; `created` tells a list deleted and imported again under its name)."""
    from pipelines.store.lists import _find, _recipients, _version

    with engine.begin() as connection:
        list_row = _find(connection, account, name)
        shown = _version(connection, list_row, version)
        frame = _recipients(connection, list_row.id, shown)
    renamed = frame.rename({"number": shown.mobile_column} | {f"field:{column}": column for column in shown.columns
                                                              if f"field:{column}" in frame.columns})
    return tuple(shown.columns), longest_values(renamed, [column for column in shown.columns if column in renamed.columns])


def saved_fields(engine: Engine, account: str, entry: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """`NAME` (its latest version) or `NAME:VERSION` of the account's saved lists."""
    from pipelines.store.lists import list_lists

    from pipelines.console.web import whole_number

    name, _, version = entry.partition(":")
    found = next((saved for saved in list_lists(engine, account) if saved.name == name), None)
    wanted = whole_number(version) if version else found.version if found else None
    if found is None or wanted is None:
        raise LookupError(name)
    return _saved_fields(engine, account, name, wanted, found.created_at.isoformat())


def allowed_file(bucket: Path, account: str, value: str, kept: list[str]) -> Path | None:
    """A posted list file, if the person may name it: an upload reference of their account, or a path their
    campaign's stored spec already reads (`kept`); None otherwise."""
    if value in kept:
        return Path(value)
    found = upload_path(bucket, account, value)
    return found.resolve() if found is not None else None


def file_ref(bucket: Path, account: str, path: str) -> str:
    """How a form names a chosen file: an upload by its reference (never a server path), another as the spec
    holds it."""
    folder = uploads_dir(bucket, account).resolve()
    return Path(path).relative_to(folder).as_posix() if Path(path).is_relative_to(folder) else path


def shown_file(bucket: Path, account: str, path: str) -> str:
    """A list file as the form shows it: an upload by the name it was given, another file from the bucket."""
    folder = uploads_dir(bucket, account).resolve()
    resolved = Path(path)
    if resolved.is_relative_to(folder):
        return display_name(resolved)
    root = Path(bucket).resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else resolved.name


def choose(engine: Engine, bucket: Path, account: str, form, kept: list[str] | None = None,
           with_fields: bool = True) -> ChosenLists:
    """The lists a posted form names (`lists`: kept files, `upload`: this account's new uploads, `saved_lists`),
    with their columns and longest values when `with_fields`. Blocking: call it through `run_in_threadpool`."""
    from pipelines.lists.header import ListError
    from pipelines.store.engine import StoreError

    chosen = ChosenLists()
    for value in [*form.getlist("lists"), *form.getlist("upload")]:
        path = allowed_file(bucket, account, value, kept or [])
        if path is None or str(path) in chosen.files:
            continue
        chosen.files.append(str(path))
        if with_fields:
            try:
                chosen.add(*file_fields(path))
            except (ListError, OSError) as error:
                chosen.problems.append(f"{shown_file(bucket, account, str(path))} : {error}")
    for entry in form.getlist("saved_lists"):
        if entry in chosen.saved:
            continue
        chosen.saved.append(entry)
        if with_fields:
            try:
                chosen.add(*saved_fields(engine, account, entry))
            except (LookupError, ValueError, StoreError) as error:
                chosen.problems.append(f"liste enregistrée {entry} introuvable ({error})")
    return chosen


def spec_files(spec_text: str | None) -> list[str]:
    """The list files a campaign's stored spec (YAML) reads (a form may keep them)."""
    import yaml

    if not spec_text:
        return []
    return [item for item in (yaml.safe_load(spec_text) or {}).get("lists") or [] if isinstance(item, str)]


def kept_files(engine: Engine, account: str, campaign_id: str | None) -> list[str]:
    """The list files of the account's campaign `campaign_id` (the edit form's counter), none for another's
    (ACC-3). Blocking."""
    from pipelines.store.campaigns import CampaignError, get

    if not campaign_id:
        return []
    try:
        return spec_files(get(engine, campaign_id, account).spec)
    except CampaignError:
        return []
