"""USER-1, USER-4 (issue 14): the extranet's users in the account store, passwords hashed with Argon2id.

A user belongs to one account (ACC-3) and logs in with an identifier (their email by default, USER-1). Roles:
`admin` manages the account's users, settings, blacklists and credits; `user` runs campaigns, lists and reports; a
`superadmin` (the platform's) also manages the global blacklist and the accounts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from pipelines.store.accounts import account_in
from pipelines.store.engine import StoreError, now
from pipelines.store.schema import users

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


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # Argon2id, argon2-cffi's RFC 9106 low-memory profile


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


def set_password(engine: Engine, user_id: int, password: str, *, temporary: bool = False) -> None:
    """A new password (USER-1 policy), clearing a lockout."""
    check_password(password)
    with engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == user_id).values(
            password_hash=hash_password(password), password_temporary=temporary, failed_logins=0,
            locked_until=None, updated_at=now()))
