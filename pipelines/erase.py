"""PLUS-8: erase a number everywhere smsflow wrote it, and purge old campaigns' personal data.

Everywhere: every file under the bucket (input lists in any charset and delimiter, plans, quarantine, send ledgers,
events, reports, specs, summaries), every warehouse (DuckDB files and lakes, in the bucket, or named), every account-store table.
The number, however written, becomes its keyed hash (`hmac:<hex>`, pipelines.store.erase), so its opt-out still
holds and the plan, ledger and warehouse still join on it. Each file is rewritten whole and put in place atomically
(written beside it, then os.replace); a warehouse file is rebuilt into a new file (the old one keeps erased bytes in its
free blocks), a lake forgets its history (pipelines.lake.forget_history), the SQLite store is vacuumed. The SMSC (its simulator's log) is the operator's, outside the bucket.
"""

from __future__ import annotations

import calendar
import codecs
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.erase_warehouse import _rebuild, erase_in_warehouse
from pipelines.compaction import paused
from pipelines.layout import SHARED_EVENTS, CampaignPaths
from pipelines.store.lists import SAVED_FOLDER
from pipelines.store.erase import (
    HASH_PREFIX, NumberForms, erase_key, erase_rows, hash_numbers, hash_phone_like, number_forms,
    purge_store_rows,
    record_erasure, scrub,
)


WAREHOUSE_SUFFIXES = (".duckdb", ".ddb")
_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass
class ErasureReport:
    """What an erase changed: files rewritten (relative to the bucket), rows per warehouse and store table."""

    number_hash: str
    account_id: str | None
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # binary files smsflow cannot read: not searched
    warehouse: dict[str, int] = field(default_factory=dict)
    store: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _atomic_write(path: Path, data: bytes | None = None, frame: pl.DataFrame | None = None) -> None:
    """Replace `path` whole: written beside it, then renamed over it (a reader sees the old or the new file)."""
    staging = path.with_name(f".{path.name}.erase-{uuid.uuid4().hex[:8]}")
    try:
        if frame is not None:
            frame.write_parquet(staging)
        else:
            with staging.open("wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        shutil.copymode(path, staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def _utf16(head: bytes) -> str | None:
    """The UTF-16 codec of a file by its BOM or its NUL bytes (one per ASCII character), else None."""
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    sample = head[: len(head) // 2 * 2]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if len(sample) >= 2 and even + odd >= len(sample) // 4 and abs(even - odd) > (even + odd) // 2:
        return "utf-16-le" if odd > even else "utf-16-be"
    return None


def erase_in_text_file(path: Path, forms: NumberForms) -> bool | None:
    """The number replaced in a text file, its encoding, BOM, delimiter and line breaks kept; None: not text."""
    data = path.read_bytes()
    codec = _utf16(data[:4096])
    if codec is not None:
        bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE
        body = data[len(bom):] if data.startswith(bom) else data
        text = body.decode(codec, errors="surrogatepass")
        replaced = forms.replace_text(text)
        if replaced == text:
            return False
        _atomic_write(path, (bom if data.startswith(bom) else b"") + replaced.encode(codec, errors="surrogatepass"))
        return True
    if b"\x00" in data:
        return None
    # UTF-8, Windows-1252 and Latin-1 write digits, +, spaces and dots as ASCII bytes: replaced as bytes.
    replaced = forms.bytes_pattern.sub(forms.hash.encode("ascii"), data)
    if replaced == data:
        return False
    _atomic_write(path, replaced)
    return True


def erase_in_parquet(path: Path, forms: NumberForms) -> bool:
    """Every text column of a Parquet file (plans, events) with the number replaced."""
    frame = pl.read_parquet(path)
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    hits = frame.select(pl.any_horizontal(pl.col(name).str.contains(forms.re2_pattern).fill_null(False)
                                          for name in texts).any()).item() if texts else False
    if not hits:
        return False
    value = "${1}" + forms.hash + "${3}"
    _atomic_write(path, frame=frame.with_columns(
        pl.col(name).str.replace_all(forms.re2_pattern, value).str.replace_all(forms.re2_pattern, value)
        for name in texts))
    return True


def _is_warehouse(path: Path, head: bytes) -> bool:
    return path.suffix in WAREHOUSE_SUFFIXES or head[8:12] == b"DUCK"


def _store_files(engine) -> set[Path]:
    """The SQLite store's own files (its rows are erased with SQL, then the file is vacuumed)."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return set()
    database = Path(engine.url.database).resolve()
    return {database, *(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal"))}


def _other_accounts_campaigns(bucket: Path, account_id: str | None) -> set[str]:
    """The campaign folders of the bucket that belong to another account (their plan's summary says so)."""
    if account_id is None or not (bucket / "campaigns").is_dir():
        return set()
    others = set()
    for folder in (bucket / "campaigns").iterdir():
        summary = CampaignPaths(folder).summary
        if summary.is_file():
            owner = (json.loads(summary.read_text(encoding="utf-8")).get("campaign") or {}).get("account")
            if (owner or "default") != account_id:
                others.add(folder.name)
    return others


def bucket_files(bucket: Path, skip_campaigns: Iterable[str] = ()) -> Iterator[Path]:
    """Every regular file under the bucket (symbolic links are not followed), but the skipped campaigns'."""
    skipped = {(bucket / "campaigns" / name).resolve() for name in skip_campaigns}
    for folder, folders, files in os.walk(bucket):
        here = Path(folder).resolve()
        folders[:] = [name for name in folders if (here / name) not in skipped and not (here / name).is_symlink()]
        for name in files:
            path = here / name
            if not path.is_symlink():
                yield path


def erase_number(engine, number: str, *, bucket: Path, warehouses: Iterable[Path] = (),
                 account_id: str | None = None, by: str | None = None) -> ErasureReport:
    """PLUS-8: `number` (any written form) replaced by its keyed hash in every file under `bucket`, every
    warehouse (those in the bucket and `warehouses`) and every store table; audited in `erasures`.

    With `account_id`, only that account's store rows, campaigns (folders whose plan names it) and warehouse rows;
    files that are no campaign's (input lists, the shared events folder) are erased in every case.
    """
    forms = number_forms(engine, number)
    bucket = Path(bucket)
    report = ErasureReport(forms.hash, account_id)
    skip = _other_accounts_campaigns(bucket, account_id)
    store_files = _store_files(engine)
    databases = {Path(path).resolve() for path in warehouses if Path(path).exists()}
    from pipelines.lake import lakes_to_erase

    lakes, lake_data = lakes_to_erase(bucket, warehouses, bucket_files(bucket))
    store_files |= lake_data[1]  # a lake's files are erased through the lake, never rewritten under it
    from pipelines.links.erase import erase_links, erased_recipients

    tracked = erased_recipients(bucket, [forms.e164, forms.hash], skip)  # before the walk hashes the plans
    report.files += [str(path.resolve().relative_to(bucket.resolve())) for path in erase_links(bucket, tracked)]
    with paused(bucket / SHARED_EVENTS):  # no compaction rewrites the events folder while it is erased
        _erase_files(bucket, skip, forms, store_files, lake_data, databases, report)
    for database in [*sorted(databases - {Path(location) for location in lakes}), *lakes]:
        for column, count in erase_in_warehouse(database, forms, skip_campaigns=skip, account_id=account_id).items():
            report.warehouse[f"{Path(database).name}:{column}"] = count
    report.store = erase_rows(engine, forms, account_id)
    record_erasure(engine, account_id=account_id, number_hash=forms.hash, by=by,
                   detail={"files": len(report.files), "warehouse": report.warehouse, "store": report.store,
                           "skipped": report.skipped})
    scrub(engine)
    return report


def _erase_files(bucket: Path, skip, forms, store_files: set, lake_data, databases: set, report) -> None:
    """erase_number's walk over the bucket's files: each rewritten with the number hashed; the warehouses found are
    added to `databases` (erased after)."""
    for path in bucket_files(bucket, skip):
        if path in store_files or path.name.endswith(".migrate-lock") or path.suffix == ".wal" or \
                any(folder in path.parents for folder in lake_data[0]):
            continue
        with path.open("rb") as stream:
            head = stream.read(4096)
        if _is_warehouse(path, head):
            databases.add(path)
            continue
        if head.startswith(b"PAR1"):
            done = erase_in_parquet(path, forms)
        elif head.startswith(_SQLITE_MAGIC):
            done = None
        else:
            done = erase_in_text_file(path, forms)
        if done is None:
            report.skipped.append(str(path.relative_to(bucket.resolve())))
        elif done and str(path.relative_to(bucket.resolve())) not in report.files:
            report.files.append(str(path.relative_to(bucket.resolve())))


# --- Retention (PLUS-8): old campaigns' personal data purged, their aggregates kept. ---------------------------

_AGE = {"d": "days", "m": "months", "y": "years"}
_KEPT_COLUMNS = {"REF_LIST", "INT_MOBILE", "MF_COUNTRY", "STATUS_TEXT", "ENCODING"}  # text columns a plan keeps


def cutoff(older_than: str, now: datetime) -> datetime:
    """`now` minus an age written `24m`, `90d` or `2y` (calendar months and years)."""
    match = re.fullmatch(r"\s*(\d+)\s*([dmy])\s*", older_than or "")
    if not match:
        raise ValueError(f"--older-than {older_than!r} is not an age such as 90d, 24m or 2y [PLUS-8]")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "d":
        return now - timedelta(days=count)
    months = count * (12 if unit == "y" else 1)
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


def purge_campaign(engine, bucket: Path, campaign_id: str, databases: Iterable[Path]) -> dict:
    """One campaign's personal data erased: numbers become hashes (plan, ledger, events, spec, summary,
    warehouse, store), the raw numbers, messages and list fields go, the per-recipient report and quarantine
    files go; counts per status, stats.json and the summary's figures stay."""
    import duckdb

    from pipelines.queries import has_report_cells, queries, refresh_report_cells

    key = erase_key(engine)
    paths = CampaignPaths.in_bucket(bucket, campaign_id)
    mapping = pl.DataFrame(schema={"number": pl.String, "hash": pl.String})
    if paths.recipients.is_file():
        plan = pl.read_parquet(paths.recipients)
        numbers = plan.get_column("INT_MOBILE").drop_nulls().unique()
        numbers = numbers.filter(numbers.str.starts_with("+"))
        mapping = pl.DataFrame({"number": numbers, "hash": hash_numbers(key, numbers)})
        personal = [name for name, dtype in plan.schema.items() if dtype == pl.String and name not in _KEPT_COLUMNS]
        hashed = plan.get_column("INT_MOBILE").replace(mapping["number"], mapping["hash"])
        _atomic_write(paths.recipients, frame=plan.with_columns(
            hashed.alias("INT_MOBILE"), *(pl.lit(None, dtype=pl.String).alias(name) for name in personal)))
    for folder in (paths.events, paths.test_events):
        for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else ():
            events = pl.read_parquet(path)
            if "handset" in events.columns:
                plus = ("+" + events.get_column("handset").str.strip_chars_start("+")).alias("handset")
                _atomic_write(path, frame=events.with_columns(
                    pl.when(events.get_column("handset").str.starts_with(HASH_PREFIX)).then(pl.col("handset"))
                    .otherwise(hash_numbers(key, plus)).alias("handset")))
    for path in (paths.report, paths.quarantine):
        path.unlink(missing_ok=True)
    from pipelines.links.erase import purge_links

    purge_links(bucket, campaign_id)  # URL-2, URL-4: personalised targets and previews, the clicks' agents
    for path in bucket_files(paths.root) if paths.root.is_dir() else ():
        # A saved list's version, written for the campaign, is named after the list (no suffix of its own).
        if path.suffix in (".jsonl", ".json", ".yaml", ".yml", ".csv", ".txt") or SAVED_FOLDER in path.parts:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
            replaced = hash_phone_like(text, key)
            if replaced != text:
                _atomic_write(path, replaced.encode("utf-8", errors="surrogateescape"))
    summary = paths.summary.read_text(encoding="utf-8") if paths.summary.is_file() else None
    sql = queries("erase.sql")["purge_campaign"]
    from pipelines import lake

    for database in databases:
        in_lake = lake.is_lake(database)
        if in_lake:
            from pipelines.warehouse import connect

            opened = connect(database)
            lake.flush_inlined(opened)
        with (opened if in_lake else duckdb.connect(str(database))) as connection:
            connection.register("purged_numbers", mapping.to_arrow())
            for statement in filter(None, (part.strip() for part in sql.split(";"))):
                names = {"campaign": campaign_id, "summary": summary}
                connection.execute(statement, {k: v for k, v in names.items() if f"${k}" in statement})
            if connection.execute(queries("erase.sql")["has_clicks"]).fetchone()[0]:
                connection.execute(queries("erase.sql")["purge_clicks"], {"campaign": campaign_id})
            if has_report_cells(connection):  # REP-2's stored cells hold the list's fields and the number: redone
                refresh_report_cells(connection, campaign_id)
            name = connection.execute(queries("erase.sql")["current_database"]).fetchone()[0]
            if not in_lake:
                _rebuild(connection, database, name)
        if in_lake:
            lake.forget_history(database)
    return {"campaign": campaign_id, "numbers": mapping.height,
            "store": purge_store_rows(engine, campaign_id, dict(mapping.iter_rows()), key)}


def purge(engine, *, bucket: Path, older_than: str | None = None, warehouses: Iterable[Path] = (),
          account_id: str | None = None, now: datetime | None = None, by: str | None = None) -> dict:
    """PLUS-8 retention: the personal data of campaigns finished or cancelled before the cutoff (`older_than`,
    else each account's `retention_months`; an account without one keeps its campaigns) erased, aggregates kept;
    audited in `erasures`. Idempotent: a purged campaign purged again changes nothing."""
    from sqlalchemy import select

    from pipelines.store.accounts import get_account
    from pipelines.store.engine import now as store_now
    from pipelines.store.schema import campaigns

    moment = now or store_now()
    if older_than is not None:
        cutoff(older_than, moment)  # a bad age is refused before anything is read
    query = select(campaigns.c.id, campaigns.c.account_id, campaigns.c.updated_at).where(
        campaigns.c.status.in_(("finished", "cancelled")))
    if account_id is not None:
        query = query.where(campaigns.c.account_id == account_id)
    with engine.begin() as connection:
        ended = connection.execute(query.order_by(campaigns.c.updated_at)).all()
    limits: dict[str, datetime | None] = {}
    for _id, owner, _at in ended:
        if owner not in limits:
            months = get_account(engine, owner).retention_months
            limits[owner] = cutoff(older_than, moment) if older_than else \
                cutoff(f"{months}m", moment) if months else None
    bucket = Path(bucket)
    from pipelines.lake import lakes_to_erase

    lakes, _ = lakes_to_erase(bucket, warehouses, bucket_files(bucket))
    databases = sorted({Path(path).resolve() for path in warehouses if Path(path).exists()} - set(map(Path, lakes)) |
                       {path for path in bucket_files(bucket) if path.suffix in WAREHOUSE_SUFFIXES}) + lakes
    purged = []
    for campaign_id, owner, updated_at in ended:
        limit = limits[owner]
        if limit is not None and updated_at.replace(tzinfo=updated_at.tzinfo or moment.tzinfo) < limit:
            purged.append(purge_campaign(engine, bucket, campaign_id, databases))
    if purged:
        record_erasure(engine, account_id=account_id, number_hash=None, by=by,
                       detail={"purge": older_than or "retention_months", "before": moment.isoformat(),
                               "campaigns": purged})
        scrub(engine)
    return {"campaigns": purged, "older_than": older_than}
