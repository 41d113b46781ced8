"""PLUS-8 in the account store: a number replaced by its keyed hash in every table, so that its opt-out holds.

The hash is HMAC-SHA256 of the E.164 number with a key made once per store (`store_settings.erase_key`), written
`hmac:<hex>`: the same person always gets the same hash (an erased opted-out number stays blocked: the plan hashes
its own numbers to compare, `ErasedOptOuts`), and nobody without the store's key can test a number against it.
`NumberForms` are the ways one number is written (E.164, without +, 00.., national 06.., spaced, dotted): every one
of them is replaced, in the store here and in files and the warehouse by `pipelines.erase`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import JSON, Engine, String, Text, and_, bindparam, cast, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from pipelines.store.engine import StoreError, now as store_now
from pipelines.store.schema import GLOBAL, blacklist, campaigns, erasures, metadata, saved_lists, store_settings

HASH_PREFIX = "hmac:"
KEY_SETTING = "erase_key"
# A separator people put between digits: space, dot, dash, slash, no-break space (UTF-8 or Windows-1252 bytes).
_SEPARATOR = {"py": r"(?:[ .\-/]|\u00a0)?", "bytes": "(?:[ .\\-/]|\xc2\xa0|\xa0)?", "re2": r"(?:[ .\-/]|\x{A0})?"}
# Tables never rewritten: the erase's own audit (hashes only) and the store's settings (the key).
_KEPT = {"erasures", "store_settings"}


class EraseError(StoreError, ValueError):
    """A number that cannot be erased (not a number): names it and PLUS-8."""


def erase_key(engine: Engine) -> bytes:
    """The store's key for erase hashes, made on first use (two processes making it at once keep the first)."""
    query = select(store_settings.c.value).where(store_settings.c.key == KEY_SETTING)
    with engine.begin() as connection:
        value = connection.execute(query).scalar()
    if value is None:
        try:
            with engine.begin() as connection:
                connection.execute(insert(store_settings).values(key=KEY_SETTING, value=secrets.token_hex(32)))
        except IntegrityError:
            pass
        with engine.begin() as connection:
            value = connection.execute(query).scalar()
    return bytes.fromhex(value)


def hash_number(key: bytes, number: str) -> str:
    """`hmac:<hex>` of one E.164 number."""
    return HASH_PREFIX + hmac.new(key, number.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_numbers(key: bytes, numbers: pl.Series) -> pl.Series:
    """Each E.164 number as its erase hash (nulls stay null); computed once per distinct number."""
    numbers = numbers.cast(pl.String)
    distinct = numbers.drop_nulls().unique()
    table = pl.DataFrame({"n": distinct, "h": [hash_number(key, n) for n in distinct.to_list()]},
                         schema={"n": pl.String, "h": pl.String})
    return numbers.replace_strict(table["n"], table["h"], default=None).alias(numbers.name)


def number_hashes(engine: Engine, numbers: pl.Series) -> pl.Series:
    """PLUS-8: the store's erase hash of each E.164 number (what an erased number's rows now hold)."""
    return hash_numbers(erase_key(engine), numbers)


@dataclass(frozen=True)
class ErasedOptOuts:
    """The hashed rows of an account's blacklists (kind → `hmac:` strings) and the key to hash with: what the plan
    needs to keep blocking erased numbers (BL-1, PLUS-8) without opening the store."""

    key: bytes = b""
    hashed: dict[str, pl.Series] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(series.len() for series in self.hashed.values())

    def blocked(self, numbers: pl.Series) -> dict[str, pl.Series]:
        """kind → the E.164 numbers among `numbers` whose hash is on that blacklist (empty when none is hashed)."""
        if not self:
            return {}
        distinct = numbers.cast(pl.String).drop_nulls().unique()
        hashes = hash_numbers(self.key, distinct)
        return {kind: distinct.filter(hashes.is_in(series.implode())) for kind, series in self.hashed.items()}


def erased_opt_outs(engine: Engine, account_id: str) -> ErasedOptOuts:
    """The account's hashed blacklist rows (own, global, client) and the store's key."""
    from pipelines.store.accounts import account_in

    with engine.begin() as connection:
        account = account_in(connection, account_id)
        owners = {"own": [account_id], "global": [GLOBAL], "client": [account.client] if account.client else []}
        hashed = {}
        for kind, accounts in owners.items():
            rows = connection.execute(select(blacklist.c.number).where(
                blacklist.c.kind == kind, blacklist.c.account_id.in_(accounts),
                blacklist.c.number.startswith(HASH_PREFIX))).scalars().all()
            hashed[kind] = pl.Series(kind, sorted(set(rows)), dtype=pl.String)
    return ErasedOptOuts(erase_key(engine), hashed) if any(len(s) for s in hashed.values()) else ErasedOptOuts()


@dataclass(frozen=True)
class NumberForms:
    """One number, its hash, and the patterns that find it however it is written."""

    e164: str
    hash: str
    country_code: str
    significant: str  # the national significant number
    trunk: str  # the national prefix (0 in France), may be empty

    def _pattern(self, flavour: str) -> str:
        """The number however written: [+|00][ ]CC[ ][(0)|0] or the trunk prefix, then the significant digits,
        a separator allowed between any two digits."""
        sep = _SEPARATOR[flavour]
        prefix = rf"(?:(?:\+|00){sep})?{self.country_code}{sep}(?:\(0\){sep}|0{sep})?"
        national = f"|{self.trunk}{sep}" if self.trunk else ""
        return f"(?:{prefix}{national})?" + sep.join(self.significant)

    @property
    def text_pattern(self) -> re.Pattern[str]:
        return re.compile(r"(?<![0-9+])" + self._pattern("py") + r"(?![0-9])")

    @property
    def bytes_pattern(self) -> re.Pattern[bytes]:
        return re.compile(rb"(?<![0-9+])" + self._pattern("bytes").encode("latin-1") + rb"(?![0-9])")

    @property
    def re2_pattern(self) -> str:
        """For engines without look-behind (Polars, DuckDB): group 1 and 3 are the characters around the number,
        kept by the replacement; run it twice, as two numbers side by side share one separator."""
        return r"(^|[^0-9+])(" + self._pattern("re2") + r")([^0-9]|$)"

    @property
    def like(self) -> str:
        """A LIKE pattern every written form matches (the significant digits in order): a cheap first filter."""
        return "%" + "%".join(self.significant) + "%"

    def replace_text(self, text: str) -> str:
        return self.text_pattern.sub(self.hash, text)


def number_forms(engine: Engine, number: str) -> NumberForms:
    """The forms of `number` (any way a person writes it; national numbers are French unless +/00 says else)."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number.strip(), "FR")
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise EraseError(f"erase: {number!r} is not a phone number smsflow can find (write it as +33612345678 or "
                         f"0612345678) [PLUS-8]")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    significant = phonenumbers.national_significant_number(parsed)
    national = re.sub(r"\D", "", phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))
    trunk = national[: -len(significant)] if national.endswith(significant) else ""
    return NumberForms(e164, hash_number(erase_key(engine), e164), str(parsed.country_code), significant, trunk)


# Tables whose only column a number can be in (the send ledger's part keys start with it: PLUS-1): not every text
# column of their many rows is searched.
_NUMBER_COLUMNS = {"send_ledger": ("key",)}


def _text_columns(table) -> list:
    if table.name in _NUMBER_COLUMNS:
        return [table.c[name] for name in _NUMBER_COLUMNS[table.name]]
    return [column for column in table.columns if isinstance(column.type, (String, Text, JSON))]


def _scope(connection, table, account_id: str | None):
    """Which rows of `table` belong to `account_id` (None: every row; False: the table is no account's)."""
    if account_id is None:
        return None
    if "account_id" in table.c:
        return table.c.account_id == account_id
    if "list_id" in table.c:
        return table.c.list_id.in_(select(saved_lists.c.id).where(saved_lists.c.account_id == account_id))
    if "campaign_id" in table.c:
        return table.c.campaign_id.in_(select(campaigns.c.id).where(campaigns.c.account_id == account_id))
    if "campaign" in table.c:  # the send ledger: the campaign's own rows and its test sends' (<campaign>/tests)
        owned = select(campaigns.c.id).where(campaigns.c.account_id == account_id)
        tests = select(campaigns.c.id.concat("/tests")).where(campaigns.c.account_id == account_id)
        return or_(table.c.campaign.in_(owned), table.c.campaign.in_(tests))
    return False


def erase_rows(engine: Engine, forms: NumberForms, account_id: str | None = None) -> dict[str, int]:
    """Replace the number by its hash in every text column of every store table (the account's rows only, when
    `account_id` is given); a blacklist row whose hashed twin exists goes (one opt-out is enough). Rows changed,
    per table."""
    changed: dict[str, int] = {}
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            columns = _text_columns(table)
            scope = _scope(connection, table, account_id)
            if table.name in _KEPT or not columns or scope is False:
                continue
            keys = list(table.primary_key.columns)
            for column in columns:
                found = cast(column, Text).like(forms.like)
                query = select(*keys, column).where(found if scope is None else and_(found, scope))
                for row in connection.execute(query).all():
                    value = row[-1]
                    text = json.dumps(value, ensure_ascii=False) if isinstance(column.type, JSON) else value
                    replaced = forms.replace_text(text)
                    if replaced == text:
                        continue
                    where = and_(*(key == row[i] for i, key in enumerate(keys)))
                    new = json.loads(replaced) if isinstance(column.type, JSON) else replaced
                    if table is blacklist and _twin_exists(connection, where, new):
                        connection.execute(delete(table).where(where))
                    else:
                        connection.execute(update(table).where(where).values({column.name: new}))
                    changed[table.name] = changed.get(table.name, 0) + 1
    return changed


def _twin_exists(connection, where, number: str) -> bool:
    row = connection.execute(select(blacklist.c.kind, blacklist.c.account_id).where(where)).one()
    return connection.execute(select(blacklist.c.id).where(
        blacklist.c.kind == row.kind, blacklist.c.account_id == row.account_id,
        blacklist.c.number == number)).first() is not None


def scrub(engine: Engine) -> None:
    """SQLite keeps old values in free pages and its WAL: rebuild the file (VACUUM) and empty the WAL, so the
    erased bytes are gone from disk too. PostgreSQL: its own VACUUM reclaims dead rows (not readable by SQL)."""
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        connection.close()


def record_erasure(engine: Engine, *, account_id: str | None, number_hash: str | None, detail: dict,
                   by: str | None = None) -> None:
    """The audit row of an erase or a purge (the number only as its hash)."""
    with engine.begin() as connection:
        connection.execute(insert(erasures).values(account_id=account_id, number_hash=number_hash,
                                                   detail=json.dumps(detail, ensure_ascii=False, default=str),
                                                   by=by, at=store_now()))


def erasure_history(engine: Engine, account_id: str | None = None) -> list[dict]:
    query = select(erasures).order_by(erasures.c.id)
    if account_id is not None:
        query = query.where(erasures.c.account_id == account_id)
    with engine.begin() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def purge_store_rows(engine: Engine, campaign_id: str, hashes: dict[str, str], key: bytes) -> dict[str, int]:
    """PLUS-8 retention, the store's part for one campaign: its sends and opt-out audit rows keep the numbers'
    hashes (`hashes`: E.164 → hash; others hashed with `key`), its stored spec loses the numbers written in it."""
    from pipelines.store.schema import opt_out_audit, sends

    changed: dict[str, int] = {}
    with engine.begin() as connection:
        for table in (sends, opt_out_audit):
            rows = connection.execute(select(table.c.id, table.c.number).where(
                table.c.campaign_id == campaign_id, ~table.c.number.startswith(HASH_PREFIX))).all()
            for row in rows:
                connection.execute(update(table).where(table.c.id == row.id).values(
                    number=hashes.get(row.number) or hash_number(key, row.number)))
            changed[table.name] = len(rows)
        changed["send_ledger"] = _hash_ledger_keys(connection, campaign_id, hashes, key)
        spec = connection.execute(select(campaigns.c.spec).where(campaigns.c.id == campaign_id)).scalar()
        if spec is not None:
            connection.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(
                spec=hash_phone_like(spec, key)))
    return changed


def _hash_ledger_keys(connection, campaign_id: str, hashes: dict[str, str], key: bytes) -> int:
    """The campaign's send-ledger rows (PLUS-1) with the number their part key starts with hashed; rows changed."""
    from pipelines.dlr import KEY_SEPARATOR
    from pipelines.store.schema import send_ledger

    rows = connection.execute(select(send_ledger.c.id, send_ledger.c.key).where(
        send_ledger.c.campaign.in_([campaign_id, f"{campaign_id}/tests"]), send_ledger.c.key.is_not(None),
        ~send_ledger.c.key.startswith(HASH_PREFIX))).all()
    if not rows:
        return 0
    frame = pl.DataFrame(rows, schema={"id": pl.Int64, "key": pl.String}, orient="row").with_columns(
        pl.col("key").str.splitn(KEY_SEPARATOR, 2).struct.rename_fields(["number", "rest"]).alias("split")
    ).unnest("split")
    numbers = frame.get_column("number").unique()
    known = pl.DataFrame({"number": numbers, "hash": [hashes.get(n) or hash_number(key, n) for n in numbers]},
                         schema={"number": pl.String, "hash": pl.String})
    updated = frame.join(known, on="number").select(
        pl.col("id").alias("row_id"), pl.concat_str("hash", pl.lit(KEY_SEPARATOR), "rest").alias("new_key"))
    connection.execute(update(send_ledger).where(send_ledger.c.id == bindparam("row_id"))
                       .values(key=bindparam("new_key")), updated.to_dicts())
    return updated.height


_PHONE_LIKE = re.compile(r"(?<![0-9+\w])(?:\+|00)?[0-9](?:[ .\-/]?[0-9]){7,16}(?![0-9\w])")


def hash_phone_like(text: str, key: bytes, region: str = "FR") -> str:
    """Every valid phone number written in `text`, however written, replaced by its hash."""
    import phonenumbers

    def hashed(match: re.Match) -> str:
        try:
            parsed = phonenumbers.parse(match.group(0), region)
        except phonenumbers.NumberParseException:
            return match.group(0)
        if not phonenumbers.is_valid_number(parsed):
            return match.group(0)
        return hash_number(key, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))

    return _PHONE_LIKE.sub(hashed, text)
