"""ACC-1, ACC-2: accounts and their settings; a campaign may narrow them, never widen them.

A fresh store creates the `default` account on first use (France allowed, no credit limit until an administrator
sets one), so a spec without `account:` keeps working.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from sqlalchemy import Engine, insert, select, update

from pipelines.store.engine import StoreError, now
from pipelines.store.schema import accounts

DEFAULT_ACCOUNT = "default"
MAX_PARTS = 6  # ENC-5: the platform's own maximum
WINDOWS = ("seed", "charter-2026", "charter-2024")  # SEND-2 policies, narrowest hours first (same days)


@dataclass(frozen=True)
class AccountSettings:
    """What an account holds across its campaigns (ACC-1)."""

    id: str
    allowed_countries: tuple[str, ...] = ("FR",)
    credit_limited: bool = False  # False: no credit limit until an administrator sets one (credits topup)
    send_window: str = "seed"
    max_parts: int = MAX_PARTS
    allowed_senders: tuple[str, ...] = ()  # empty: any sender
    frequency_cap: int | None = None  # PLUS-7: marketing messages per number per `frequency_hours`
    frequency_hours: int = 24
    retention_months: int | None = None  # PLUS-8
    client: str | None = None
    tracking_domain: str | None = None  # URL-1, URL-5: the domain of its short links; None: the platform's
    require_second_factor: bool = False  # USER-2: an admin requires every user of the account to use a second factor

    def as_dict(self) -> dict:
        data = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}


SETTINGS = tuple(field.name for field in fields(AccountSettings) if field.name != "id")


class AccountError(StoreError):
    """An account setting refused (names the setting, the value and the rule)."""


def _row(row) -> AccountSettings:
    values = dict(row._mapping)
    values["allowed_countries"] = tuple(values["allowed_countries"] or ())
    values["allowed_senders"] = tuple(values["allowed_senders"] or ())
    return AccountSettings(**{name: values[name] for name in ("id", *SETTINGS)})


def checked(**settings) -> dict:
    """Account settings as the store keeps them, each checked; a bad one is an AccountError naming it."""
    import phonenumbers

    from pipelines.window import POLICIES

    out = {}
    for name, value in settings.items():
        if name not in SETTINGS:
            raise AccountError(f"unknown account setting {name!r}; known: {', '.join(SETTINGS)} [ACC-1]")
        if name == "allowed_countries":
            value = tuple(str(code).strip().upper() for code in value if str(code).strip())
            unknown = [code for code in value if code not in phonenumbers.SUPPORTED_REGIONS]
            if unknown or not value:
                raise AccountError(f"allowed_countries: {', '.join(unknown) or 'none'} is not a list of ISO "
                                   f"regions [ACC-1, NUM-2]")
        elif name == "allowed_senders":
            value = tuple(str(sender).strip() for sender in value if str(sender).strip())
        elif name == "send_window" and value not in POLICIES:
            raise AccountError(f"send_window: {value!r} is not one of {', '.join(POLICIES)} [ACC-1, SEND-2]")
        elif name == "max_parts" and not 1 <= int(value) <= MAX_PARTS:
            raise AccountError(f"max_parts: {value} is not between 1 and {MAX_PARTS} [ACC-1, ENC-5]")
        elif name in ("frequency_cap", "retention_months") and value is not None and int(value) < 1:
            raise AccountError(f"{name}: {value} must be at least 1 (or none) [ACC-1]")
        elif name == "frequency_hours" and int(value) < 1:
            raise AccountError(f"frequency_hours: {value} must be at least 1 [ACC-1, PLUS-7]")
        elif name == "tracking_domain":
            from pipelines.spec import short_link_domain

            try:
                value = short_link_domain(value)
            except ValueError as error:
                raise AccountError(f"tracking_domain: {value!r} {error} [ACC-1, URL-5]") from None
        out[name] = value
    return out


def _stored(values: dict) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}


def create_account(engine: Engine, account_id: str, **settings) -> AccountSettings:
    """A new account with `settings` over the defaults; an existing id is refused."""
    account_id = account_id.strip()
    if not account_id or len(account_id) > 64:
        raise AccountError(f"account id {account_id!r} must have 1 to 64 characters [ACC-1]")
    values = AccountSettings(account_id, **checked(**settings))
    with engine.begin() as connection:
        if connection.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first():
            raise AccountError(f"account {account_id!r} already exists (smsflow account set to change it) [ACC-1]")
        stamp = now()
        connection.execute(insert(accounts).values(**_stored(values.as_dict()), created_at=stamp, updated_at=stamp))
    return values


def ensure_default(connection) -> None:
    """The `default` account exists (created on first use with the defaults). Two first uses at once on PostgreSQL
    (whose transactions, unlike the store's SQLite ones, do not queue) both see it missing: the second insert does
    nothing instead of failing on the key."""
    if connection.execute(select(accounts.c.id).where(accounts.c.id == DEFAULT_ACCOUNT)).first() is None:
        if connection.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stamp = now()
        connection.execute(dialect_insert(accounts).values(**_stored(AccountSettings(DEFAULT_ACCOUNT).as_dict()),
                                                           created_at=stamp, updated_at=stamp)
                           .on_conflict_do_nothing(index_elements=["id"]))


def get_account(engine: Engine, account_id: str = DEFAULT_ACCOUNT) -> AccountSettings:
    """The account's settings; the default account is created on first use, any other must exist."""
    with engine.begin() as connection:
        return account_in(connection, account_id)


def account_in(connection, account_id: str = DEFAULT_ACCOUNT) -> AccountSettings:
    """`get_account` inside a transaction the caller holds."""
    if account_id == DEFAULT_ACCOUNT:
        ensure_default(connection)
    row = connection.execute(select(accounts).where(accounts.c.id == account_id)).first()
    if row is None:
        raise AccountError(f"no account {account_id!r} in the store (an administrator creates it with "
                           f"smsflow account create {account_id}) [ACC-1]")
    return _row(row)


def set_account(engine: Engine, account_id: str, **changes) -> AccountSettings:
    """Change some settings of an account (an administrator's act, ACC-1)."""
    values = checked(**changes)
    with engine.begin() as connection:
        account_in(connection, account_id)
        if values:
            connection.execute(update(accounts).where(accounts.c.id == account_id)
                               .values(**_stored(values), updated_at=now()))
        return account_in(connection, account_id)


def list_accounts(engine: Engine) -> list[AccountSettings]:
    with engine.begin() as connection:
        ensure_default(connection)
        return [_row(row) for row in connection.execute(select(accounts).order_by(accounts.c.id))]
