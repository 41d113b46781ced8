"""The plan stage: campaign spec + contact lists → one planned row per input row, and a summary.

Lists stream through in batches (the 10M-row case never holds the whole list): each batch is normalised
(NUM-1/2), deduplicated against every number seen before it (NUM-3), checked against the blacklists (BL-1),
rendered (MSG-3/4/5), encoded and measured (ENC-1…5) and billed (ENC-6, SEND-5), then appended to
`recipients.parquet`. Nothing is dropped: a row that cannot be sent keeps its pre-send status.
The output folder appears whole or not at all.
"""

from __future__ import annotations

import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
import os
import queue
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lists import MANUAL_LIST, ListLayout, inspect_list, manual_recipients, read_blacklist, \
    read_list_batches
from pipelines.numbers import NumberStats, normalise_numbers
from pipelines.render import (
    MessageOptions, Template, compile_template, compose, compose_prepared, empty_column, empty_field, prepare_fields,
    value_column,
)
from pipelines.spec import CampaignSpec, Problem, SpecError, confine, load_spec, resolve_location
from pipelines.status import (
    BLACKLIST_CLIENT, BLACKLIST_GLOBAL, BLACKLIST_OWN, DUPLICATE, INVALID, NO_CREDIT, NOT_ALLOWED,
    PERSONALISATION_ERROR, TOO_LONG, UCS2_NOT_ALLOWED, status_text,
)

RECIPIENTS_FILE = "recipients.parquet"
SUMMARY_FILE = "summary.json"
MARKER_FILE = ".smsflow-plan"  # marks a plan folder and lists what the plan wrote: a re-plan replaces only those
PLAN_FILES = (RECIPIENTS_FILE, SUMMARY_FILE)
DERIVED_FILES = ("quarantine.csv",)  # written into the plan folder from a plan (PLUS-3): stale once re-planned
OWNED_FILES = frozenset((*PLAN_FILES, MARKER_FILE, *DERIVED_FILES))
PLAN_COLUMNS = {
    "REF_LIST": pl.String, "ID_LINE": pl.Int64, "MOBILE_RAW": pl.String, "INT_MOBILE": pl.String,
    "MF_VALID": pl.Boolean, "MF_ALLOW": pl.Boolean, "MF_COUNTRY": pl.String, "STATUS_CODE": pl.Int32,
    "STATUS_TEXT": pl.String, "MESSAGE": pl.String, "ENCODING": pl.String, "PARTS": pl.Int32,
}
BATCH_ROWS = 150_000
BLACKLIST_STATUSES = {"own": BLACKLIST_OWN, "global": BLACKLIST_GLOBAL, "client": BLACKLIST_CLIENT}

Progress = Callable[[str, int, int], None]  # (list name, bytes planned, bytes in the list; 0 = unknown)


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

    def batches(self) -> Iterator[pl.DataFrame]:
        if self.layout is not None:
            yield from _rebatch(read_list_batches(self.layout), BATCH_ROWS)
        elif self.manual is not None:
            yield self.manual


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


@dataclass
class _Totals:
    """What the summary needs, accumulated batch by batch."""

    rows: int = 0
    status: Counter = field(default_factory=Counter)
    parts: Counter = field(default_factory=Counter)
    encodings: Counter = field(default_factory=Counter)
    detected: Counter = field(default_factory=Counter)
    accepted: Counter = field(default_factory=Counter)
    empty: Counter = field(default_factory=Counter)
    list_rows: Counter = field(default_factory=Counter)
    credits: int = 0
    longest_message: int = 0
    longest_values: dict[str, str] = field(default_factory=dict)
    test_message: str | None = None
    test_row_found: bool = False


@dataclass
class _Context:
    spec: CampaignSpec
    template: Template
    blacklists: dict[int, pl.Series]
    seen: pl.Series = field(default_factory=lambda: pl.Series("key", [], dtype=pl.UInt64))
    credits_used: int = 0
    next_row: int = 1  # 1-based position across all lists (SEND-3 test row)
    numbers: NumberStats = field(default_factory=NumberStats)
    totals: _Totals = field(default_factory=_Totals)


def _number_key(column: str = "INT_MOBILE") -> pl.Expr:
    """E.164 as an integer (a valid number has at most 15 digits): cheap to hash and compare."""
    return pl.col(column).str.slice(1).cast(pl.UInt64, strict=False)


def _seen_before(keys: pl.Series, context: _Context) -> pl.Series:
    """The keys of this batch already planned in an earlier batch.

    The hash table is built on the batch (small) and the numbers seen so far are only probed, so a
    10M-row list costs a linear scan per batch instead of rebuilding a table of everything seen.
    """
    if context.seen.is_empty():
        return context.seen
    return context.seen.filter(context.seen.is_in(keys.drop_nulls().unique().implode()))


def _locate(location: str, base: Path, roots: Sequence[Path] | None, field_path: str) -> Path:
    """Where a list or blacklist is read; with `roots`, checked again here, right before it is opened."""
    if roots is None:
        return resolve_location(location, base, field_path)
    return confine(location, base, roots, field_path)


def _load_blacklists(spec: CampaignSpec, base: Path, roots: Sequence[Path] | None = None) -> dict[int, pl.Series]:
    lists = {}
    for kind, code in BLACKLIST_STATUSES.items():
        location = getattr(spec.account.blacklists, "global_" if kind == "global" else kind)
        if not location:
            continue
        raw = read_blacklist(_locate(location, base, roots, f"account.blacklists.{kind}"))
        numbers = normalise_numbers(raw)
        lists[code] = numbers.select(_number_key()).to_series().drop_nulls().unique()
    return lists


def _sources(spec: CampaignSpec, base: Path, roots: Sequence[Path] | None = None) -> list[Source]:
    sources = []
    for location in spec.lists:
        layout = inspect_list(_locate(location, base, roots, "lists"))
        sources.append(Source(layout.name, layout.mobile_column, layout.columns, layout=layout,
                              encoding=layout.encoding, delimiter=layout.delimiter, size_bytes=layout.size_bytes))
    if spec.recipients:
        frame, columns = manual_recipients(spec.recipients)
        # The manual number is MOBILE_RAW; only the other fields are original columns.
        sources.append(Source(MANUAL_LIST, "mobile", columns, manual=frame))
    return sources


def _output_columns(sources: list[Source]) -> list[str]:
    """Every original column once, in order of first appearance; a name taken by the plan gets a suffix."""
    columns: list[str] = []
    for source in sources:
        for column in source.columns:
            if source.manual is not None and column == source.mobile_column:
                continue
            name = _original_name(column)
            if name not in columns:
                columns.append(name)
    return columns


def _original_name(column: str) -> str:
    return f"{column} (list)" if column in PLAN_COLUMNS else column


@dataclass
class _Batch:
    """A batch with the work that needs nothing from earlier batches already done (numbers, field values)."""

    frame: pl.DataFrame
    numbers: pl.DataFrame
    prepared: pl.DataFrame
    source_bytes: int
    number_stats: NumberStats


def _prepare_batch(frame: pl.DataFrame, source: Source, context: _Context) -> _Batch:
    """Runs in worker threads, ahead of `_plan_batch`: Polars releases the GIL, so both cores work."""
    frame = frame.rename({c: _original_name(c) for c in source.columns if c in PLAN_COLUMNS})
    stats = NumberStats()
    numbers = normalise_numbers(frame.get_column(_original_name(source.mobile_column)), stats=stats)
    prepared = prepare_fields(frame, context.template, context.spec.defaults, _message_options(context.spec))
    # Bytes of the batch as written (values + delimiters + line ends), for the progress bar.
    size = int(frame.select(pl.sum_horizontal(pl.col(_original_name(c)).str.len_bytes() for c in source.columns)
                            .sum()).item() or 0) + frame.height * len(source.columns)
    return _Batch(frame, numbers, prepared, size, stats)


def _plan_batch(batch: _Batch, source: Source, context: _Context, columns: list[str]) -> pl.DataFrame:
    spec = context.spec
    frame, numbers, prepared = batch.frame, batch.numbers, batch.prepared
    for name in ("fast", "full", "distinct_full"):
        setattr(context.numbers, name, getattr(context.numbers, name) + getattr(batch.number_stats, name))
    mobile = _original_name(source.mobile_column)
    frame = frame.with_columns(
        pl.lit(source.name).alias("REF_LIST"),
        pl.col(mobile).alias("MOBILE_RAW"),
        numbers.get_column("INT_MOBILE"),
        numbers.get_column("MF_VALID"),
        numbers.get_column("MF_COUNTRY"),
    ).with_columns(
        pl.col("MF_COUNTRY").is_in(spec.account.allowed_countries).fill_null(False).alias("MF_ALLOW"),
        pl.when(pl.col("MF_VALID")).then(_number_key()).alias("_key"),
    )

    # NUM-3: the first valid occurrence across all lists keeps its status; later copies are duplicates.
    key = pl.col("_key")
    seen_before = _seen_before(frame.get_column("_key"), context)
    duplicate = key.is_not_null() & (key.is_in(seen_before.implode()) | ~key.is_first_distinct())
    status = pl.when(~pl.col("MF_VALID")).then(INVALID).when(~pl.col("MF_ALLOW")).then(NOT_ALLOWED)
    status = status.when(duplicate).then(DUPLICATE)
    for code in (BLACKLIST_OWN, BLACKLIST_GLOBAL, BLACKLIST_CLIENT):
        if code in context.blacklists:
            status = status.when(key.is_in(context.blacklists[code].implode())).then(code)
    template = context.template
    options = _message_options(spec)
    strict = [] if spec.options.allow_empty_fields else [f for f in template.strict_fields if f not in spec.defaults]
    if strict:  # MSG-4: a ${Field} empty with no default
        status = status.when(pl.any_horizontal(pl.col(empty_column(f)) for f in strict)).then(PERSONALISATION_ERROR)
    frame = frame.hstack(prepared.select(empty_column(f) for f in strict)) if strict else frame
    frame = frame.with_columns(status.otherwise(None).cast(pl.Int32).alias("STATUS_CODE"))
    context.seen.append(frame.filter(key.is_not_null() & ~duplicate.fill_null(False)).get_column("_key").unique())
    if context.seen.n_chunks() > 32:
        context.seen = context.seen.rechunk()
    _note_fields(frame, prepared, source, context)
    _note_test_row(frame, context)

    # Encode, measure and bill only what may still be sent.
    candidate_rows = frame.select(pl.arg_where(pl.col("STATUS_CODE").is_null())).to_series()
    composed = compose_prepared(prepared[candidate_rows], template, options)
    late = (
        pl.when((pl.col("ENCODING") == "UCS2") & pl.lit(not spec.options.ucs2)).then(UCS2_NOT_ALLOWED)
        .when(pl.col("PARTS") > spec.max_parts).then(TOO_LONG)
    )
    composed = composed.with_columns(late.otherwise(None).cast(pl.Int32).alias("STATUS_CODE"))
    # SEND-5: rows beyond the credit balance, in list order, get status 8.
    billable = pl.when(pl.col("STATUS_CODE").is_null()).then(pl.col("PARTS")).otherwise(0)
    composed = composed.with_columns((billable.cum_sum() + context.credits_used).alias("_spent"))
    if composed.height:
        context.credits_used = int(composed.get_column("_spent").max() or context.credits_used)
    if spec.account.credits is not None:
        over = pl.col("STATUS_CODE").is_null() & (pl.col("_spent") > spec.account.credits)
        composed = composed.with_columns(pl.when(over).then(NO_CREDIT).otherwise(pl.col("STATUS_CODE"))
                                         .alias("STATUS_CODE"))
    sendable = pl.col("STATUS_CODE").is_null()
    composed = composed.with_columns(
        pl.when(sendable).then(pl.col("MESSAGE")).alias("MESSAGE"),
        pl.when(sendable).then(pl.col("PARTS")).otherwise(0).cast(pl.Int32).alias("PARTS"),
    )
    late_status = frame.get_column("STATUS_CODE").scatter(candidate_rows, composed.get_column("STATUS_CODE"))
    empty_text = pl.Series([None] * frame.height, dtype=pl.String)
    frame = frame.with_columns(
        late_status.alias("STATUS_CODE"),
        empty_text.scatter(candidate_rows, composed.get_column("MESSAGE")).alias("MESSAGE"),
        empty_text.scatter(candidate_rows, composed.get_column("ENCODING")).alias("ENCODING"),
        pl.repeat(0, frame.height, dtype=pl.Int32, eager=True).scatter(candidate_rows, composed.get_column("PARTS"))
        .alias("PARTS"),
        pl.repeat(0, frame.height, dtype=pl.Int64, eager=True).scatter(candidate_rows, composed.get_column("LENGTH"))
        .alias("LENGTH"),
    ).with_columns(
        pl.col("STATUS_CODE").replace_strict(_STATUS_TEXTS, default=None, return_dtype=pl.String).alias("STATUS_TEXT")
    )
    _note_results(frame, source, context)
    for name in columns:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    return frame.select([pl.col(name).cast(dtype) for name, dtype in PLAN_COLUMNS.items()] + columns)


_STATUS_TEXTS = {code: status_text(code) for code in
                 (INVALID, NOT_ALLOWED, DUPLICATE, BLACKLIST_OWN, BLACKLIST_GLOBAL, BLACKLIST_CLIENT,
                  PERSONALISATION_ERROR, UCS2_NOT_ALLOWED, TOO_LONG, NO_CREDIT)}


def _note_fields(frame: pl.DataFrame, prepared: pl.DataFrame, source: Source, context: _Context) -> None:
    """MSG-4 empty fields, and ENC-6's longest value of each field for the worst-case length."""
    personalisation = [_original_name(c) for c in source.columns if c != source.mobile_column]
    if personalisation:
        empties = frame.select(empty_field(c).sum().alias(c) for c in personalisation).row(0, named=True)
        context.totals.empty.update({name: count for name, count in empties.items() if count})
    fields = context.template.fields
    if fields:
        longest = prepared.select(
            pl.col(value_column(f)).gather(pl.col(value_column(f)).str.len_chars().fill_null(-1).arg_max()).alias(f)
            for f in fields).row(0, named=True)
        for name, value in longest.items():
            if value is not None and len(value) > len(context.totals.longest_values.get(name, "")):
                context.totals.longest_values[name] = value


def _note_test_row(frame: pl.DataFrame, context: _Context) -> None:
    """SEND-3: the message of the chosen row, rendered whatever that row's status."""
    test = context.spec.test
    start = context.next_row
    context.next_row += frame.height
    if test is None or not start <= test.row < context.next_row:
        return
    row = frame.slice(test.row - start, 1)
    composed = compose(row, context.template, context.spec.defaults, _message_options(context.spec))
    context.totals.test_message = composed.get_column("MESSAGE")[0]
    context.totals.test_row_found = True


def _note_results(frame: pl.DataFrame, source: Source, context: _Context) -> None:
    totals = context.totals
    totals.rows += frame.height
    totals.list_rows[source.name] += frame.height
    for code, count in frame.group_by("STATUS_CODE").len().iter_rows():
        totals.status[str(code or 0)] += count
    sendable = frame.filter(pl.col("STATUS_CODE").is_null())
    for parts, count in sendable.group_by("PARTS").len().iter_rows():
        totals.parts[str(parts)] += count
    for name, count in sendable.group_by("ENCODING").len().iter_rows():
        totals.encodings[name] += count
    totals.credits += int(sendable.get_column("PARTS").sum() or 0)
    if sendable.height:
        totals.longest_message = max(totals.longest_message, int(sendable.get_column("LENGTH").max() or 0))
    valid = frame.filter(pl.col("MF_VALID"))
    for country, detected, accepted in valid.group_by("MF_COUNTRY").agg(
        pl.len(), pl.col("MF_ALLOW").sum()
    ).iter_rows():
        totals.detected[country] += detected
        totals.accepted[country] += accepted


def _worst_case(context: _Context) -> dict:
    """ENC-6: the message with the longest value of every field (the editor's counter)."""
    template, spec = context.template, context.spec
    if template.jinja is not None:
        return {"length": context.totals.longest_message, "from": "longest rendered message"}
    values = {name: context.totals.longest_values.get(name, spec.defaults.get(name, "")) for name in template.fields}
    frame = pl.DataFrame({name: [value] for name, value in values.items()} or {"_": [None]},
                         schema={name: pl.String for name in values} or {"_": pl.String})
    measured = compose(frame, template, spec.defaults, _message_options(spec)).row(0, named=True)
    return {"length": measured["LENGTH"], "encoding": measured["ENCODING"], "parts": measured["PARTS"],
            "message": measured["MESSAGE"], "from": "longest value of each field"}


def _message_options(spec: CampaignSpec) -> MessageOptions:
    return MessageOptions(replace_non_gsm7=spec.options.replace_non_gsm7,
                          emojis=spec.options.ucs2 and spec.options.emojis)


def _summary(context: _Context, sources: list[Source]) -> dict:
    spec, totals = context.spec, context.totals
    worst = _worst_case(context)
    status_counts = {code: totals.status[code] for code in sorted(totals.status, key=int)}
    summary = {
        "campaign": {
            "name": spec.name, "type": spec.type, "billing_code": spec.billing_code,
            "description": spec.description, "sender": spec.sender_or_default,
            "send_at": spec.send_at.isoformat() if spec.send_at else None, "tracking": False,
            "send_window": spec.account.send_window if spec.type == "marketing" else None,
            "in_flight": spec.options.in_flight,
        },
        "columns": _output_columns(sources),
        "lists": [{"name": s.name, "rows": totals.list_rows[s.name], "mobile_column": s.mobile_column,
                   "encoding": s.encoding, "delimiter": s.delimiter,
                   "warnings": list(s.layout.warnings) if s.layout is not None else []} for s in sources],
        "rows": totals.rows,
        "sendable": totals.status.get("0", 0),
        "invalid": totals.status.get(str(INVALID), 0),
        "duplicates": totals.status.get(str(DUPLICATE), 0),
        "status_counts": status_counts,
        "status_texts": {code: ("Envoyable" if code == "0" else status_text(int(code))) for code in status_counts},
        "credits": totals.credits,
        "credits_available": spec.account.credits,
        "countries": {country: {"detected": totals.detected[country], "accepted": totals.accepted[country]}
                      for country in sorted(totals.detected)},
        "parts": {parts: totals.parts[parts] for parts in sorted(totals.parts, key=int)},
        "encodings": dict(totals.encodings),
        "empty_fields": dict(sorted(totals.empty.items())),
        "fields_used": context.template.fields,
        "defaults": spec.defaults,
        "max_length": worst["length"],
        "worst_case": worst,
        "longest_message": totals.longest_message,
        "max_parts": spec.max_parts,
        "numbers": {"fast_path": context.numbers.fast, "full_parser": context.numbers.full,
                    "full_parser_distinct": context.numbers.distinct_full},
    }
    if spec.test is not None:
        summary["test"] = {"numbers": spec.test.number_list, "row": spec.test.row,
                           "message": totals.test_message if totals.test_row_found else None}
    return summary


@dataclass
class PlanResult:
    out_dir: Path
    recipients: Path
    summary_path: Path
    summary: dict


class PlanFolderError(SpecError):
    """An output folder a plan may not write: it holds files no plan wrote (PLUS-2). Names the folder."""

    def __init__(self, folder: Path | str, reason: str):
        self.folder, self.source = folder, str(folder)
        self.problems = [Problem(field="out", value=str(folder), rule="PLUS-2", message=reason)]
        ValueError.__init__(self, f"{folder}: {reason} [PLUS-2]")


def _plan_folder(out_dir: Path) -> Path:
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


def plan_campaign(spec: CampaignSpec, base: Path, out_dir: Path, progress: Progress | None = None,
                  roots: Sequence[Path] | None = None) -> PlanResult:
    """Plan `spec` (lists relative to `base`) into `out_dir`/recipients.parquet and summary.json, atomically.

    `out_dir` must be new, empty or a plan folder; only the plan's own files in it are replaced. With `roots`,
    a list or blacklist outside them is refused before it is opened (LIST-4, BL-1).
    """
    target = _plan_folder(out_dir)
    sources = _sources(spec, base, roots)
    columns = _output_columns(sources)
    personalisation = list(dict.fromkeys(_original_name(c) for s in sources for c in s.columns
                                         if c != s.mobile_column))
    template = compile_template(spec.message, personalisation)
    context = _Context(spec, template, _load_blacklists(spec, base, roots))

    out_dir = Path(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        schema = pa.schema([(name, _ARROW[dtype]) for name, dtype in PLAN_COLUMNS.items()]
                           + [(name, pa.large_string()) for name in columns])
        with _BackgroundWriter(staging / RECIPIENTS_FILE, schema) as writer:
            for source in sources:
                done = 0
                for batch in _pipelined(source.batches(), lambda frame: _prepare_batch(frame, source, context)):
                    done += batch.source_bytes
                    planned = _plan_batch(batch, source, context, columns)
                    writer.write(planned.to_arrow().cast(schema))
                    if progress is not None:
                        progress(source.name, min(done, source.size_bytes), source.size_bytes)
                if progress is not None:
                    progress(source.name, source.size_bytes, source.size_bytes)
        summary = _summary(context, sources)
        (staging / SUMMARY_FILE).write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        (staging / MARKER_FILE).write_text(json.dumps({"files": list(PLAN_FILES)}) + "\n", encoding="utf-8")
        _install(staging, target, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PlanResult(out_dir, out_dir / RECIPIENTS_FILE, out_dir / SUMMARY_FILE, summary)


_DONE = object()


def _pipelined(frames: Iterator[pl.DataFrame], prepare: Callable[[pl.DataFrame], _Batch],
               workers: int = 2) -> Iterator[_Batch]:
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


class _BackgroundWriter:
    """Append Arrow tables to one Parquet file from a thread, so writing overlaps planning."""

    def __init__(self, path: Path, schema: pa.Schema):
        self._writer = pq.ParquetWriter(path, schema, compression="lz4", use_dictionary=_DICTIONARY_COLUMNS,
                                        write_statistics=["STATUS_CODE", "PARTS", "MF_VALID", "ID_LINE"])
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="smsflow-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (table := self._queue.get()) is not _DONE:
            if self._error is None:
                try:
                    self._writer.write_table(table)
                except BaseException as error:
                    self._error = error

    def write(self, table: pa.Table) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(table)

    def __enter__(self) -> _BackgroundWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self._queue.put(_DONE)
        self._thread.join()
        self._writer.close()
        if self._error is not None and exc_info[0] is None:
            raise self._error


# Low-cardinality columns compress well as dictionaries; the rest (messages, numbers) do not.
_DICTIONARY_COLUMNS = ["REF_LIST", "MF_COUNTRY", "STATUS_TEXT", "ENCODING"]

_ARROW = {pl.String: pa.large_string(), pl.Int64: pa.int64(), pl.Int32: pa.int32(), pl.Boolean: pa.bool_()}


def _install(staging: Path, target: Path, out_dir: Path) -> None:
    """Put the finished plan in place, touching nothing the plan does not own.

    A new folder, or a plan folder holding only plan files, is swapped whole (the old plan stays whole until
    the new one is in place). An empty folder, or a plan folder where someone put other files, gets the plan's
    files one atomic rename each, the marker last; the other files are never moved.
    """
    if not target.exists():
        os.replace(staging, target)
        return
    entries = {entry.name for entry in _plan_folder(out_dir).iterdir()}  # checked again: it may have changed
    if not entries or not entries <= OWNED_FILES:
        for name in PLAN_FILES:
            os.replace(staging / name, target / name)
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


def plan_file(spec_path: Path, out_dir: Path, progress: Progress | None = None, *,
              roots: Sequence[Path] | None = None, check_send_at: bool = True) -> PlanResult:
    """Load a YAML spec and plan it; lists are relative to the spec's folder.

    A send time already past is refused (SEND-1) unless `check_send_at` is False (a spec accepted earlier).
    """
    now = datetime.now(timezone.utc) if check_send_at else None
    spec = load_spec(spec_path, now=now, roots=roots)
    return plan_campaign(spec, spec_path.resolve().parent, out_dir, progress, roots)
