"""BL-1, BL-2, PLUS-6: the own, global and client blacklists as store rows, every change audited.

- own: an account's (`account_id` = the account);
- global: the platform's, maintained by an administrator, applied to every account (`account_id` = schema.GLOBAL);
- client: the account's client's (`account_id` = the account's `client` setting, so every account of one client
  shares it; an account with no client has an empty client blacklist, and adding to it is refused).

Numbers are E.164 (pipelines.numbers.normalise_numbers on the whole column); one that is not a valid number (an
erased number's keyed hash, a short code) is kept as written. Adding a listed number or removing an unlisted one
changes nothing and audits nothing. STOP and START replies are recorded by `record_replies` (pipelines.optouts).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from sqlalchemy import (
    Column, DateTime, Engine, MetaData, String, Table, Text, and_, delete, exists, func, insert, literal, or_, select,
)

from pipelines.store.accounts import DEFAULT_ACCOUNT, account_in
from pipelines.store.engine import StoreError, now as store_now
from pipelines.store.schema import GLOBAL, blacklist, opt_out_audit

KINDS = ("own", "global", "client")
STATUSES = {"own": 14, "global": 15, "client": 18}  # BL-1: what the plan gives a listed number
_CHUNK = 5_000  # numbers per IN (...) and per multi-row INSERT
ACTIONS = {"stop": "stop", "start": "start", "import": "import", "erase": "erase"}  # source → audit action


class BlacklistError(StoreError, ValueError):
    """A blacklist change refused (names the kind, the account and the rule): the CLI's exit code 2."""


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise BlacklistError(f"blacklist kind {kind!r} is not one of {', '.join(KINDS)} [BL-1]")


def owner(connection, kind: str, account_id: str = DEFAULT_ACCOUNT, *, required: bool = True) -> str | None:
    """The `account_id` a blacklist's rows are kept under (see the module's docstring); the account must exist.

    A client blacklist of an account with no client: None, or a BlacklistError when `required` (a change)."""
    _check_kind(kind)
    account = account_in(connection, account_id)
    if kind == "own":
        return account.id
    if kind == "global":
        return GLOBAL
    if account.client is None and required:
        raise BlacklistError(f"account {account.id!r} has no client, so it has no client blacklist: an "
                             f"administrator sets one with smsflow account set {account.id} --client NAME [BL-1]")
    return account.client


def e164(numbers: Iterable[str] | pl.Series) -> pl.Series:
    """Numbers in E.164 where they are valid numbers, else as written (stripped: an erased number's keyed hash, a
    short code); blanks dropped, each once."""
    from pipelines.numbers import normalise_numbers

    raw = numbers if isinstance(numbers, pl.Series) else pl.Series("number", list(numbers), dtype=pl.String)
    raw = raw.cast(pl.String).str.strip_chars()
    raw = raw.filter(raw.is_not_null() & (raw.str.len_chars() > 0))
    if raw.is_empty():
        return pl.Series("number", [], dtype=pl.String)
    normal = normalise_numbers(raw)
    valid = normal.get_column("MF_VALID").fill_null(False)
    return pl.select(pl.when(valid).then(normal.get_column("INT_MOBILE")).otherwise(raw)).to_series() \
        .alias("number").unique(maintain_order=True)


def utc(value: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite gives it back naive; it was written in UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def chunks(values: list, size: int = _CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def blacklist_numbers(engine: Engine, account_id: str = DEFAULT_ACCOUNT) -> dict[str, pl.Series]:
    """BL-1: what the plan applies to a campaign of `account_id`: {"own", "global", "client"} → E.164 strings
    (statuses 14, 15, 18), read with one SELECT."""
    with engine.begin() as connection:
        client = owner(connection, "client", account_id, required=False)
        account = account_in(connection, account_id).id
        wanted = [and_(blacklist.c.kind == "own", blacklist.c.account_id == account),
                  and_(blacklist.c.kind == "global", blacklist.c.account_id == GLOBAL)]
        if client is not None:
            wanted.append(and_(blacklist.c.kind == "client", blacklist.c.account_id == client))
        rows = _driver_rows(connection, select(blacklist.c.kind, blacklist.c.number).where(or_(*wanted)))
    frame = pl.DataFrame(rows, schema={"kind": pl.String, "number": pl.String}, orient="row")
    parts = frame.partition_by("kind", as_dict=True, include_key=False)
    return {kind: parts[(kind,)].get_column("number") if (kind,) in parts
            else pl.Series("number", [], dtype=pl.String) for kind in KINDS}


def _driver_rows(connection, statement) -> list[tuple]:
    """A SELECT's rows as the driver's tuples: a million rows without building SQLAlchemy's Row objects (which
    takes twice as long). Values stay bound parameters."""
    compiled = statement.compile(dialect=connection.dialect)
    parameters = compiled.params
    if compiled.positiontup is not None:  # qmark (SQLite) or other positional paramstyles
        parameters = tuple(parameters[name] for name in compiled.positiontup)
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(str(compiled), parameters)
        return cursor.fetchall()
    finally:
        cursor.close()


def upsert_insert(connection, table):
    """INSERT ... ON CONFLICT for the store's backend (SQLite or PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table)


def delete_numbers(connection, kind: str, key: str, numbers: list[str]) -> list[str]:
    removed: list[str] = []
    for chunk in chunks(numbers):
        removed += connection.execute(
            delete(blacklist).where(blacklist.c.kind == kind, blacklist.c.account_id == key,
                                    blacklist.c.number.in_(chunk)).returning(blacklist.c.number)).scalars().all()
    return removed


def audit(connection, key: str, kind: str, numbers: list[str], action: str, *, campaign_id: str | None = None,
          text: str | None = None, by: str | None = None, at: datetime) -> None:
    for chunk in chunks(numbers):
        connection.execute(insert(opt_out_audit), [
            {"account_id": key, "kind": kind, "number": number, "action": action, "campaign_id": campaign_id,
             "text": text, "by": by, "at": at} for number in chunk])


def lock(connection, kind: str, key: str) -> None:
    """One writer per blacklist at a time: SQLite's BEGIN IMMEDIATE already serialises every writer; PostgreSQL
    takes a transaction-scoped advisory lock on the blacklist, so "not listed yet" stays true until it commits."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(func.hashtext(literal(f"blacklist:{kind}:{key}")))))


def _staged(connection, numbers: list[str]) -> Table:
    """`numbers` in a temporary table of this transaction (COPY on PostgreSQL), for set-wise inserts."""
    staging = Table("blacklist_input", MetaData(), Column("number", String(80), primary_key=True),
                    prefixes=["TEMPORARY"], postgresql_on_commit="DROP")
    staging.drop(connection, checkfirst=True)
    staging.create(connection)
    if connection.dialect.name == "postgresql":
        with connection.connection.driver_connection.cursor() as cursor, \
                cursor.copy("COPY blacklist_input (number) FROM STDIN") as copy:
            for number in numbers:
                copy.write_row((number,))
    elif numbers:
        connection.execute(insert(staging), [{"number": number} for number in numbers])
    return staging


def add_numbers(engine: Engine, kind: str, account_id: str, numbers: Iterable[str] | pl.Series, *, source: str,
                campaign_id: str | None = None, text: str | None = None, by: str | None = None,
                now: datetime | None = None) -> int:
    """BL-1: list `numbers` (normalised) on a blacklist; returns how many were new, each audited. Set-wise (a
    staged table, two INSERT ... SELECT), so a million-number import takes seconds."""
    asked = e164(numbers).to_list()
    at = utc(now) or store_now()
    with engine.begin() as connection:
        key = owner(connection, kind, account_id)
        lock(connection, kind, key)
        staging = _staged(connection, asked)
        unlisted = ~exists().where(blacklist.c.kind == kind, blacklist.c.account_id == key,
                                   blacklist.c.number == staging.c.number)
        connection.execute(insert(opt_out_audit).from_select(
            ["account_id", "kind", "number", "action", "campaign_id", "text", "by", "at"],
            select(literal(key), literal(kind), staging.c.number, literal(ACTIONS.get(source, "add")),
                   literal(campaign_id, String), literal(text, Text), literal(by, String),
                   literal(at, DateTime(timezone=True))).where(unlisted)))
        added = connection.execute(insert(blacklist).from_select(
            ["kind", "account_id", "number", "source", "campaign_id", "added_at"],
            select(literal(kind), literal(key), staging.c.number, literal(source), literal(campaign_id, String),
                   literal(at, DateTime(timezone=True))).where(unlisted))
            .execution_options(preserve_rowcount=True)).rowcount
        staging.drop(connection, checkfirst=True)
    return added


def remove_numbers(engine: Engine, kind: str, account_id: str, numbers: Iterable[str] | pl.Series, *,
                   source: str = "cli", campaign_id: str | None = None, text: str | None = None,
                   by: str | None = None, now: datetime | None = None) -> int:
    """Take `numbers` off a blacklist; returns how many were listed, each removal audited."""
    asked = e164(numbers).to_list()
    at = utc(now) or store_now()
    with engine.begin() as connection:
        key = owner(connection, kind, account_id)
        lock(connection, kind, key)
        removed = delete_numbers(connection, kind, key, asked)
        audit(connection, key, kind, removed, "start" if source == "start" else "remove", campaign_id=campaign_id,
              text=text, by=by, at=at)
    return len(removed)


LISTED_SCHEMA = {"number": pl.String, "source": pl.String, "campaign_id": pl.String,
                 "added_at": pl.Datetime("us", "UTC")}


def list_numbers(engine: Engine, kind: str, account_id: str = DEFAULT_ACCOUNT, *,
                 search: str | None = None) -> pl.DataFrame:
    """A blacklist's rows (number, source, campaign_id, added_at) by number; `search`: numbers containing it."""
    with engine.begin() as connection:
        key = owner(connection, kind, account_id, required=False)
        if key is None:
            return pl.DataFrame(schema=LISTED_SCHEMA)
        query = select(blacklist.c.number, blacklist.c.source, blacklist.c.campaign_id, blacklist.c.added_at) \
            .where(blacklist.c.kind == kind, blacklist.c.account_id == key).order_by(blacklist.c.number)
        if search:
            query = query.where(blacklist.c.number.contains(search.strip(), autoescape=True))
        rows = [(number, source, campaign, utc(at)) for number, source, campaign, at in connection.execute(query)]
    return pl.DataFrame(rows, schema=LISTED_SCHEMA, orient="row")


def import_file(engine: Engine, kind: str, account_id: str, path: Path | str, *, by: str | None = None) -> int:
    """BL-1: a blacklist file (one number a line, or any list smsflow reads: its mobile column) added to a
    blacklist, read by the lists' own reader; returns how many numbers were new."""
    from pipelines.lists import DELIMITERS, ListError, detect_encoding, inspect_list, read_blacklist

    path = Path(path)
    try:
        inspect_list(path)
    except ListError:  # a file of one number a line has no header; a delimited one must name its column
        if path.is_file():
            with path.open(encoding=detect_encoding(path), newline="") as stream:
                if any(delimiter in stream.readline() for delimiter in DELIMITERS):
                    raise
    numbers = read_blacklist(path)
    return add_numbers(engine, kind, account_id, numbers, source="import", text=path.name, by=by)


def export_file(engine: Engine, kind: str, account_id: str, path: Path | str) -> int:
    """A blacklist written to `path`: `.txt`, one number a line; else a CSV as reports are (`;`, UTF-8 with BOM)
    with the columns Mobile, Source, Campagne, Ajouté le. `import_file` reads either back."""
    path = Path(path)
    listed = list_numbers(engine, kind, account_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() == ".txt":
        staging.write_text("".join(f"{number}\n" for number in listed.get_column("number")), encoding="utf-8")
    else:
        frame = listed.select(pl.col("number").alias("Mobile"), pl.col("source").alias("Source"),
                              pl.col("campaign_id").alias("Campagne"),
                              pl.col("added_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("Ajouté le"))
        frame.write_csv(staging, separator=";", include_bom=True)
    staging.replace(path)
    return listed.height


HISTORY_SCHEMA = {"at": pl.Datetime("us", "UTC"), "account_id": pl.String, "kind": pl.String, "number": pl.String,
                  "action": pl.String, "campaign_id": pl.String, "text": pl.String, "by": pl.String}


def history(engine: Engine, number: str, account_id: str | None = None) -> pl.DataFrame:
    """PLUS-6: every audited change to a number's opt-outs, oldest first (one account's and the global one's, or
    all)."""
    wanted = e164([number]).to_list() or [number]
    query = select(opt_out_audit.c.at, opt_out_audit.c.account_id, opt_out_audit.c.kind, opt_out_audit.c.number,
                   opt_out_audit.c.action, opt_out_audit.c.campaign_id, opt_out_audit.c.text, opt_out_audit.c.by) \
        .where(opt_out_audit.c.number.in_(wanted)).order_by(opt_out_audit.c.at, opt_out_audit.c.id)
    with engine.begin() as connection:
        if account_id is not None:
            client = owner(connection, "client", account_id, required=False)
            mine = [and_(opt_out_audit.c.kind == "own", opt_out_audit.c.account_id == account_id),
                    opt_out_audit.c.kind == "global"]
            if client is not None:
                mine.append(and_(opt_out_audit.c.kind == "client", opt_out_audit.c.account_id == client))
            query = query.where(or_(*mine))
        rows = [(utc(row[0]), *row[1:]) for row in connection.execute(query)]
    return pl.DataFrame(rows, schema=HISTORY_SCHEMA, orient="row")
