"""USER-2, USER-3: the second factor and one-time codes, in the account store.

An authenticator app (TOTP, 30 s steps, the current step ±1, each step accepted once), a 6-digit code sent by SMS
or email (5 minutes, single use, 5 attempts), ten single-use recovery codes, USER-3's activation code (30 minutes),
and "trust this device for 7 days". Codes and device tokens are kept only as salted hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, delete, func, insert, or_, select, update

from pipelines.store.engine import now
from pipelines.store.schema import accounts, audit_log, trusted_devices, user_codes, users
from pipelines.store.users import UserError

METHODS = ("totp", "sms", "email")
CODE_MINUTES = {"login": 5, "activation": 30}  # USER-2: 5 minutes; USER-3: the activation code
MAX_ATTEMPTS = 5  # per code: a sixth try is refused even with the right code
RECOVERY_CODES = 10
TRUST_DAYS = 7
STEP = 30  # seconds of a TOTP step


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _digest(code: str, salt: str) -> str:
    return f"{salt}${hashlib.sha256(f'{salt}:{code}'.encode()).hexdigest()}"


def _matches(code: str, stored: str) -> bool:
    salt = stored.split("$", 1)[0]
    return hmac.compare_digest(_digest(code, salt), stored)


def _normal(code: str) -> str:
    """A code as typed, without spaces or dashes, in lower case (recovery codes are shown grouped)."""
    return "".join(code.split()).replace("-", "").lower()


# --- the account's rule -------------------------------------------------------------------------------------
def required_for(engine: Engine, account_id: str) -> bool:
    """USER-2: whether the account requires a second factor of all its users."""
    with engine.connect() as connection:
        return bool(connection.execute(select(accounts.c.require_second_factor)
                                       .where(accounts.c.id == account_id)).scalar())


# --- TOTP -----------------------------------------------------------------------------------------------------
def _totp(secret: str):
    import pyotp

    return pyotp.TOTP(secret, interval=STEP)


def start_totp(engine: Engine, user_id: int) -> str:
    """A new pending TOTP secret (base32), confirmed only by a first valid code (`confirm_totp`)."""
    import pyotp

    secret = pyotp.random_base32()
    with engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == user_id).values(totp_pending=secret, updated_at=now()))
    return secret


def pending_totp(engine: Engine, user_id: int) -> str | None:
    with engine.connect() as connection:
        return connection.execute(select(users.c.totp_pending).where(users.c.id == user_id)).scalar()


def totp_uri(secret: str, login: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return _totp(secret).provisioning_uri(name=login, issuer_name="smsflow")


def _step_of(secret: str, code: str, at: datetime) -> int | None:
    """The time step (current ±1) whose code is `code`, or None."""
    code = _normal(code)
    if not (code.isascii() and code.isdigit() and len(code) == 6):  # "١٢٣٤٥٦".isdigit() too
        return None
    totp, current = _totp(secret), int(at.timestamp()) // STEP
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def _accept_step(connection, user_id: int, step: int, **values) -> bool:
    """Keep `step` as the last one used, unless a step as late was already accepted (a code is used once)."""
    result = connection.execute(update(users).where(
        users.c.id == user_id, or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step))
        .values(totp_last_step=step, updated_at=now(), **values))
    return result.rowcount == 1


def confirm_totp(engine: Engine, user_id: int, code: str, *, at: datetime | None = None) -> bool:
    """The first code from the app confirms the pending secret: TOTP becomes the user's second factor."""
    at = at or now()
    with engine.begin() as connection:
        pending = connection.execute(select(users.c.totp_pending).where(users.c.id == user_id)).scalar()
        step = _step_of(pending, code, at) if pending else None
        if step is None:
            return False
        connection.execute(update(users).where(users.c.id == user_id).values(totp_last_step=None))
        return _accept_step(connection, user_id, step, totp_secret=pending, totp_pending=None, second_factor="totp")


def check_totp(engine: Engine, user_id: int, code: str, *, at: datetime | None = None) -> bool:
    """A login code from the app: the current step ±1, and later than the last step accepted (no reuse)."""
    at = at or now()
    with engine.begin() as connection:
        secret = connection.execute(select(users.c.totp_secret).where(users.c.id == user_id)).scalar()
        step = _step_of(secret, code, at) if secret else None
        return step is not None and _accept_step(connection, user_id, step)


# --- one-time codes (SMS, email, activation) ----------------------------------------------------------------
def issue_code(engine: Engine, user_id: int, purpose: str, channel: str | None = None, *,
               at: datetime | None = None) -> str:
    """A new 6-digit code for `purpose` (login, activation); the user's earlier unused ones are void."""
    at = at or now()
    code = f"{secrets.randbelow(10 ** 6):06d}"
    with engine.begin() as connection:
        connection.execute(delete(user_codes).where(user_codes.c.user_id == user_id, user_codes.c.purpose == purpose,
                                                    user_codes.c.used_at.is_(None)))
        connection.execute(insert(user_codes).values(
            user_id=user_id, purpose=purpose, channel=channel, code_hash=_digest(code, secrets.token_hex(8)),
            attempts=0, created_at=at, expires_at=at + timedelta(minutes=CODE_MINUTES[purpose])))
    return code


def check_code(engine: Engine, user_id: int, purpose: str, code: str, *, channel: str | None = None,
               at: datetime | None = None) -> bool:
    """The user's live code for `purpose` (of `channel` when given): unexpired, unused, under 5 attempts.
    The try is counted first, in one write that refuses a sixth (parallel tries cannot pass the limit); only a
    counted try is checked, and a match uses the code up."""
    at, code = at or now(), _normal(code)
    with engine.begin() as connection:
        query = select(user_codes.c.id, user_codes.c.code_hash, user_codes.c.expires_at).where(
            user_codes.c.user_id == user_id, user_codes.c.purpose == purpose, user_codes.c.used_at.is_(None))
        if channel is not None:
            query = query.where(user_codes.c.channel == channel)
        row = connection.execute(query.order_by(user_codes.c.id.desc())).first()
        if row is None or _aware(row.expires_at) <= at:
            return False
        counted = connection.execute(update(user_codes).where(
            user_codes.c.id == row.id, user_codes.c.used_at.is_(None), user_codes.c.attempts < MAX_ATTEMPTS)
            .values(attempts=user_codes.c.attempts + 1)).rowcount
        if not counted or not (code.isascii() and code.isdigit() and len(code) == 6):
            return False
        if not _matches(code, row.code_hash):
            return False
        used = connection.execute(update(user_codes).where(user_codes.c.id == row.id, user_codes.c.used_at.is_(None))
                                  .values(used_at=at)).rowcount
        return used == 1


def confirm_channel(engine: Engine, user_id: int, channel: str, code: str, *, at: datetime | None = None) -> bool:
    """The first code sent by SMS or email confirms that channel as the user's second factor."""
    if channel not in ("sms", "email"):
        raise UserError(f"second_factor: {channel!r} is not sms or email [USER-2]")
    if not check_code(engine, user_id, "login", code, channel=channel, at=at):
        return False
    with engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == user_id).values(
            second_factor=channel, totp_secret=None, totp_pending=None, totp_last_step=None, updated_at=now()))
    return True


SEND_COOLDOWN = timedelta(seconds=30)  # between two codes sent to a user (« Renvoyer le code »)
SENDS_PER_HOUR = 10


def send_wait(engine: Engine, user_id: int, *, at: datetime | None = None) -> timedelta:
    """How long before another code may be sent to the user (zero: now): 30 s after the last one, and no more
    than ten in an hour, counted from the audit log's `second_factor_code_sent` lines (every code sent is audited)."""
    at = at or now()
    with engine.connect() as connection:
        sent = [_aware(moment) for moment in connection.execute(select(audit_log.c.at).where(
            audit_log.c.user_id == user_id, audit_log.c.action == "second_factor_code_sent",
            audit_log.c.at > at - timedelta(hours=1)).order_by(audit_log.c.at.desc()).limit(SENDS_PER_HOUR))
            .scalars()]
    if not sent:
        return timedelta(0)
    wait = sent[0] + SEND_COOLDOWN - at
    if len(sent) >= SENDS_PER_HOUR:  # the oldest of the last ten leaves the hour first
        wait = max(wait, sent[-1] + timedelta(hours=1) - at)
    return max(wait, timedelta(0))


# --- recovery codes -----------------------------------------------------------------------------------------
def new_recovery_codes(engine: Engine, user_id: int, *, at: datetime | None = None) -> list[str]:
    """Ten fresh recovery codes (shown once; only their hashes are kept); the earlier ones are void."""
    at = at or now()
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
    with engine.begin() as connection:
        connection.execute(delete(user_codes).where(user_codes.c.user_id == user_id,
                                                    user_codes.c.purpose == "recovery"))
        connection.execute(insert(user_codes), [
            dict(user_id=user_id, purpose="recovery", channel=None, code_hash=_digest(code, secrets.token_hex(8)),
                 attempts=0, created_at=at, expires_at=None) for code in codes])
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def use_recovery_code(engine: Engine, user_id: int, code: str, *, at: datetime | None = None) -> bool:
    """A recovery code instead of any other code: it works once."""
    at, code = at or now(), _normal(code)
    if not (code.isascii() and len(code) == 10):
        return False
    with engine.begin() as connection:
        rows = connection.execute(select(user_codes.c.id, user_codes.c.code_hash).where(
            user_codes.c.user_id == user_id, user_codes.c.purpose == "recovery", user_codes.c.used_at.is_(None)))
        for row in rows.all():
            if _matches(code, row.code_hash):
                used = connection.execute(update(user_codes).where(
                    user_codes.c.id == row.id, user_codes.c.used_at.is_(None)).values(used_at=at))
                return used.rowcount == 1
    return False


def recovery_codes_left(engine: Engine, user_id: int) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(user_codes).where(
            user_codes.c.user_id == user_id, user_codes.c.purpose == "recovery",
            user_codes.c.used_at.is_(None))).scalar_one()


# --- trusted devices ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Device:
    """A browser the user trusts to skip the second factor until `expires_at`."""

    id: int
    user_agent: str
    created_at: datetime
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def trust_device(engine: Engine, user_id: int, user_agent: str | None, *, at: datetime | None = None) -> str:
    """USER-2: this browser skips the second factor for 7 days; returns the token for its cookie."""
    at, token = at or now(), secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(insert(trusted_devices).values(
            user_id=user_id, token_hash=_token_hash(token), user_agent=(user_agent or "")[:512], created_at=at,
            expires_at=at + timedelta(days=TRUST_DAYS)))
    return token


def device_trusted(engine: Engine, user_id: int, token: str | None, *, at: datetime | None = None) -> bool:
    """Whether `token` is a live trusted device of this user (another user's token is worth nothing)."""
    if not token:
        return False
    at = at or now()
    with engine.connect() as connection:
        expires = connection.execute(select(trusted_devices.c.expires_at).where(
            trusted_devices.c.user_id == user_id, trusted_devices.c.token_hash == _token_hash(token))).scalar()
    return expires is not None and _aware(expires) > at


def list_devices(engine: Engine, user_id: int, *, at: datetime | None = None) -> list[Device]:
    at = at or now()
    with engine.connect() as connection:
        rows = connection.execute(select(trusted_devices).where(trusted_devices.c.user_id == user_id)
                                  .order_by(trusted_devices.c.created_at.desc())).all()
    return [Device(row.id, row.user_agent or "", _aware(row.created_at), _aware(row.expires_at)) for row in rows
            if _aware(row.expires_at) > at]


def forget_devices(engine: Engine, user_id: int, device_id: int | None = None) -> int:
    """Forget one trusted device of the user (all of them when `device_id` is None); returns how many."""
    query = delete(trusted_devices).where(trusted_devices.c.user_id == user_id)
    if device_id is not None:
        query = query.where(trusted_devices.c.id == device_id)
    with engine.begin() as connection:
        return connection.execute(query).rowcount
