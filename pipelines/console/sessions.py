"""The extranet's sessions, held in the account store (issue 14): the cookie carries a signed random key and the
store its SHA-256, so that a stolen database gives no session, logout ends it at once, and "logout everywhere" or
deactivating a user ends all of theirs. Each login step gets a new key: a key known before login is worthless
after it (no session fixation)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, delete, insert, select, update

from pipelines.store.engine import now
from pipelines.store.schema import console_sessions, users
from pipelines.store.users import User, as_user, end_sessions

STAGES = ("password", "activation", "full")  # password: second factor awaited; activation: USER-3's new password
TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class Session:
    key: str
    stage: str
    user: User
    created_at: datetime


def new_key() -> str:
    return secrets.token_urlsafe(32)


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def open_session(engine: Engine, user_id: int, stage: str, *, hours: float, ip: str | None = None,
                 user_agent: str | None = None, replacing: str | None = None) -> str:
    """A new session for `user_id` at `stage`; `replacing` (the key of the step before) ends in the same
    transaction. Returns the new key, for the cookie."""
    key, stamp = new_key(), now()
    with engine.begin() as connection:
        if replacing:
            connection.execute(delete(console_sessions).where(console_sessions.c.id == key_id(replacing)))
        connection.execute(insert(console_sessions).values(
            id=key_id(key), user_id=user_id, stage=stage, ip=ip, user_agent=(user_agent or "")[:512],
            created_at=stamp, seen_at=stamp, expires_at=stamp + timedelta(hours=hours)))
    return key


def find_session(engine: Engine, key: str) -> Session | None:
    """The live session of `key`: not expired, its user active, not voided by a logout everywhere."""
    stamp = now()
    with engine.connect() as connection:
        row = connection.execute(
            select(console_sessions.c.stage, console_sessions.c.created_at, console_sessions.c.seen_at,
                   console_sessions.c.expires_at, users)
            .join(users, users.c.id == console_sessions.c.user_id)
            .where(console_sessions.c.id == key_id(key))).first()
    if row is None:
        return None
    values = row._mapping
    valid_after = _aware(values["sessions_valid_after"])
    created = _aware(values["created_at"])
    if _aware(values["expires_at"]) <= stamp or not values["active"] or (valid_after and created < valid_after):
        close_session(engine, key)
        return None
    if stamp - _aware(values["seen_at"]) > TOUCH_EVERY:
        with engine.begin() as connection:
            connection.execute(update(console_sessions).where(console_sessions.c.id == key_id(key))
                               .values(seen_at=stamp))
    return Session(key=key, stage=values["stage"], user=as_user(row), created_at=created)


def close_session(engine: Engine, key: str) -> None:
    with engine.begin() as connection:
        connection.execute(delete(console_sessions).where(console_sessions.c.id == key_id(key)))


def close_all(engine: Engine, user_id: int) -> int:
    """Logout everywhere: every session of the user ends now (the store's `end_sessions`). Returns how many."""
    return end_sessions(engine, user_id)
