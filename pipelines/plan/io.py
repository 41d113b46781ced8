"""The plan's input and output: lists read as streamed batches, worker threads, the background Parquet writer,
and the plan folder (its marker, the atomic install that touches nothing the plan does not own, PLUS-2)."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.layout import (
    LINKS_FILE, PLAN_MARKER, PREVIEW_FILES, QUARANTINE_FILE, RECIPIENTS_FILE, SUMMARY_FILE, PlanSummary,
)
from pipelines.lists import MANUAL_LIST, ListError, ListLayout, inspect_list, manual_recipients, read_blacklist, \
    read_list_batches
from pipelines.numbers import normalise_numbers
from pipelines.layout import PLAN_COLUMNS, original_name
from pipelines.plan.rules import BLACKLIST_STATUSES, number_key
from pipelines.spec import CampaignSpec, Problem, SpecError, confine, resolve_location
from pipelines.spec.locations import Location
from pipelines.storage import ObjectUrl, Staged

MARKER_FILE = PLAN_MARKER  # marks a plan folder and lists what the plan wrote: a re-plan replaces only those
PLAN_FILES = (RECIPIENTS_FILE, SUMMARY_FILE)
# URL-1…5: written by a plan that tracks links, with the rest, and removed by a re-plan that does not.
OPTIONAL_FILES = (LINKS_FILE, *PREVIEW_FILES)
DERIVED_FILES = (QUARANTINE_FILE,)  # written into the plan folder from a plan (PLUS-3): stale once re-planned
OWNED_FILES = frozenset((*PLAN_FILES, *OPTIONAL_FILES, MARKER_FILE, *DERIVED_FILES))
BATCH_ROWS = 150_000

Progress = Callable[[str, int, int], None]  # (list name, bytes planned, bytes in the list; 0 = unknown)
Prepared = TypeVar("Prepared")


@dataclass
class Source:
    """One list of the campaign, as the plan reads it."""

    name: str
    mobile_column: str
    columns: list[str]  # original columns, in list order
    layout: ListLayout | None = None  # None: manual entries
    manual: pl.DataFrame | None = None
    encoding: str = "utf-8"
    delimiter: str = ";"
    size_bytes: int = 0
    staged: Staged | None = None  # an s3:// list: its local copy, removed with this Source

    @property
    def fields(self) -> list[str]:
        """The personalisation fields (LIST-3): every column but the mobile number, as the plan names them."""
        return [original_name(c) for c in self.columns if c != self.mobile_column]

    def batches(self) -> Iterator[pl.DataFrame]:
        if self.layout is not None:
            with _named_as(self.staged):
                yield from _rebatch(read_list_batches(self.layout), BATCH_ROWS)
        elif self.manual is not None:
            yield self.manual


def _stage(url: ObjectUrl) -> Staged:
    """An s3:// list or blacklist copied into a temporary folder for the reader (issue 13).

    Staged rather than streamed: the reader detects the encoding over the whole file before it parses a row
    (LIST-1: an `é` on the last line decides), parses it, and re-reads it to place an error (line, column), so
    a stream would GET the object two or three times; the copy is one GET (obstore's single streamed response,
    bench/storage.py) onto the local disk, then local reads. The copy goes with the Source that holds it."""
    try:
        return Staged(url)
    except FileNotFoundError:
        raise ListError(str(url), "file not found", "LIST-1") from None
    except OSError as error:
        raise ListError(str(url), f"cannot be read: {error}", "LIST-1") from None


@contextlib.contextmanager
def _named_as(staged: Staged | None) -> Iterator[None]:
    """A ListError about a staged copy raised about its object: its s3:// URL, the line and column kept."""
    try:
        yield
    except ListError as error:
        if staged is None or error.file != str(staged.path):
            raise
        raise ListError(str(staged.url), staged.told(error.reason), error.rule, error.line, error.column) from None


def _rebatch(batches: Iterator[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """Regroup the reader's small blocks into batches of about `rows` rows (fewer, larger vector operations)."""
    pending: list[pl.DataFrame] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += batch.height
        if size >= rows:
            yield pl.concat(pending, rechunk=True)
            pending, size = [], 0
    if pending:
        yield pl.concat(pending, rechunk=True)


def _locate(location: str, base: Path, roots: Sequence[Path] | None, field_path: str) -> Location:
    """Where a list or blacklist is read; with `roots`, checked again here, right before it is opened."""
    if roots is None:
        return resolve_location(location, base, field_path)
    return confine(location, base, roots, field_path)


def load_blacklists(spec: CampaignSpec, base: Path, roots: Sequence[Path] | None = None) -> dict[int, pl.Series]:
    """BL-1: the number keys of each blacklist, by the status a listed number gets."""
    lists = {}
    for kind, code in BLACKLIST_STATUSES.items():
        location = getattr(spec.account.blacklists, "global_" if kind == "global" else kind)
        if not location:
            continue
        where = _locate(location, base, roots, f"account.blacklists.{kind}")
        if isinstance(where, ObjectUrl):  # BL-1 on S3: read from a local copy, gone once read
            with _stage(where) as staged, _named_as(staged):
                raw = read_blacklist(staged.path)
        else:
            raw = read_blacklist(where)
        numbers = normalise_numbers(raw)
        lists[code] = numbers.select(number_key()).to_series().drop_nulls().unique()
    return lists


def list_names(lists: Sequence[tuple[str, Location]], reserved: Sequence[str] = (MANUAL_LIST,)) -> list[str]:
    """LIST-4: each list's REF_LIST, unique in the campaign whatever the file names, so report rows and the
    warehouse's (campaign, REF_LIST, ID_LINE) key never mix two lists.

    `lists` are (name, path) in spec order. A name no other list has stays as it is. Lists of one name from
    different files are all named by their path's last folders, as few as tell them apart (`vip/clients.csv`,
    `2024/clients.csv`), which says where each came from. The same file listed again, or a name still taken
    (or reserved: `manual` is LIST-5's), gets ` (2)`, ` (3)`... in spec order; NUM-3 then makes every valid
    number of a repeated list a duplicate (status 4).
    """
    real = [(name, path if isinstance(path, ObjectUrl) else Path(path).resolve()) for name, path in lists]
    names = []
    for name, path in real:
        others = [other for other_name, other in real if other_name == name and other != path]
        if others or name in reserved:
            depth = 1  # folders before the file name
            while depth < len(path.parts) - 1 and any(other.parts[-depth - 1:] == path.parts[-depth - 1:]
                                                       for other in others):
                depth += 1
            name = "/".join((*(part for part in path.parent.parts[-depth:] if part != path.anchor), name))
        names.append(name)
    unique: list[str] = []
    for name in names:
        candidate, copy = name, 2
        while candidate in unique or candidate in reserved:
            candidate, copy = f"{name} ({copy})", copy + 1
        unique.append(candidate)
    return unique


def sources(spec: CampaignSpec, base: Path, roots: Sequence[Path] | None = None) -> list[Source]:
    """The campaign's lists in spec order, each under its REF_LIST (`list_names`), then its manual recipients
    (LIST-5)."""
    opened: list[tuple[ListLayout, Location, Staged | None]] = []
    for location in spec.lists:
        where = _locate(location, base, roots, "lists")
        staged = _stage(where) if isinstance(where, ObjectUrl) else None
        with _named_as(staged):
            layout = inspect_list(staged.path if staged is not None else where, name=where.name)
        if staged is not None:  # the summary's warnings name the object, not its local copy
            layout.warnings = [staged.told(warning) for warning in layout.warnings]
        opened.append((layout, where, staged))
    found = []
    for (layout, where, staged), name in zip(opened, list_names([(layout.name, where) for layout, where, _ in opened])):
        found.append(Source(name, layout.mobile_column, layout.columns, layout=layout, encoding=layout.encoding,
                            delimiter=layout.delimiter, size_bytes=layout.size_bytes, staged=staged))
    if spec.recipients:
        frame, columns = manual_recipients(spec.recipients)
        # The manual number is MOBILE_RAW; only the other fields are original columns.
        found.append(Source(MANUAL_LIST, "mobile", columns, manual=frame))
    return found


def output_columns(sources: list[Source]) -> list[str]:
    """Every original column once, in order of first appearance; a name taken by the plan gets a suffix."""
    columns: list[str] = []
    for source in sources:
        for column in source.columns:
            if source.manual is not None and column == source.mobile_column:
                continue
            name = original_name(column)
            if name not in columns:
                columns.append(name)
    return columns


_DONE = object()


def pipelined(frames: Iterator[pl.DataFrame], prepare: Callable[[pl.DataFrame], Prepared],
              workers: int = 2) -> Iterator[Prepared]:
    """Prepare the next batches in worker threads while this one is planned, keeping their order.

    The CSV reader and Polars release the GIL, so on a 2-core machine reading, normalising and planning
    overlap. At most `workers` + 2 batches are in memory at once.
    """
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smsflow-prepare") as pool:
        pending: deque[Future] = deque()
        try:
            for frame in _prefetch(frames):
                pending.append(pool.submit(prepare, frame))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _prefetch(batches: Iterator, depth: int = 1) -> Iterator:
    """Read the next batch in a thread while this one is used (the CSV reader releases the GIL)."""
    pending: queue.Queue = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for batch in batches:
                pending.put(batch)
            pending.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            pending.put(error)

    thread = threading.Thread(target=produce, name="smsflow-read", daemon=True)
    thread.start()
    while (item := pending.get()) is not _DONE:
        if isinstance(item, BaseException):
            raise item
        yield item


# Low-cardinality columns compress well as dictionaries; the rest (messages, numbers) do not.
_DICTIONARY_COLUMNS = ["REF_LIST", "MF_COUNTRY", "STATUS_TEXT", "ENCODING"]

_ARROW = {pl.String: pa.large_string(), pl.Int64: pa.int64(), pl.Int32: pa.int32(), pl.Boolean: pa.bool_()}


def arrow_schema(columns: list[str]) -> pa.Schema:
    """The Parquet schema of recipients.parquet: the plan's columns, then the original columns as text."""
    return pa.schema([(name, _ARROW[dtype]) for name, dtype in PLAN_COLUMNS.items()]
                     + [(name, pa.large_string()) for name in columns])


class BackgroundWriter:
    """Append Arrow tables to one Parquet file from a thread, so writing overlaps planning (recipients.parquet by
    default; `dictionary` and `statistics` name the columns of another file's schema)."""

    def __init__(self, path: Path, schema: pa.Schema, dictionary: Sequence[str] = tuple(_DICTIONARY_COLUMNS),
                 statistics: Sequence[str] = ("STATUS_CODE", "PARTS", "MF_VALID", "ID_LINE")):
        self._schema = schema
        self._writer = pq.ParquetWriter(path, schema, compression="lz4", use_dictionary=list(dictionary),
                                        write_statistics=list(statistics))
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="smsflow-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (table := self._queue.get()) is not _DONE:
            if self._error is None:
                try:  # a table in other Arrow types (Polars' string views) is cast here, off the planning thread
                    self._writer.write_table(table if table.schema == self._schema else table.cast(self._schema))
                except BaseException as error:
                    self._error = error

    def write(self, table: pa.Table) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(table)

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._queue.put(_DONE)
        self._thread.join()
        self._writer.close()
        if self._error is not None and exc_info[0] is None:
            raise self._error


def write_summary(folder: Path, summary: PlanSummary) -> Path:
    """summary.json of a plan folder, in the one shape `layout.read_summary` reads."""
    path = folder / SUMMARY_FILE
    path.write_text(summary.to_json(), encoding="utf-8")
    return path


class PlanFolderError(SpecError):
    """An output folder a plan may not write: it holds files no plan wrote (PLUS-2). Names the folder."""

    def __init__(self, folder: Path | str, reason: str):
        self.folder, self.source = folder, str(folder)
        self.problems = [Problem(field="out", value=str(folder), rule="PLUS-2", message=reason)]
        ValueError.__init__(self, f"{folder}: {reason} [PLUS-2]")


def plan_folder(out_dir: Path) -> Path:
    """The real folder a plan goes to; refused when it exists and is neither empty nor a plan folder."""
    target = Path(out_dir).resolve()
    shown = Path(out_dir) if str(out_dir) == str(target) else f"{out_dir} ({target})"
    if target.exists() and not target.is_dir():
        raise PlanFolderError(shown, "the plan's output is a folder, and this is a file")
    if target.is_dir():
        entries = {entry.name for entry in target.iterdir()}
        if entries and not _is_plan_folder(entries):
            raise PlanFolderError(shown, f"not a plan folder (no {MARKER_FILE}) and not empty "
                                           f"({len(entries)} entries): a plan only replaces its own files, "
                                           "so it needs a new, empty or plan folder")
    return target


def _is_plan_folder(entries: set[str]) -> bool:
    """A folder a plan wrote: it has the marker, or (plans written before the marker) only plan files."""
    return MARKER_FILE in entries or (SUMMARY_FILE in entries and entries <= OWNED_FILES)


def install(staging: Path, target: Path, out_dir: Path) -> None:
    """Put the finished plan in place, touching nothing the plan does not own.

    A new folder, or a plan folder holding only plan files, is swapped whole (the old plan stays whole until
    the new one is in place). An empty folder, or a plan folder where someone put other files, gets the plan's
    files one atomic rename each, the marker last; the other files are never moved.
    """
    if not target.exists():
        os.replace(staging, target)
        return
    entries = {entry.name for entry in plan_folder(out_dir).iterdir()}  # checked again: it may have changed
    if not entries or not entries <= OWNED_FILES:
        for name in PLAN_FILES:
            os.replace(staging / name, target / name)
        for name in OPTIONAL_FILES:  # a re-plan without tracking leaves no stale links behind
            if (staging / name).exists():
                os.replace(staging / name, target / name)
            else:
                (target / name).unlink(missing_ok=True)
        for name in DERIVED_FILES:
            (target / name).unlink(missing_ok=True)
        os.replace(staging / MARKER_FILE, target / MARKER_FILE)
        staging.rmdir()
        return
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(target, old)
    os.replace(staging, target)
    for entry in old.iterdir():  # a file someone wrote between the check and the swap is kept, not deleted
        if entry.name not in OWNED_FILES:
            os.replace(entry, target / entry.name)
    shutil.rmtree(old, ignore_errors=True)
