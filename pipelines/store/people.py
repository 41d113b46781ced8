"""USER-2, USER-4 (issue 14): administering an account's people in the store, and reading its audit log.

An administrator adds users with a temporary password, changes their details and role, activates or deactivates
their login (a deactivated user's sessions end at once), resets their second factor, and may require one for the
whole account. An account never loses its last active administrator. The pages and `smsflow users` share these
functions (one library, two faces); `pipelines.store.users` creates users and checks passwords.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, or_, select, update

from pipelines.store.accounts import account_in
from pipelines.store.engine import now
from pipelines.store.schema import accounts, audit_log, trusted_devices, user_codes, users
from pipelines.store.second_factor import issue_code
from pipelines.store.users import (
    EMAIL, ROLES, User, UserError, as_user, create_user, end_sessions, find_login, set_password, temporary_password,
)

AUDIT_PAGE = 50
# The codes a second-factor reset voids (USER-2): login codes by SMS or email, recovery codes.
SECOND_FACTOR_CODES = ("login", "recovery")


class LastAdminError(UserError):
    """A change that would leave an account without an active administrator (USER-4)."""


def checked_mobile(raw: str | None) -> str | None:
    """A user's mobile in E.164 (where SMS login codes go, USER-2), French numbers without their +33; empty: none."""
    if raw is None or not raw.strip():
        return None
    from pipelines.numbers import reference_verdict

    verdict = reference_verdict(raw.strip())
    if not verdict.valid:
        raise UserError(f"mobile: {raw.strip()!r} is not a mobile number [USER-4]")
    return verdict.int_mobile


def add_person(engine: Engine, account_id: str, email: str, *, role: str = "user", login: str | None = None,
               first_name: str = "", last_name: str = "", mobile: str | None = None, superadmin: bool = False,
               password: str | None = None) -> tuple[User, str, str | None]:
    """USER-4: a new user of `account_id`, the password to give them once and, when that password was generated
    (temporary), the USER-3 activation code their first login asks for before they choose their own."""
    mobile = checked_mobile(mobile)
    if password is not None:
        user = create_user(engine, account_id, email, password, role=role, login=login or None,
                           first_name=first_name, last_name=last_name, mobile=mobile or None,
                           superadmin=superadmin)
        return user, password, None
    password = temporary_password()
    user = create_user(engine, account_id, email, password, role=role, login=login or None, first_name=first_name,
                       last_name=last_name, mobile=mobile or None, superadmin=superadmin, temporary=True)
    return user, password, issue_code(engine, user.id, "activation")


def give_temporary_password(engine: Engine, user_id: int, *, account_id: str | None = None) -> tuple[User, str, str]:
    """USER-3 started by an administrator: a new temporary password and activation code for the user; their
    sessions end with the old password (`set_password`)."""
    with engine.connect() as connection:
        _user_row(connection, user_id, account_id)
    password = temporary_password()
    set_password(engine, user_id, password, temporary=True)
    with engine.connect() as connection:
        row = _user_row(connection, user_id, None)
    return as_user(row), password, issue_code(engine, user_id, "activation")


def person_of_login(engine: Engine, login: str) -> User:
    """The user of an identifier (case-insensitive), or a refusal naming it."""
    with engine.connect() as connection:
        row = find_login(connection, login)
    if row is None:
        raise UserError(f"login: no user {login.strip().lower()!r} in the store [USER-4]")
    return as_user(row)


def _user_row(connection, user_id: int, account_id: str | None):
    query = select(users).where(users.c.id == user_id)
    if account_id is not None:
        query = query.where(users.c.account_id == account_id)
    row = connection.execute(query).first()
    if row is None:
        raise UserError(f"no user {user_id} in account {account_id!r} [USER-4]")
    return row


def _keeps_an_admin(connection, row, *, role: str, active: bool) -> None:
    """Refuse a change of `row` to (`role`, `active`) that leaves its account without an active administrator."""
    was_admin = row.active and (row.role == "admin" or row.superadmin)
    stays_admin = active and (role == "admin" or row.superadmin)
    if not was_admin or stays_admin:
        return
    # One admin change per account at a time (PostgreSQL: a row lock; SQLite writes one at a time anyway), so two
    # admins demoting each other at once cannot both pass the count below.
    connection.execute(select(accounts.c.id).where(accounts.c.id == row.account_id).with_for_update())
    others = connection.execute(
        select(func.count()).select_from(users).where(
            users.c.account_id == row.account_id, users.c.id != row.id, users.c.active.is_(True),
            or_(users.c.role == "admin", users.c.superadmin.is_(True)))).scalar_one()
    if not others:
        raise LastAdminError(f"{row.login}: the last active administrator of account {row.account_id!r} stays "
                             f"an active administrator (make another user an administrator first) [USER-4]")


def set_active(engine: Engine, user_id: int, active: bool, *, account_id: str | None = None) -> User:
    """USER-4: activate or deactivate a login; a deactivated user's sessions end at once."""
    with engine.begin() as connection:
        row = _user_row(connection, user_id, account_id)
        _keeps_an_admin(connection, row, role=row.role, active=active)
        connection.execute(update(users).where(users.c.id == user_id).values(active=active, updated_at=now()))
        if not active:
            end_sessions(connection, user_id)
        return as_user(_user_row(connection, user_id, None))


def set_role(engine: Engine, user_id: int, role: str, *, account_id: str | None = None) -> User:
    """USER-4: make a user an administrator or a user (never leaving the account without an active admin)."""
    if role not in ROLES:
        raise UserError(f"role: {role!r} is not one of {', '.join(ROLES)} [USER-4]")
    with engine.begin() as connection:
        row = _user_row(connection, user_id, account_id)
        _keeps_an_admin(connection, row, role=role, active=row.active)
        connection.execute(update(users).where(users.c.id == user_id).values(role=role, updated_at=now()))
        return as_user(_user_row(connection, user_id, None))


def update_person(engine: Engine, user_id: int, *, account_id: str | None = None, email: str | None = None,
                  first_name: str | None = None, last_name: str | None = None,
                  mobile: str | None = None) -> User:
    """USER-4: change a user's details (only those given; an empty mobile clears it). The login stays."""
    changes: dict = {}
    if email is not None:
        email = email.strip().lower()
        if not EMAIL.match(email):
            raise UserError(f"email: {email!r} is not an email address [USER-4]")
        changes["email"] = email
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if value is not None:
            changes[name] = value.strip()[:128]
    if mobile is not None:
        changes["mobile"] = checked_mobile(mobile)
    with engine.begin() as connection:
        _user_row(connection, user_id, account_id)
        if changes:
            connection.execute(update(users).where(users.c.id == user_id).values(**changes, updated_at=now()))
        return as_user(_user_row(connection, user_id, None))


def reset_second_factor(engine: Engine, user_id: int, *, account_id: str | None = None) -> User:
    """USER-2: an administrator resets a user's second factor: method, authenticator secret, login and recovery
    codes and trusted devices are gone, and the user's sessions end; they enrol again at their next login."""
    with engine.begin() as connection:
        _user_row(connection, user_id, account_id)
        connection.execute(update(users).where(users.c.id == user_id).values(
            second_factor=None, totp_secret=None, totp_pending=None, totp_last_step=None, updated_at=now()))
        connection.execute(delete(user_codes).where(user_codes.c.user_id == user_id,
                                                    user_codes.c.purpose.in_(SECOND_FACTOR_CODES)))
        connection.execute(delete(trusted_devices).where(trusted_devices.c.user_id == user_id))
        end_sessions(connection, user_id)
        return as_user(_user_row(connection, user_id, None))


def require_second_factor(engine: Engine, account_id: str, required: bool) -> None:
    """USER-2: an administrator requires (or no longer requires) a second factor for the account's users."""
    with engine.begin() as connection:
        account_in(connection, account_id)
        connection.execute(update(accounts).where(accounts.c.id == account_id)
                           .values(require_second_factor=required, updated_at=now()))


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log: who, when, what, on what, from where."""

    id: int
    account_id: str | None
    user_id: int | None
    actor: str | None
    action: str
    target: str | None
    detail: str | None
    ip: str | None
    at: datetime


@dataclass(frozen=True)
class AuditPage:
    """A page of the audit log, newest first, and how many lines match in all."""

    entries: list[AuditEntry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def record(engine: Engine, action: str, *, account_id: str | None, actor: str, target: str | None = None,
           detail: str | None = None, user_id: int | None = None) -> None:
    """An audit line for an action taken outside the extranet (`smsflow users`: the actor is the shell user)."""
    with engine.begin() as connection:
        connection.execute(insert(audit_log).values(account_id=account_id, user_id=user_id, actor=actor[:254],
                                                    action=action, target=target, detail=detail, ip=None,
                                                    at=now()))


def _audit_scope(account_id: str, platform: bool):
    """The account's lines, and the platform's (account_id None) for a superadmin."""
    mine = audit_log.c.account_id == account_id
    return or_(mine, audit_log.c.account_id.is_(None)) if platform else mine


def audit_entries(engine: Engine, account_id: str, *, platform: bool = False, action: str | None = None,
                  actor: str | None = None, search: str | None = None, page: int = 1,
                  per_page: int = AUDIT_PAGE) -> AuditPage:
    """The account's audit log, newest first, filtered by action, by person (login) and by a search in the target,
    detail, person and address; `platform` adds the platform-wide lines (superadmins)."""
    conditions = [_audit_scope(account_id, platform)]
    if action:
        conditions.append(audit_log.c.action == action)
    if actor:
        conditions.append(audit_log.c.actor == actor)
    if search:
        wanted = search.strip().lower()
        conditions.append(or_(*(func.lower(column).contains(wanted, autoescape=True) for column in (
            audit_log.c.target, audit_log.c.detail, audit_log.c.actor, audit_log.c.action, audit_log.c.ip))))
    page = max(1, page)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(audit_log).where(*conditions)).scalar_one()
        rows = connection.execute(select(audit_log).where(*conditions)
                                  .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
                                  .limit(per_page).offset((page - 1) * per_page))
        entries = [AuditEntry(**row._mapping) for row in rows]
    return AuditPage(entries=entries, total=total, page=page, per_page=per_page)


def audit_choices(engine: Engine, account_id: str, *, platform: bool = False) -> tuple[list[str], list[str]]:
    """The actions and the people found in the account's audit log, for the page's filters."""
    scope = _audit_scope(account_id, platform)
    with engine.connect() as connection:
        actions = connection.execute(select(audit_log.c.action).where(scope).distinct()
                                     .order_by(audit_log.c.action)).scalars().all()
        actors = connection.execute(select(audit_log.c.actor).where(scope, audit_log.c.actor.is_not(None))
                                    .distinct().order_by(audit_log.c.actor)).scalars().all()
    return list(actions), list(actors)
