"""USER-1, USER-4 (issue 14): the extranet's users in the account store, passwords hashed with Argon2id.

A user belongs to one account (ACC-3) and logs in with an identifier (their email by default, USER-1). Roles:
`admin` manages the account's users, settings, blacklists and credits; `user` runs campaigns, lists and reports; a
`superadmin` (the platform's) also manages the global blacklist and the accounts.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, Engine, case, delete, func, insert, or_, select, update

from pipelines.store.accounts import account_in
from pipelines.store.engine import StoreError, now
from pipelines.store.schema import audit_log, console_sessions, user_codes, users

ROLES = ("admin", "user")
MIN_PASSWORD = 11  # USER-1
SPECIALS = re.compile(r"[^0-9A-Za-z]")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserError(StoreError):
    """A user change refused: names the field, the value and the rule (USER-1..4)."""


@dataclass(frozen=True)
class User:
    """One person of an account, as the extranet sees them (never their password hash)."""

    id: int
    account_id: str
    login: str
    email: str
    first_name: str
    last_name: str
    mobile: str | None
    role: str
    superadmin: bool
    active: bool
    second_factor: str | None
    password_temporary: bool
    last_login_at: datetime | None
    created_at: datetime

    @property
    def admin(self) -> bool:
        return self.role == "admin" or self.superadmin

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    @property
    def initials(self) -> str:
        letters = (self.first_name[:1] + self.last_name[:1]) or self.email[:2]
        return letters.upper()


FIELDS = tuple(User.__dataclass_fields__)


def as_user(row) -> User:
    values = row._mapping
    return User(**{name: values[name] for name in FIELDS})


HASH_PROFILE = "SMSFLOW_PASSWORD_HASH"  # "cheapest": argon2-cffi's CHEAPEST profile, for test suites only


def _hasher():
    """Argon2id, RFC 9106's low-memory profile (64 MiB, 3 passes: ~60 ms); SMSFLOW_PASSWORD_HASH=cheapest in test
    suites (a hash records its parameters: either checks the other's hashes)."""
    import os

    from argon2 import PasswordHasher, profiles

    if os.environ.get(HASH_PROFILE) == "cheapest":
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """The password matches its Argon2 hash (a malformed hash never matches)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problems(password: str) -> list[str]:
    """USER-1: what the password lacks, in the user's words (empty: it is good)."""
    missing = []
    if len(password) < MIN_PASSWORD:
        missing.append(f"au moins {MIN_PASSWORD} caractères")
    if not re.search(r"[A-Z]", password):
        missing.append("une majuscule")
    if not re.search(r"[a-z]", password):
        missing.append("une minuscule")
    if not re.search(r"[0-9]", password):
        missing.append("un chiffre")
    if not SPECIALS.search(password):
        missing.append("un caractère spécial")
    return missing


def check_password(password: str) -> None:
    missing = password_problems(password)
    if missing:
        raise UserError(f"password: it needs {', '.join(missing)} [USER-1]")


def create_user(engine: Engine, account_id: str, email: str, password: str, *, role: str = "user",
                login: str | None = None, first_name: str = "", last_name: str = "", mobile: str | None = None,
                superadmin: bool = False, temporary: bool = False) -> User:
    """USER-4: a new user of `account_id`; the login is the email unless given; the password follows USER-1."""
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise UserError(f"email: {email!r} is not an email address [USER-4]")
    if role not in ROLES:
        raise UserError(f"role: {role!r} is not one of {', '.join(ROLES)} [USER-4]")
    login = (login or email).strip().lower()
    check_password(password)
    stamp = now()
    with engine.begin() as connection:
        account_in(connection, account_id)
        if connection.execute(select(users.c.id).where(users.c.login == login)).first():
            raise UserError(f"login: {login!r} is already taken [USER-4]")
        user_id = connection.execute(insert(users).values(
            account_id=account_id, login=login, email=email, first_name=first_name.strip(),
            last_name=last_name.strip(), mobile=mobile or None, role=role, superadmin=superadmin, active=True,
            password_hash=hash_password(password), password_temporary=temporary, failed_logins=0,
            created_at=stamp, updated_at=stamp)).inserted_primary_key[0]
        return as_user(connection.execute(select(users).where(users.c.id == user_id)).one())


def get_user(engine: Engine, user_id: int, account_id: str | None = None) -> User:
    """The user `user_id` (of `account_id` when given: another account's user is not found, ACC-3)."""
    query = select(users).where(users.c.id == user_id)
    if account_id is not None:
        query = query.where(users.c.account_id == account_id)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        raise UserError(f"no user {user_id} in account {account_id!r} [USER-4]")
    return as_user(row)


def find_login(connection, login: str):
    """The users row of an identifier (case-insensitive), or None."""
    return connection.execute(select(users).where(users.c.login == login.strip().lower())).first()


def list_users(engine: Engine, account_id: str) -> list[User]:
    with engine.connect() as connection:
        rows = connection.execute(select(users).where(users.c.account_id == account_id).order_by(users.c.login))
        return [as_user(row) for row in rows]


def end_sessions(store: Connection | Engine, user_id: int) -> int:
    """Every console session of the user ends now (logout everywhere, a new password, a deactivated login, a reset
    second factor); `store` is an open connection (its transaction) or an engine. Returns how many there were."""
    if isinstance(store, Engine):
        with store.begin() as connection:
            return end_sessions(connection, user_id)
    store.execute(update(users).where(users.c.id == user_id).values(sessions_valid_after=now()))
    return store.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id)).rowcount


def set_password(engine: Engine, user_id: int, password: str, *, temporary: bool = False) -> None:
    """A new password (USER-1 policy), clearing a lockout; every session of the user ends (whoever set it: the
    person, an administrator, the CLI), so a session opened with the old password does not outlive it."""
    check_password(password)
    stamp = now()
    with engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == user_id).values(
            password_hash=hash_password(password), password_temporary=temporary, failed_logins=0,
            locked_until=None, updated_at=stamp))
        connection.execute(update(user_codes).where(  # a forgotten password's offer ends with the new password
            user_codes.c.user_id == user_id, user_codes.c.purpose == "temporary", user_codes.c.used_at.is_(None))
            .values(used_at=stamp))
        end_sessions(connection, user_id)


TEMPORARY_MINUTES = 30  # USER-3: how long a forgotten password's temporary password opens the activation step


OFFER_EVERY = timedelta(seconds=60)  # USER-3: at most one forgotten-password mail pair per login in this time


def offer_temporary_password(engine: Engine, user_id: int, *, at: datetime | None = None) -> str | None:
    """USER-3, a forgotten password: a temporary password that opens only the activation step, for
    TEMPORARY_MINUTES, BESIDE the user's own password, which keeps working until a new one is chosen (so a stranger
    who types someone's login on the forgotten-password page locks nobody out). A new offer voids the previous.
    None (and no new offer) when one was made less than OFFER_EVERY ago: the page cannot flood a mailbox."""
    at = at or now()
    password = temporary_password()
    password_hash = hash_password(password)  # the same cost whether or not an offer is made
    with engine.begin() as connection:
        # a no-op write first: it takes the user's row lock, so two requests at once cannot both see no recent offer
        connection.execute(update(users).where(users.c.id == user_id).values(failed_logins=users.c.failed_logins))
        last = connection.execute(select(func.max(user_codes.c.created_at)).where(
            user_codes.c.user_id == user_id, user_codes.c.purpose == "temporary")).scalar()
        if last is not None and _aware(last) > at - OFFER_EVERY:
            return None
        connection.execute(update(user_codes).where(
            user_codes.c.user_id == user_id, user_codes.c.purpose == "temporary", user_codes.c.used_at.is_(None))
            .values(used_at=at))
        connection.execute(insert(user_codes).values(
            user_id=user_id, purpose="temporary", channel=None, code_hash=password_hash, attempts=0,
            created_at=at, expires_at=at + timedelta(minutes=TEMPORARY_MINUTES)))
    return password


def _offered_temporary(connection, user_id: int, password: str, at: datetime) -> bool:
    """The password is the user's live temporary password (USER-3), offered by the forgotten-password page."""
    rows = connection.execute(select(user_codes.c.code_hash, user_codes.c.expires_at).where(
        user_codes.c.user_id == user_id, user_codes.c.purpose == "temporary", user_codes.c.used_at.is_(None)))
    for row in rows:
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
        if expires > at and verify_password(row.code_hash, password):
            return True
    return False


# USER-1: lockout with backoff. Five wrong passwords in a row lock the login for a minute, each further failure
# doubles the lock, up to an hour; a success resets the count.
LOCK_AFTER = 5
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(hours=1)
FAILURE_MEMORY = timedelta(hours=24)  # how far back failures count, for a known login as for an unknown one
_DUMMY: list[str] = []


@dataclass(frozen=True)
class LoginAttempt:
    """What a login attempt gave: `ok` (the password matched), `wrong` or `locked` (with the time left)."""

    outcome: str
    user: User | None
    wait: timedelta = timedelta(0)


def lock_length(failures: int) -> timedelta:
    """How long `failures` failures in a row lock a login: none before five, then 1 min doubling, capped at 1 h."""
    if failures < LOCK_AFTER:
        return timedelta(0)
    return min(FIRST_LOCK * 2 ** min(failures - LOCK_AFTER, 12), MAX_LOCK)


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _dummy_hash() -> str:
    """A hash to verify against when there is no password to check, so every answer takes about as long."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def _unknown_lock(connection, login: str, at: datetime) -> timedelta:
    """The lock an unknown login would have by now, from its failures in the audit log (written with the login
    lowered and trimmed, as `login` is here: an exact comparison an index on the actor can serve): an unknown login
    is locked exactly like a known one, so a lock message says nothing about whether the login exists."""
    count, last = connection.execute(
        select(func.count(), func.max(audit_log.c.at)).where(
            audit_log.c.action == "login_failed", audit_log.c.actor == login, audit_log.c.user_id.is_(None),
            audit_log.c.at > at - FAILURE_MEMORY)).one()
    if not count:
        return timedelta(0)
    return max(_aware(last) + lock_length(count) - at, timedelta(0))


def lock_left(row, at: datetime) -> timedelta:
    """The time left on a users row's lock (zero: not locked)."""
    until = _aware(row.locked_until)
    return max(until - at, timedelta(0)) if until else timedelta(0)


def claim_attempt(engine: Engine, user_id: int, *, at: datetime | None = None) -> timedelta:
    """USER-1: count an attempt (password or second-factor code) as a failure BEFORE checking it, in one atomic
    write that a lock refuses: parallel attempts cannot all slip through before the lock. Returns the time left on
    the lock (zero: the attempt is counted and may be checked; a right answer then calls `release_attempt` or
    `note_success`). `locked_until` keeps the last failure's time plus its lock, so failures older than
    FAILURE_MEMORY no longer count, as for an unknown login."""
    at = at or now()
    with engine.begin() as connection:
        recent = or_(users.c.locked_until.is_(None), users.c.locked_until > at - FAILURE_MEMORY)
        counted = connection.execute(update(users).where(
            users.c.id == user_id, or_(users.c.locked_until.is_(None), users.c.locked_until <= at))
            .values(failed_logins=case((recent, users.c.failed_logins + 1), else_=1))).rowcount
        row = connection.execute(select(users.c.failed_logins, users.c.locked_until)
                                 .where(users.c.id == user_id)).one()
        if not counted:
            return max(lock_left(row, at), timedelta(microseconds=1))
        connection.execute(update(users).where(users.c.id == user_id)
                           .values(locked_until=at + lock_length(row.failed_logins)))
    return timedelta(0)


def release_attempt(engine: Engine, user_id: int, *, at: datetime | None = None) -> None:
    """The attempt counted by `claim_attempt` was right: it is no failure (nor the lock it brought)."""
    at = at or now()
    with engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == user_id).values(
            failed_logins=case((users.c.failed_logins > 0, users.c.failed_logins - 1), else_=0), locked_until=at))


def failure_lock(engine: Engine, user_id: int, *, at: datetime | None = None) -> timedelta:
    """The lock the failures counted so far bring from `at` (what a counted wrong attempt answers)."""
    at = at or now()
    with engine.connect() as connection:
        row = connection.execute(select(users.c.locked_until).where(users.c.id == user_id)).one()
    return lock_left(row, at)


def note_failure(engine: Engine, user_id: int, *, at: datetime | None = None) -> timedelta:
    """One more failure (a wrong code checked without `claim_attempt`); returns the lock the failures bring."""
    at = at or now()
    claim_attempt(engine, user_id, at=at)
    return failure_lock(engine, user_id, at=at)


def note_success(engine: Engine, user_id: int, *, at: datetime | None = None) -> None:
    """A login completed: the failure count and any lock reset, the login time kept."""
    at = at or now()
    with engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == user_id).values(
            failed_logins=0, locked_until=None, last_login_at=at))


def attempt_login(engine: Engine, login: str, password: str, *, at: datetime | None = None) -> LoginAttempt:
    """USER-1: check an identifier and password, with lockout and backoff. The attempt is counted before the
    password is checked (`claim_attempt`); a locked login's password is not checked. Every answer verifies one
    hash (a dummy one for a locked, unknown or deactivated login), so its time says nothing; an unknown or
    deactivated login answers like a wrong password. A success here does not reset the count: the second factor
    may still fail (`note_success`)."""
    at = at or now()
    login = login.strip().lower()
    with engine.connect() as connection:
        row = find_login(connection, login)
        unknown_wait = _unknown_lock(connection, login, at) if row is None else timedelta(0)
    wait = claim_attempt(engine, row.id, at=at) if row is not None else unknown_wait
    if wait:
        verify_password(_dummy_hash(), password)
        return LoginAttempt("locked", as_user(row) if row is not None else None, wait)
    if row is None or not row.active:
        verify_password(_dummy_hash(), password)
        return LoginAttempt("wrong", None if row is None else as_user(row),
                            timedelta(0) if row is None else failure_lock(engine, row.id, at=at))
    if verify_password(row.password_hash, password):
        release_attempt(engine, row.id, at=at)
        return LoginAttempt("ok", as_user(row))
    with engine.connect() as connection:
        temporary = _offered_temporary(connection, row.id, password, at)
    if temporary:  # it opens only the activation step
        release_attempt(engine, row.id, at=at)
        return LoginAttempt("ok", replace(as_user(row), password_temporary=True))
    return LoginAttempt("wrong", as_user(row), failure_lock(engine, row.id, at=at))


def recheck_password(engine: Engine, user_id: int, password: str, *, at: datetime | None = None) -> str:
    """A logged-in person confirms their current password before a sensitive change (their second factor, its
    recovery codes): "ok", "wrong" (counted towards the lockout, like a login's) or "locked" (not checked)."""
    at = at or now()
    if claim_attempt(engine, user_id, at=at):
        verify_password(_dummy_hash(), password)
        return "locked"
    with engine.connect() as connection:
        stored = connection.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar_one()
    if verify_password(stored, password):
        release_attempt(engine, user_id, at=at)
        return "ok"
    return "wrong"


def temporary_password(length: int = 16) -> str:
    """USER-3: a random password that meets USER-1 (each class at least once)."""
    classes = ("ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnpqrstuvwxyz", "23456789", "!#%+-=?@")
    chosen = [secrets.choice(letters) for letters in classes]
    chosen += [secrets.choice("".join(classes)) for _ in range(length - len(chosen))]
    secrets.SystemRandom().shuffle(chosen)
    return "".join(chosen)


def update_user_password(engine: Engine, user_id: int, current: str, new: str) -> None:
    """USER-1: a person changes their own password, giving the current one (a wrong one is refused)."""
    with engine.connect() as connection:
        row = connection.execute(select(users.c.password_hash).where(users.c.id == user_id)).one()
    if not verify_password(row.password_hash, current):
        raise UserError("password: the current password is wrong [USER-1]")
    set_password(engine, user_id, new)
