"""What the extranet needs to run, read once from the environment (issue 14)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, insert, select

SECRET_KEY = "console_secret"  # store_settings: the key that signs the extranet's cookies and CSRF tokens


@dataclass(frozen=True)
class ConsoleSettings:
    """The extranet's settings; `from_env` reads them as `smsflow console` does."""

    store_url: str | None = None  # the account store (None: $SMSFLOW_DB, else SQLite in the bucket)
    bucket: str | None = None  # the bucket (None: $SMSFLOW_BUCKET, else ./bucket)
    airflow_url: str | None = None  # Airflow's REST API, to trigger runs and answer approvals
    airflow_user: str | None = None
    airflow_password: str | None = field(default=None, repr=False)
    outbox: Path | None = None  # emails in development: one .eml file each (None: <bucket>/outbox)
    smtp: str | None = None  # host:port of a mail relay; None: the outbox
    smsc: str | None = None  # host:port of the SMSC for SMS codes (None: $SMSFLOW_SMSC)
    https: bool = False  # cookies `Secure` (behind HTTPS)
    session_hours: float = 12.0
    secret: bytes | None = field(default=None, repr=False)  # None: kept in the store, made once

    @classmethod
    def from_env(cls, **overrides) -> ConsoleSettings:
        environ = os.environ
        values = dict(
            store_url=environ.get("SMSFLOW_DB"), bucket=environ.get("SMSFLOW_BUCKET"),
            airflow_url=environ.get("SMSFLOW_AIRFLOW_URL"), airflow_user=environ.get("SMSFLOW_AIRFLOW_USER"),
            airflow_password=environ.get("SMSFLOW_AIRFLOW_PASSWORD"),
            outbox=Path(environ["SMSFLOW_OUTBOX"]) if environ.get("SMSFLOW_OUTBOX") else None,
            smtp=environ.get("SMSFLOW_SMTP"), smsc=environ.get("SMSFLOW_SMSC"),
            https=environ.get("SMSFLOW_CONSOLE_HTTPS", "").lower() in ("1", "true", "yes"))
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)


def store_secret(engine: Engine) -> bytes:
    """The store's signing key for the extranet, made once (so every console process on one store agrees, and a
    restart keeps sessions)."""
    from pipelines.store.schema import store_settings

    from sqlalchemy.exc import IntegrityError

    query = select(store_settings.c.value).where(store_settings.c.key == SECRET_KEY)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        try:
            with engine.begin() as connection:
                connection.execute(insert(store_settings).values(key=SECRET_KEY, value=secrets.token_hex(32)))
        except IntegrityError:  # another console process made it first: theirs is the one
            pass
        with engine.connect() as connection:
            row = connection.execute(query).one()
    return row[0].encode()
