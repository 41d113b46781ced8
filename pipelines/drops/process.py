"""One drop from where it was dropped to processed/ or quarantine/ (DROP-1..3), the marked drops waiting, and what
the sms_drops DAG runs (the package's docstring says how)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Iterable

import yaml

from pipelines import storage
from pipelines.drops.checks import DropRefused, check_contract, check_size, measure_numbers
from pipelines.drops.template import _validated, drop_spec, template_spec
from pipelines.storage import Location, ObjectUrl
from pipelines.store.drops import DropRule

log = logging.getLogger(__name__)

MARKER = ".done"  # `export.csv.done`: the CRM's "export.csv is whole"
PROCESSED, QUARANTINE = "processed", "quarantine"
INBOX = "incoming/"  # swept for marked files even without a rule's prefix (they are quarantined: no rule)
RUN_PREFIX = "drop__"


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


# --- One drop ----------------------------------------------------------------------------------------------------
def process_drop(bucket: Location | str, file: Location | str, *, engine=None, today: str | None = None
                 ) -> DropOutcome:
    """Check one dropped file and end it in processed/ (its run's conf returned) or quarantine/ (its reason
    beside it). Idempotent: a retried drop finishes what a crash left."""
    from pipelines.store import open_store
    from pipelines.store.drops import drops_from, record_drop, rule_for

    bucket, file = _in_bucket(bucket, file)
    source = _relative(bucket, file)
    engine = engine or open_store(bucket=bucket if isinstance(bucket, Path) else None)
    today = today or _today()
    if not storage.exists(file):
        for drop in drops_from(engine, source):  # accepted and moved, then the task stopped: finish, say it again
            if storage.exists(bucket / drop.target):
                if not storage.exists(bucket / drop.conf["spec_path"]):
                    _finish_moved(bucket, engine, drop)
                return DropOutcome(source, True, drop.target, drop.rule_id, drop.run_id, drop.conf)
        return DropOutcome(source, False, None, details={"gone": "no such file, and no accepted drop from it"})
    rule = rule_for(engine, source)
    name = PurePosixPath(source).name
    try:
        template, base, rows, digest = _checked(bucket, file, name, rule, engine, today)
        drop = _recorded(bucket, engine, digest, source)
        if drop is None:
            target = _free(bucket, f"{PROCESSED}/{today}", name)
            conf = {"spec_path": f"{target}.spec.yaml"}
            drop, new = record_drop(engine, digest, rule, source, target, f"{RUN_PREFIX}{digest[:16]}", conf)
            if not new:  # recorded by another worker in between
                drop = _recorded(bucket, engine, digest, source)
        # The move, then the spec: the spec written says the drop is done (a retry or a duplicate tells them
        # apart by it: S3 moves by copy then delete, so a crash between them leaves both files, as a re-drop does).
        storage.move(file, bucket / drop.target)  # S3: copying again over the first copy is harmless
        _write_spec(bucket, drop, drop_spec(template, base, rule, PurePosixPath(drop.target).name, name))
        _unmark(file)
        return DropOutcome(source, True, drop.target, rule.id, drop.run_id, drop.conf, rows=rows)
    except DropRefused as refused:
        return _quarantine(bucket, file, source, name, rule, refused, today)


def _checked(bucket: Location, file: Location, name: str, rule: DropRule | None, engine, today: str):
    """Every check a drop passes before anything is recorded or moved (DropRefused names the first that fails):
    the rule's template, its rows, and the SHA-256 of its bytes."""
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
    return template, base, numbers.height, digest


def check_drop(bucket: Location | str, file: Location | str, *, engine=None) -> DropOutcome:
    """What `process_drop` would do with a file in the bucket, without recording or moving anything: accepted
    (target and run left empty), or refused with the reason its reason.json would hold (`smsflow drops check`)."""
    from pipelines.store import open_store
    from pipelines.store.drops import rule_for

    bucket, file = _in_bucket(bucket, file)
    source = _relative(bucket, file)
    engine = engine or open_store(bucket=bucket if isinstance(bucket, Path) else None)
    if not storage.exists(file):
        raise FileNotFoundError(2, "no such file in the bucket", str(file))
    rule = rule_for(engine, source)
    try:
        _, _, rows, digest = _checked(bucket, file, PurePosixPath(source).name, rule, engine, _today())
        _recorded(bucket, engine, digest, source)
    except DropRefused as refused:
        return DropOutcome(source, False, None, rule.id if rule else None, reason=_reason(file, rule, refused))
    return DropOutcome(source, True, None, rule.id, rows=rows)


def _in_bucket(bucket: Location | str, file: Location | str) -> tuple[Location, Location]:
    """The bucket and the file, the file's `..` folded (never a way out of the bucket: _relative then refuses it)
    and its folders' links followed (a folder linked to elsewhere is elsewhere); the file's own link is judged by
    _checked."""
    bucket, file = storage.location(bucket), storage.location(file)
    if isinstance(bucket, Path):
        file = Path(os.path.normpath(Path(file).absolute()))
        return bucket.resolve(), file.parent.resolve() / file.name
    return bucket, file


def _recorded(bucket: Location, engine, digest: str, source: str):
    """The drop recorded with these bytes when this is its retry (same source, its spec not written yet); None when
    they were never recorded; DropRefused when they were, from another drop or done: a duplicate (DROP-2)."""
    from pipelines.store.drops import drop_by_hash

    drop = drop_by_hash(engine, digest)
    if drop is None or (drop.source == source and not storage.exists(bucket / drop.conf["spec_path"])):
        return drop
    raise DropRefused("duplicate", f"the same bytes were dropped as {drop.source} (now {drop.target}), which "
                                   f"started run {drop.run_id}", "DROP-2", first=drop.source, run_id=drop.run_id)


def _write_spec(bucket: Location, drop, data: dict) -> None:
    storage.write_bytes(bucket / drop.conf["spec_path"],
                        yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8"))


def _finish_moved(bucket: Location, engine, drop) -> None:
    """A drop moved to processed/ before its spec was written (the task stopped in between): its spec, now."""
    from pipelines.store.drops import rule_by_id

    rule = rule_by_id(engine, drop.rule_id)
    if rule is None:
        raise RuntimeError(f"drop {drop.source} is in {drop.target} without its spec, and its rule {drop.rule_id} "
                           f"was removed: write {drop.conf['spec_path']} by hand or drop it again [DROP-3]")
    template, base = template_spec(bucket, rule, engine)
    name = PurePosixPath(drop.source).name
    _write_spec(bucket, drop, drop_spec(template, base, rule, PurePosixPath(drop.target).name, name))


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
    reason = {**_reason(file, rule, refused), "quarantined_as": target}
    storage.write_bytes(bucket / f"{target}.reason.json",
                        json.dumps(reason, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
    storage.move(file, bucket / target)  # last: a crash before it leaves the file where it was dropped
    _unmark(file)
    return DropOutcome(source, False, target, rule.id if rule else None, reason=reason)


def _reason(file: Location, rule: DropRule | None, refused: DropRefused) -> dict:
    """What a reason.json says: the rule, the check that failed and why, the file, where in it when known."""
    return {"rule": rule.id if rule else None, "account": rule.account_id if rule else None, "file": str(file),
            "check": refused.check, "reason": refused.reason, "rule_id": refused.rule, "line": refused.line,
            "row": refused.row, "column": refused.column, "details": refused.details,
            "at": datetime.now(timezone.utc).isoformat()}


def _unmark(file: Location) -> None:
    marker = file.parent / f"{file.name}{MARKER}"
    try:
        storage.delete(marker)
    except FileNotFoundError:
        pass


# --- What waits ---------------------------------------------------------------------------------------------------
def marked_drops(bucket: Location | str, engine=None) -> list[Location]:
    """The files waiting under the rules' prefixes and `incoming/`: in a folder, those with their `.done` marker
    beside them (a file without one may still be written); on S3, every object (an object is whole once listed: a
    marker, when the CRM writes one all the same, is removed with its drop). A marker left without its file (a
    crash after the move) is removed."""
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
        if where.name.startswith(".") or text.endswith((".reason.json", ".spec.yaml", "/")):
            continue  # a temporary file being written, smsflow's own, or an S3 console's empty "folder"
        if isinstance(bucket, ObjectUrl) or f"{text}{MARKER}" in names:
            ready.append(where)
    return ready


def process_marked(bucket: Location | str, *, engine=None) -> list[DropOutcome]:
    """Every marked drop waiting, processed (the sweep `sms_drops` runs, and `smsflow drops` could)."""
    return [outcome for where in marked_drops(bucket, engine) if (outcome := _each(bucket, where, engine))]


def _each(bucket: Location, where: Location, engine=None) -> DropOutcome | None:
    """One drop of a sweep: one that cannot be handled (outside the bucket, a store or storage error) is logged
    and left where it is (retried by the next sweep), never in the way of the others."""
    try:
        return process_drop(bucket, where, engine=engine)
    except Exception as error:  # noqa: BLE001 - DROP-3: the other drops of the sweep still end somewhere
        log.warning("drop %s not handled (%s: %s): left where it is, tried again at the next sweep [DROP-3]",
                    where, type(error).__name__, error)
        return None


def start_drops(bucket: Location | str, files: Iterable[str | Location] = ()) -> dict[str, list[dict]]:
    """What `sms_drops` runs: the files its Asset events name (`file:///…`, s3://…, or relative to the bucket; their
    marker was taken by the watcher's trigger), then every other marked drop waiting. Returns the runs to start,
    `{"trigger_run_id", "conf"}` each (TriggerDagRunOperator's arguments), and the drops quarantined."""
    bucket = storage.location(bucket)
    named = [storage.location(name.removeprefix("file://")) if name.startswith(("file://", "s3://", "/"))
             else bucket / name for name in map(str, files)]
    outcomes = [outcome for where in {str(where): where for where in named}.values()
                if (outcome := _each(bucket, where))]
    outcomes += process_marked(bucket)
    runs = {outcome.run_id: outcome.conf for outcome in outcomes if outcome.accepted}  # a run once
    return {"accepted": [{"trigger_run_id": run_id, "conf": conf} for run_id, conf in runs.items()],
            "quarantined": [{"source": outcome.source, "target": outcome.target, "check": outcome.reason["check"],
                             "reason": outcome.reason["reason"]} for outcome in outcomes if outcome.reason]}
