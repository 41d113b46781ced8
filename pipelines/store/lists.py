"""LIST-4: saved lists, on the platform under a name, versioned, reused by campaigns.

A list is imported from any file smsflow reads as a campaign list (the same reader: charsets, delimiters, header
rules, LIST-2's mobile column). A row belongs to the versions [added_in, removed_in): adding or removing a
recipient, or importing the list again, makes a new version without copying the rows. A campaign names
`{saved: NAME}` (the latest version) or `{saved: NAME, version: N}`; the version is written out as a list file
in the campaign's folder (`materialise`), named so that its REF_LIST is the saved list's name, and the campaign
records which version it used.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, Text, and_, cast, delete as sql_delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from pipelines.store.accounts import account_in
from pipelines.store.engine import StoreError, now as store_now
from pipelines.store.schema import saved_list_rows, saved_list_versions, saved_lists

INSERT_ROWS = 10_000  # rows per executemany
SAVED_FOLDER = "saved-lists"  # in a campaign's folder: saved-lists/v<N>/<name>, REF_LIST = <name>
_NAME = re.compile(r"^[^\s./\\\x00-\x1f][^/\\\x00-\x1f]{0,127}$")
_RESERVED = ("manual",)  # LIST-5's REF_LIST


class SavedListError(StoreError):
    """A saved list refused or not found (names the list, the account and the rule)."""


@dataclass(frozen=True)
class ListVersion:
    """One version of a saved list: its rows, its columns and what made it."""

    version: int
    rows: int
    columns: tuple[str, ...]
    mobile_column: str
    change: str
    at: datetime

    def as_dict(self) -> dict:
        return {"version": self.version, "rows": self.rows, "columns": list(self.columns),
                "mobile_column": self.mobile_column, "change": self.change, "at": self.at.isoformat()}


@dataclass(frozen=True)
class SavedList:
    """A saved list as its latest version has it."""

    account_id: str
    name: str
    version: int
    rows: int
    columns: tuple[str, ...]
    mobile_column: str
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict:
        return {"account": self.account_id, "name": self.name, "version": self.version, "rows": self.rows,
                "columns": list(self.columns), "mobile_column": self.mobile_column,
                "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True)
class ListView:
    """A version of a saved list: its first recipients (`show`) or those found (`search`), and its history."""

    saved: SavedList
    version: ListVersion
    recipients: list[dict]  # {"line", "number", "int_mobile", "fields": {column: value}}
    versions: list[ListVersion]

    def as_dict(self) -> dict:
        return {**self.saved.as_dict(), "shown_version": self.version.as_dict(), "recipients": self.recipients,
                "versions": [version.as_dict() for version in self.versions]}


def _checked_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.fullmatch(name) or name in _RESERVED:
        raise SavedListError(f"saved list name {name!r}: 1 to 128 characters, no '/', '\\' or control character, "
                             f"not starting with '.' or a space, not {', '.join(_RESERVED)} [LIST-4]")
    return name


def _aware(moment: datetime) -> datetime:
    from datetime import timezone

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)  # SQLite drops the zone


def _in_version(version: int):
    """The rows of `version`: added at or before it, not removed at or before it."""
    return and_(saved_list_rows.c.added_in <= version,
                or_(saved_list_rows.c.removed_in.is_(None), saved_list_rows.c.removed_in > version))


def _find(connection, account_id: str, name: str, *, lock: bool = False):
    account_in(connection, account_id)
    query = select(saved_lists).where(saved_lists.c.account_id == account_id, saved_lists.c.name == name)
    row = connection.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise SavedListError(f"no saved list {name!r} in account {account_id!r} (smsflow lists list --account "
                             f"{account_id} shows its lists) [LIST-4]")
    return row


def _version(connection, list_row, version: int | None) -> ListVersion:
    number = list_row.version if version is None else version
    row = connection.execute(select(saved_list_versions).where(saved_list_versions.c.list_id == list_row.id,
                                                               saved_list_versions.c.version == number)).first()
    if row is None:
        raise SavedListError(f"saved list {list_row.name!r} of account {list_row.account_id!r} has no version "
                             f"{number} (versions 1 to {list_row.version}) [LIST-4]")
    return ListVersion(row.version, row.rows, tuple(row.columns), row.mobile_column, row.change, _aware(row.at))


def _versions(connection, list_id: int) -> list[ListVersion]:
    rows = connection.execute(select(saved_list_versions).where(saved_list_versions.c.list_id == list_id)
                              .order_by(saved_list_versions.c.version))
    return [ListVersion(r.version, r.rows, tuple(r.columns), r.mobile_column, r.change, _aware(r.at)) for r in rows]


def _saved(connection, list_row) -> SavedList:
    latest = _version(connection, list_row, None)
    return SavedList(list_row.account_id, list_row.name, list_row.version, latest.rows, tuple(list_row.columns),
                     list_row.mobile_column, _aware(list_row.created_at), _aware(list_row.updated_at))


def _count(connection, list_id: int, version: int) -> int:
    return connection.execute(select(func.count()).select_from(saved_list_rows)
                              .where(saved_list_rows.c.list_id == list_id, _in_version(version))).scalar_one()


def _new_version(connection, list_row, change: str, columns, mobile_column: str, stamp: datetime) -> int:
    """Record version list_row.version + 1 (its rows already written) and make it the latest."""
    version = list_row.version + 1
    connection.execute(insert(saved_list_versions).values(
        list_id=list_row.id, version=version, rows=_count(connection, list_row.id, version), columns=list(columns),
        mobile_column=mobile_column, change=change, at=stamp))
    connection.execute(update(saved_lists).where(saved_lists.c.id == list_row.id).values(
        version=version, columns=list(columns), mobile_column=mobile_column, updated_at=stamp))
    return version


def _e164(numbers: pl.Series) -> pl.DataFrame:
    from pipelines.numbers import normalise_numbers

    return normalise_numbers(numbers)


def import_list(engine: Engine, account_id: str, name: str, path: Path | str, *,
                now: datetime | None = None) -> SavedList:
    """Save the list file `path` under `name` (LIST-4): a new list, or a new version whose rows replace the old
    ones (kept for the campaigns that used them). Any list smsflow reads is read the same way (LIST-1..3, 6)."""
    from pipelines.lists import ID_LINE, inspect_list, read_list_batches

    name = _checked_name(name)
    layout = inspect_list(Path(path))
    others = layout.personalisation_columns
    stamp = now or store_now()
    with engine.begin() as connection:
        account_in(connection, account_id)
        query = select(saved_lists).where(saved_lists.c.account_id == account_id, saved_lists.c.name == name)
        list_row = connection.execute(query.with_for_update()).first()
        if list_row is None:
            try:
                connection.execute(insert(saved_lists).values(
                    account_id=account_id, name=name, columns=layout.columns, mobile_column=layout.mobile_column,
                    version=0, created_at=stamp, updated_at=stamp))
            except IntegrityError:  # PostgreSQL: another import created it since (nothing to lock before)
                raise SavedListError(f"saved list {name!r} of account {account_id!r} was created by another "
                                     f"import at the same moment: import again to make a new version "
                                     f"[LIST-4]") from None
            list_row = connection.execute(query).one()
        version = list_row.version + 1
        connection.execute(update(saved_list_rows).where(saved_list_rows.c.list_id == list_row.id,
                                                         saved_list_rows.c.removed_in.is_(None))
                           .values(removed_in=version))
        for batch in read_list_batches(layout):
            numbers = batch.get_column(layout.mobile_column)
            rows = batch.select(
                pl.lit(list_row.id, dtype=pl.Int64).alias("list_id"), pl.col(ID_LINE).alias("line"),
                pl.col(layout.mobile_column).alias("number"), pl.lit(version, dtype=pl.Int64).alias("added_in"),
                _e164(numbers).get_column("INT_MOBILE").alias("int_mobile"),
                (pl.struct([pl.col(column) for column in others]).struct.json_encode() if others
                 else pl.lit("{}")).alias("fields"),
            )
            _insert(connection, rows)
        _new_version(connection, list_row, f"import {layout.path.name}", layout.columns, layout.mobile_column, stamp)
        return _saved(connection, _find(connection, account_id, name))


def _insert(connection, rows: pl.DataFrame) -> None:
    """Rows into saved_list_rows in bulk (`fields` already JSON text, encoded by Polars in one operation).

    Below SQLAlchemy on purpose: 100k rows must take seconds. PostgreSQL gets one COPY of a CSV that Polars
    writes (every text quoted, so an empty number stays '' and a missing E.164 is NULL); SQLite an executemany.
    """
    columns = ("list_id", "line", "number", "int_mobile", "added_in", "fields")
    rows = rows.select(columns)
    if connection.dialect.name == "postgresql":
        data = rows.write_csv(include_header=False, quote_style="non_numeric", line_terminator="\n")
        with connection.connection.dbapi_connection.cursor() as cursor, cursor.copy(
                f"COPY {saved_list_rows.name} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(data)
        return
    statement = (f"INSERT INTO {saved_list_rows.name} ({', '.join(columns)}) "
                 f"VALUES ({', '.join('?' for _ in columns)})")
    for start in range(0, rows.height, INSERT_ROWS):
        connection.exec_driver_sql(statement, rows.slice(start, INSERT_ROWS).rows())


def _recipients(connection, list_id: int, version: ListVersion, *conditions, limit: int | None = None) -> pl.DataFrame:
    """The rows of `version` matching `conditions`, in list order: line, number, int_mobile and one column per
    field (JSON decoded in one vector operation)."""
    query = (select(saved_list_rows.c.line, saved_list_rows.c.number, saved_list_rows.c.int_mobile,
                    cast(saved_list_rows.c.fields, Text).label("fields"))
             .where(saved_list_rows.c.list_id == list_id, _in_version(version.version), *conditions)
             .order_by(saved_list_rows.c.line, saved_list_rows.c.id))
    if limit is not None:
        query = query.limit(limit)
    result = connection.execute(query).all()
    others = [column for column in version.columns if column != version.mobile_column]
    frame = pl.DataFrame(result, schema={"line": pl.Int64, "number": pl.String, "int_mobile": pl.String,
                                         "fields": pl.String}, orient="row")
    decoded = pl.col("fields").str.json_decode(pl.Struct({column: pl.String for column in others})) \
        if others else None
    return frame.select("line", "number", "int_mobile",
                        *[decoded.struct.field(column).fill_null("").alias(f"field:{column}") for column in others])


def _as_dicts(frame: pl.DataFrame) -> list[dict]:
    return [{"line": row.pop("line"), "number": row.pop("number"), "int_mobile": row.pop("int_mobile"),
             "fields": {key.removeprefix("field:"): value for key, value in row.items()}} for row in frame.to_dicts()]


def show(engine: Engine, account_id: str, name: str, version: int | None = None, *, limit: int | None = 20) -> ListView:
    """A version of a saved list (the latest unless named): its first `limit` recipients (None: all)."""
    with engine.begin() as connection:
        list_row = _find(connection, account_id, name)
        shown = _version(connection, list_row, version)
        recipients = _recipients(connection, list_row.id, shown, limit=limit)
        return ListView(_saved(connection, list_row), shown, _as_dicts(recipients), _versions(connection, list_row.id))


def search(engine: Engine, account_id: str, name: str, text: str, version: int | None = None) -> ListView:
    """The recipients of a saved list whose number is `text` in any format (compared in E.164, NUM-1/2) or
    one of whose field values contains `text` (case-insensitive)."""
    text = (text or "").strip()
    if not text:
        raise SavedListError(f"search saved list {name!r}: give a number or a field value to look for [LIST-4]")
    e164 = _e164(pl.Series([text])).item(0, "INT_MOBILE")
    with engine.begin() as connection:
        list_row = _find(connection, account_id, name)
        shown = _version(connection, list_row, version)
        rows = _recipients(connection, list_row.id, shown)
        needle = text.casefold()
        fields = [column for column in rows.columns if column.startswith("field:")]
        found = rows.filter(pl.any_horizontal(
            pl.col("int_mobile").eq(e164).fill_null(False) if e164 else pl.lit(False),
            pl.col("number").str.strip_chars().eq(text),
            *[pl.col(column).str.to_lowercase().str.contains(needle, literal=True) for column in fields]))
        return ListView(_saved(connection, list_row), shown, _as_dicts(found), _versions(connection, list_row.id))


def add(engine: Engine, account_id: str, name: str, number: str, fields: dict[str, str] | None = None, *,
        now: datetime | None = None) -> SavedList:
    """Add a recipient (a valid mobile number, fields among the list's columns) as a new version."""
    number, fields = (number or "").strip(), {str(key).strip(): str(value) for key, value in (fields or {}).items()}
    verdict = _e164(pl.Series([number])).row(0, named=True)
    if not verdict["MF_VALID"]:
        raise SavedListError(f"add to saved list {name!r}: {number!r} is not a valid mobile number [LIST-4, NUM-2]")
    with engine.begin() as connection:
        list_row = _find(connection, account_id, name, lock=True)
        latest = _version(connection, list_row, None)
        others = [column for column in latest.columns if column != latest.mobile_column]
        unknown = [key for key in fields if key not in others]
        if unknown:
            raise SavedListError(f"add to saved list {name!r}: no column {', '.join(map(repr, unknown))}; its "
                                 f"fields are {', '.join(map(repr, others)) or 'none'} [LIST-3, LIST-4]")
        present = connection.execute(select(saved_list_rows.c.line).where(
            saved_list_rows.c.list_id == list_row.id, _in_version(latest.version),
            saved_list_rows.c.int_mobile == verdict["INT_MOBILE"])).first()
        if present is not None:
            raise SavedListError(f"{verdict['INT_MOBILE']} is already in saved list {name!r} (line {present.line}) "
                                 f"[LIST-4, NUM-3]")
        last = connection.execute(select(func.max(saved_list_rows.c.line))
                                  .where(saved_list_rows.c.list_id == list_row.id)).scalar() or 0
        version = latest.version + 1
        connection.execute(insert(saved_list_rows).values(
            list_id=list_row.id, line=last + 1, number=number, int_mobile=verdict["INT_MOBILE"],
            fields={column: fields.get(column, "") for column in others}, added_in=version))
        stamp = now or store_now()
        _new_version(connection, list_row, f"add {verdict['INT_MOBILE']}", latest.columns, latest.mobile_column,
                     stamp)
        return _saved(connection, _find(connection, account_id, name))


def remove(engine: Engine, account_id: str, name: str, number: str, *, now: datetime | None = None) -> SavedList:
    """Remove every row of `number` (any format) from a saved list, as a new version; older versions keep it."""
    number = (number or "").strip()
    e164 = _e164(pl.Series([number])).item(0, "INT_MOBILE")
    with engine.begin() as connection:
        list_row = _find(connection, account_id, name, lock=True)
        latest = _version(connection, list_row, None)
        match = saved_list_rows.c.int_mobile == e164 if e164 else saved_list_rows.c.number == number
        current = and_(saved_list_rows.c.list_id == list_row.id, _in_version(latest.version), match)
        if connection.execute(select(saved_list_rows.c.id).where(current)).first() is None:
            raise SavedListError(f"{e164 or number!r} is not in saved list {name!r} of account {account_id!r} "
                                 f"[LIST-4]")
        version = latest.version + 1
        connection.execute(update(saved_list_rows).where(current).values(removed_in=version))
        _new_version(connection, list_row, f"remove {e164 or number}", latest.columns, latest.mobile_column,
                     now or store_now())
        return _saved(connection, _find(connection, account_id, name))


def delete(engine: Engine, account_id: str, name: str) -> SavedList:
    """Delete a saved list and all its versions (campaigns keep the files they were planned from)."""
    with engine.begin() as connection:
        list_row = _find(connection, account_id, name, lock=True)
        saved = _saved(connection, list_row)
        connection.execute(sql_delete(saved_list_rows).where(saved_list_rows.c.list_id == list_row.id))
        connection.execute(sql_delete(saved_list_versions).where(saved_list_versions.c.list_id == list_row.id))
        connection.execute(sql_delete(saved_lists).where(saved_lists.c.id == list_row.id))
        return saved


def list_lists(engine: Engine, account_id: str) -> list[SavedList]:
    """The account's saved lists, by name, each as its latest version has it."""
    with engine.begin() as connection:
        account_in(connection, account_id)
        rows = connection.execute(select(saved_lists).where(saved_lists.c.account_id == account_id)
                                  .order_by(saved_lists.c.name)).all()
        return [_saved(connection, row) for row in rows]


def materialise(engine: Engine, account_id: str, name: str, version: int | None, folder: Path | str) -> Path:
    """Write a version of a saved list (the latest when None) as a list file: CSV, `;`, UTF-8, the mobile column
    first then the others as imported, at `folder`/saved-lists/v<version>/<name>, so the plan reads it like any
    list and its REF_LIST (the file's name, `inspect_list`) is the saved list's name."""
    with engine.begin() as connection:
        list_row = _find(connection, account_id, name)
        chosen = _version(connection, list_row, version)
        rows = _recipients(connection, list_row.id, chosen)
    others = [column for column in chosen.columns if column != chosen.mobile_column]
    frame = rows.select(pl.col("number").alias(chosen.mobile_column),
                        *[pl.col(f"field:{column}").alias(column) for column in others])
    target = Path(folder) / SAVED_FOLDER / f"v{chosen.version}" / list_row.name
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    frame.write_csv(staging, separator=";", line_terminator="\n")
    os.replace(staging, target)
    return target


def resolve_saved_lists(engine: Engine, spec, account_id: str, folder: Path | str):
    """The spec with every `{saved: NAME[, version: N]}` list replaced by its version written out in `folder`
    (the campaign's folder), and the versions used, {name: version}, for the campaign to record (LIST-4).

    Returns (CampaignSpec, dict[str, int]). A list unknown to `account_id` (another account's is unknown too,
    ACC-3) or a missing version is a SavedListError naming it; one campaign uses one version of a saved list.
    """
    from pipelines.spec.model import SavedListRef

    lists: list[str] = []
    versions: dict[str, int] = {}
    with engine.begin() as connection:  # the latest versions, as of one moment
        wanted = {}
        for entry in spec.lists:
            if isinstance(entry, SavedListRef):
                list_row = _find(connection, account_id, entry.saved)
                version = _version(connection, list_row, entry.version).version
                if wanted.get(list_row.name, version) != version:
                    raise SavedListError(f"saved list {list_row.name!r} is named with versions "
                                         f"{wanted[list_row.name]} and {version}: a campaign uses one version of "
                                         f"a saved list [LIST-4]")
                wanted[list_row.name] = version
    for entry in spec.lists:
        if isinstance(entry, SavedListRef):
            name = entry.saved.strip()
            path = materialise(engine, account_id, name, wanted[name], folder)
            versions[name] = wanted[name]
            lists.append(str(path.resolve()))
        else:
            lists.append(entry)
    return spec.model_copy(update={"lists": lists}), versions


def record_versions(engine: Engine, campaign_id: str, versions: dict[str, int]) -> bool:
    """LIST-4: the saved list versions a campaign used, on its row of the store (False: no such campaign row, e.g.
    a plan made by `smsflow plan` outside any campaign)."""
    from sqlalchemy import update

    from pipelines.store.schema import campaigns

    with engine.begin() as connection:
        changed = connection.execute(update(campaigns).where(campaigns.c.id == campaign_id)
                                     .values(list_versions=versions))
        return bool(changed.rowcount)
