"""DROP-1..3 (issue 13): a CRM export dropped in the bucket starts one campaign, or is quarantined with its reason.

A CRM writes `incoming/vip/export.csv`, then the empty marker `incoming/vip/export.csv.done` (the file is whole
once its marker is there). `process_drop` then, for that file (a local path or an s3:// object):
1. finds its rule (`pipelines.store.drops`: the longest prefix it starts with) and the rule's template;
2. checks it before anything else: its size (at most the rule's max_bytes, never empty), then the list reader
   itself (`pipelines.lists`: a known encoding, a header with a mobile column, rows a contact list can hold,
   each refusal with its line and column), then a Great Expectations contract on what its rows measure (at
   least one row, at most MAX_ROWS; the share of invalid numbers, by `pipelines.numbers`, under the rule's limit
   or else the template's `contracts.max_invalid_share`);
3. dedupes by content: the SHA-256 of its bytes is recorded once (unique in the store), so the same bytes
   dropped again under any name are quarantined as a duplicate and start nothing;
4. ends it in exactly one place: accepted, it moves to `processed/<date>/<name>` beside `<name>.spec.yaml`,
   the template's spec with this file as its only list (and `approval: auto` in `auto` mode), and the run conf
   for `sms_campaign` is `{"spec_path": that spec}`, its run id `drop__<hash>`; refused, it moves to
   `quarantine/<date>/<name>` beside `<name>.reason.json` (the rule, the check that failed, the file, the file's
   line and column when the reader knows them, or the first bad row, LIST-6's numbering, and the mobile column).
   Its marker is removed after.

Crash-safe: everything is written before the file moves, and the move is last; a retry of the same drop finds
its own record (by source) and finishes the move, or, the file gone already, returns what was recorded.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

import yaml

from pipelines import storage
from pipelines.lists import ListError
from pipelines.storage import Location, ObjectUrl
from pipelines.store.drops import DropRule

MARKER = ".done"  # `export.csv.done`: the CRM's "export.csv is whole"
PROCESSED, QUARANTINE = "processed", "quarantine"
INBOX = "incoming/"  # swept for marked files even without a rule's prefix (they are quarantined: no rule)
MAX_BYTES = 2 << 30  # a drop's default size limit (2 GiB, ~25M rows of a typical export)
MAX_ROWS = 20_000_000
RUN_PREFIX = "drop__"
# What a CRM sometimes exports instead of CSV: told as such rather than as a list without a mobile column.
BINARY_EXPORTS = {b"PK\x03\x04": "a zip archive or an Excel workbook (.xlsx)",
                  b"\xd0\xcf\x11\xe0": "an Excel 97-2003 workbook (.xls)", b"%PDF": "a PDF document"}


class DropRefused(Exception):
    """A drop that fails a check: what failed, in words, and where in the file when known."""

    def __init__(self, check: str, reason: str, rule: str, line: int | None = None, column: str | None = None,
                 row: int | None = None, **details: Any):
        self.check, self.reason, self.rule, self.line, self.column, self.row, self.details = check, reason, rule, \
            line, column, row, details
        super().__init__(f"{check}: {reason} [{rule}]")


@dataclass
class DropOutcome:
    """Where a drop ended and why: accepted (its run's id and conf), or quarantined (its reason)."""

    source: str  # where it was dropped, relative to the bucket
    accepted: bool
    target: str | None = None  # where it is now, relative to the bucket (None: it was gone already)
    rule_id: int | None = None
    run_id: str | None = None
    conf: dict | None = None
    reason: dict | None = None
    rows: int = 0
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _relative(bucket: Location, where: Location) -> str:
    """`where` as a key relative to the bucket; ValueError when it is outside."""
    if isinstance(bucket, ObjectUrl) != isinstance(where, ObjectUrl) or not where.is_relative_to(bucket):
        raise ValueError(f"{where} is not inside the bucket {bucket} [DROP-1]")
    if isinstance(where, ObjectUrl):
        return where.key[len(bucket.key.rstrip("/")):].lstrip("/")
    return where.relative_to(bucket).as_posix()


def _today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def _free(bucket: Location, folder: str, name: str, taken_by: str | None = None) -> str:
    """`folder/name`, or `folder/<random>-name` when another file holds that name already."""
    key = f"{folder}/{name}"
    if key == taken_by or not storage.exists(bucket / key):
        return key
    return f"{folder}/{secrets.token_hex(4)}-{name}"


def content_hash(path: Path) -> str:
    """SHA-256 of a file's bytes, in hex (streamed)."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


# --- The template ------------------------------------------------------------------------------------------------
def template_spec(bucket: Location, rule: DropRule, engine) -> tuple[dict, Location]:
    """The rule's template as spec data, and the folder its relative paths start from."""
    if rule.template_kind == "campaign":
        from pipelines.store import campaigns

        campaign = campaigns.get(engine, rule.template, rule.account_id)
        return yaml.safe_load(campaign.spec), bucket
    where = bucket / rule.template
    try:
        data = yaml.safe_load(storage.read_bytes(where).decode("utf-8-sig"))
    except FileNotFoundError:
        raise DropRefused("template", f"the rule's spec {rule.template} is not in the bucket", "DROP-1") from None
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise DropRefused("template", f"the rule's spec {rule.template} is not a YAML spec: {error}", "CAMP-2") \
            from None
    if not isinstance(data, dict):
        raise DropRefused("template", f"the rule's spec {rule.template} is not a mapping of fields", "CAMP-2")
    return data, where.parent


def drop_spec(template: dict, base: Location, rule: DropRule, list_name: str, file_name: str) -> dict:
    """The template's spec for this drop: the dropped file as its only list (beside the spec), the rule's account
    and mode, the template's other relative files (blacklists, preview image) made absolute from its folder."""
    from pipelines.spec import resolve_location

    data = copy.deepcopy(template)
    given = data.get("account") or {}
    account = {"id": given} if isinstance(given, str) else dict(given)
    if account.get("id") not in (None, "default", rule.account_id):
        raise DropRefused("template", f"the template names account {account['id']!r} but rule {rule.id} belongs "
                                      f"to account {rule.account_id!r}", "ACC-3")
    account["id"] = rule.account_id
    for kind, location in list((account.get("blacklists") or {}).items()):
        if isinstance(location, str):
            account["blacklists"][kind] = str(resolve_location(location, base, "account.blacklists"))
    data["account"] = account
    preview = (data.get("tracking") or {}).get("preview") if isinstance(data.get("tracking"), dict) else None
    if isinstance(preview, dict) and isinstance(preview.get("image"), str):
        preview["image"] = str(resolve_location(preview["image"], base, "tracking.preview.image"))
    data["lists"] = [list_name]
    data["approval"] = "auto" if rule.mode == "auto" else "manual"
    data["name"] = f"{data.get('name') or 'Drop'} ({file_name})"[:200]  # CAMP-1: at most 200 characters
    return data


# --- The checks --------------------------------------------------------------------------------------------------
def check_size(size: int, rule: DropRule) -> None:
    limit = rule.max_bytes or MAX_BYTES
    if size == 0:
        raise DropRefused("size", "the file is empty", "DROP-1")
    if size > limit:
        raise DropRefused("size", f"{size:,} bytes, more than the {limit:,} a drop may hold (rule {rule.id}: "
                                  f"smsflow drops add --max-bytes)", "DROP-1", size=size, max_bytes=limit)


def measure_numbers(path: Path, shown: str) -> tuple[Any, str]:
    """The list read as a campaign reads it (`pipelines.lists`), its numbers judged (`pipelines.numbers`): a frame
    of (ID_LINE, MF_VALID) and the mobile column's name. A refusal of the reader names the line and column."""
    import polars as pl

    from pipelines.lists import ID_LINE, inspect_list, read_list_batches
    from pipelines.numbers import normalise_numbers

    with path.open("rb") as stream:
        head = stream.read(8)
    for magic, kind in BINARY_EXPORTS.items():
        if head.startswith(magic):
            raise DropRefused("readable", f"{kind}, not a CSV or text export: export the list as CSV", "LIST-1",
                              line=1)
    try:
        layout = inspect_list(path, shown)
        frames = [batch.select(ID_LINE).with_columns(
                      normalise_numbers(batch.get_column(layout.mobile_column)).get_column("MF_VALID"))
                  for batch in read_list_batches(layout)]
    except ListError as error:
        check = "mobile column" if error.rule == "LIST-2" else "readable"
        raise DropRefused(check, error.reason, error.rule, error.line, error.column) from None
    frame = pl.concat(frames) if frames else pl.DataFrame(schema={ID_LINE: pl.Int64, "MF_VALID": pl.Boolean})
    return frame, layout.mobile_column


def check_contract(numbers, mobile_column: str, max_invalid_share: float, max_rows: int = MAX_ROWS) -> None:
    """DROP-1's contract on what the rows measure, by Great Expectations: 1 to `max_rows` rows, the share of
    invalid numbers at most `max_invalid_share`. A failure names the observed figures and the first bad lines."""
    from pipelines.contracts import _percent, _quiet_great_expectations

    _quiet_great_expectations()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet_great_expectations()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (context.data_sources.add_pandas("drop").add_dataframe_asset("rows")
             .add_batch_definition_whole_dataframe("whole drop")
             .get_batch(batch_parameters={"dataframe": numbers.select("MF_VALID").to_pandas()}))
    suite = context.suites.add(gx.ExpectationSuite(name="drop_contract"))
    suite.add_expectation(gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, max_value=max_rows))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column="MF_VALID", value_set=[True],
                                                                      mostly=1 - max_invalid_share))
    rows_result, invalid_result = batch.validate(suite, result_format="SUMMARY").results
    if not rows_result.success:
        observed = rows_result.result.get("observed_value")
        raise DropRefused("rows", f"{observed:,} rows: a drop holds between 1 and {max_rows:,}", "DROP-1",
                          rows=observed)
    if not invalid_result.success:
        invalid = numbers.filter(~numbers.get_column("MF_VALID"))
        share = invalid.height / numbers.height
        first = invalid.get_column("ID_LINE").head(5).to_list()
        raise DropRefused("invalid share", f"invalid numbers {_percent(share)} ({invalid.height:,} of "
                                           f"{numbers.height:,}) over the {_percent(max_invalid_share)} allowed; "
                                           f"first invalid rows (the header not counted, LIST-6): "
                                           f"{', '.join(map(str, first))}",
                          "PLUS-3", row=first[0] if first else None, column=mobile_column, invalid=invalid.height,
                          rows=numbers.height, invalid_share=share, max_invalid_share=max_invalid_share,
                          invalid_rows=first)


# --- One drop ----------------------------------------------------------------------------------------------------
def process_drop(bucket: Location | str, file: Location | str, *, engine=None, today: str | None = None
                 ) -> DropOutcome:
    """Check one dropped file and end it in processed/ (its run's conf returned) or quarantine/ (its reason
    beside it). Idempotent: a retried drop finishes what a crash left."""
    from pipelines.store import open_store
    from pipelines.store.drops import drops_from, record_drop, rule_for

    bucket = storage.location(bucket)
    file = storage.location(file)
    if isinstance(bucket, Path):
        bucket, file = bucket.resolve(), Path(file).absolute()  # the file's own links are judged below
    source = _relative(bucket, file)
    engine = engine or open_store(bucket=bucket if isinstance(bucket, Path) else None)
    today = today or _today()
    if not storage.exists(file):
        for drop in drops_from(engine, source):  # accepted and moved, then the task stopped: say it again
            if storage.exists(bucket / drop.target):
                return DropOutcome(source, True, drop.target, drop.rule_id, drop.run_id, drop.conf)
        return DropOutcome(source, False, None, details={"gone": "no such file, and no accepted drop from it"})
    rule = rule_for(engine, source)
    name = PurePosixPath(source).name
    try:
        if rule is None:
            raise DropRefused("rule", "no drop rule's prefix holds this file (smsflow drops list)", "DROP-1")
        if isinstance(file, Path) and (file.is_symlink() or not file.resolve().is_relative_to(bucket)):
            raise DropRefused("readable", "a link, not a file: links are not followed (what they point to may be "
                                          "outside the bucket)", "LIST-4")  # never read, so nothing of it is told
        check_size(storage.size(file), rule)
        template, base = template_spec(bucket, rule, engine)
        with _readable(file) as (path, shown):
            numbers, mobile = measure_numbers(path, shown)
            limit = rule.max_invalid_share
            if limit is None:
                limit = float((template.get("contracts") or {}).get("max_invalid_share", 0.2))
            check_contract(numbers, mobile, limit)
            digest = content_hash(path)
        _validated(drop_spec(template, base, rule, name, name), bucket, f"{PROCESSED}/{today}/{name}.spec.yaml")
        drop = _recorded(bucket, engine, digest, source)
        if drop is None:
            target = _free(bucket, f"{PROCESSED}/{today}", name)
            conf = {"spec_path": f"{target}.spec.yaml"}
            drop, new = record_drop(engine, digest, rule, source, target, f"{RUN_PREFIX}{digest[:16]}", conf)
            if not new:  # recorded by another worker in between
                drop = _recorded(bucket, engine, digest, source)
        data = drop_spec(template, base, rule, PurePosixPath(drop.target).name, name)
        storage.write_bytes(bucket / drop.conf["spec_path"], yaml.safe_dump(
            data, allow_unicode=True, sort_keys=False).encode("utf-8"))
        storage.move(file, bucket / drop.target)  # last: until here a retry starts again from the file
        _unmark(file)
        return DropOutcome(source, True, drop.target, rule.id, drop.run_id, drop.conf, rows=numbers.height)
    except DropRefused as refused:
        return _quarantine(bucket, file, source, name, rule, refused, today)


def _recorded(bucket: Location, engine, digest: str, source: str):
    """The drop recorded with these bytes when this is its retry (same source, not moved yet); None when they
    were never recorded; DropRefused when they were, from another drop or already moved: a duplicate (DROP-2)."""
    from pipelines.store.drops import drop_by_hash

    drop = drop_by_hash(engine, digest)
    if drop is None or (drop.source == source and not storage.exists(bucket / drop.target)):
        return drop
    raise DropRefused("duplicate", f"the same bytes were dropped as {drop.source} (now {drop.target}), which "
                                   f"started run {drop.run_id}", "DROP-2", first=drop.source, run_id=drop.run_id)


def _validated(data: dict, bucket: Location, spec_key: str) -> None:
    """The drop's spec checked as the run will check it (CAMP-2), its list aside (moved there last)."""
    from pipelines.spec import SpecError, validate_spec

    try:
        validate_spec(data, spec_key, now=datetime.now(timezone.utc), roots=[bucket],
                      base=(bucket / spec_key).parent, check_files=False)
    except SpecError as error:
        raise DropRefused("template", f"the template makes no valid campaign: {error}", "CAMP-2") from None


class _readable:
    """The dropped file as a real file for the list reader (an s3:// object staged, removed after), and the name
    its errors should give."""

    def __init__(self, file: Location):
        self.file, self.staged = file, None

    def __enter__(self) -> tuple[Path, str]:
        if isinstance(self.file, ObjectUrl):
            self.staged = storage.Staged(self.file)
            return self.staged.path, str(self.file)
        return self.file, str(self.file)

    def __exit__(self, *exc_info) -> None:
        if self.staged is not None:
            self.staged.close()


def _quarantine(bucket: Location, file: Location, source: str, name: str, rule: DropRule | None,
                refused: DropRefused, today: str) -> DropOutcome:
    target = _free(bucket, f"{QUARANTINE}/{today}", name)
    reason = {"rule": rule.id if rule else None, "account": rule.account_id if rule else None,
              "file": str(file), "check": refused.check, "reason": refused.reason, "rule_id": refused.rule,
              "line": refused.line, "row": refused.row, "column": refused.column, "details": refused.details,
              "quarantined_as": target, "at": datetime.now(timezone.utc).isoformat()}
    storage.write_bytes(bucket / f"{target}.reason.json",
                        json.dumps(reason, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
    storage.move(file, bucket / target)  # last: a crash before it leaves the file where it was dropped
    _unmark(file)
    return DropOutcome(source, False, target, rule.id if rule else None, reason=reason)


def _unmark(file: Location) -> None:
    marker = file.parent / f"{file.name}{MARKER}"
    try:
        storage.delete(marker)
    except FileNotFoundError:
        pass


# --- What waits ---------------------------------------------------------------------------------------------------
def marked_drops(bucket: Location | str, engine=None) -> list[Location]:
    """The files waiting under the rules' prefixes and `incoming/`: those with their `.done` marker beside them
    (a file without one may still be written). A marker left without its file (a crash after the move) is
    removed."""
    from pipelines.store import open_store
    from pipelines.store.drops import list_rules

    bucket = storage.location(bucket)
    engine = engine or open_store(bucket=bucket if isinstance(bucket, Path) else None)
    prefixes = sorted({INBOX, *(rule.prefix for rule in list_rules(engine))})
    found: dict[str, Location] = {}
    for prefix in prefixes:
        for where in storage.listing(bucket / prefix):
            found.setdefault(str(where), where)
    names = set(found)
    ready = []
    for text, where in sorted(found.items()):
        if text.endswith(MARKER):
            if text.removesuffix(MARKER) not in names:
                storage.delete(where)
            continue
        if where.name.startswith(".") or text.endswith((".reason.json", ".spec.yaml")):
            continue  # a temporary file being written, or smsflow's own
        if f"{text}{MARKER}" in names:
            ready.append(where)
    return ready


def process_marked(bucket: Location | str, *, engine=None) -> list[DropOutcome]:
    """Every marked drop waiting, processed (the sweep `sms_drops` runs, and `smsflow drops` could)."""
    return [process_drop(bucket, where, engine=engine) for where in marked_drops(bucket, engine)]


def start_drops(bucket: Location | str, files: Iterable[str | Location] = ()) -> dict[str, list[dict]]:
    """What `sms_drops` runs: the files its Asset events name (`file:///…`, s3://…, or relative to the bucket; their
    marker was taken by the watcher's trigger), then every other marked drop waiting. Returns the runs to start,
    `{"trigger_run_id", "conf"}` each (TriggerDagRunOperator's arguments), and the drops quarantined."""
    bucket = storage.location(bucket)
    named = [storage.location(name.removeprefix("file://")) if name.startswith(("file://", "s3://", "/"))
             else bucket / name for name in map(str, files)]
    outcomes = [process_drop(bucket, where) for where in {str(where): where for where in named}.values()]
    outcomes += process_marked(bucket)
    runs = {outcome.run_id: outcome.conf for outcome in outcomes if outcome.accepted}  # a run once
    return {"accepted": [{"trigger_run_id": run_id, "conf": conf} for run_id, conf in runs.items()],
            "quarantined": [{"source": outcome.source, "target": outcome.target, "check": outcome.reason["check"],
                             "reason": outcome.reason["reason"]} for outcome in outcomes if outcome.reason]}
