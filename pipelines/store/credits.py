"""SEND-5, SEND-8: an account's credits as a ledger in the account store; a campaign's reservation, settled once.

The balance is never stored: it is the sum of the ledger's entries, `topup` (+), `reserve` (−) and `settle` (+, what
a campaign gives back when it ends; its row also marks the campaign settled, so the ledger alone knows which
reservations are still held, whether or not the campaign has a row in `campaigns`). An account with no credit
limit (`accounts.credit_limited` False, until its first top-up) holds nothing: its campaigns write one
`unlimited` entry (0 credits) so their reservation and settlement are still recorded once.

Reservations are serialised per account: on SQLite every transaction begins IMMEDIATE (the store's engine), on
PostgreSQL the account's row is locked (`SELECT ... FOR UPDATE`) before the balance is read. Two campaigns
reserving at once never spend the same credit: the second reads the balance the first left. It does not wait
for credits to come back: it holds what is left (whole messages, in list order) and reports the shortfall, so
the rows beyond it get status 8 (`Reservation.short`; `pipelines.settlement.cut_plan` rewrites the plan).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, case, func, insert, select, update

from pipelines.store.accounts import DEFAULT_ACCOUNT, account_in
from pipelines.store.engine import StoreError, now as utc_now
from pipelines.store.schema import accounts, campaigns, credit_ledger

TOPUP, RESERVE, SETTLE, UNLIMITED = "topup", "reserve", "settle", "unlimited"
_SIGN = {TOPUP: 1, RESERVE: -1, SETTLE: 1, UNLIMITED: 0}


class CreditError(StoreError, ValueError):
    """A credit operation refused: names the account or campaign, the value and the rule."""


@dataclass(frozen=True)
class Reservation:
    """What a campaign holds (`held` credits) and how many it wanted but could not get (`short`: the rows past
    `held` get status 8). `limited` False: the account has no credit limit, nothing is held and nothing is short."""

    account_id: str
    campaign_id: str
    held: int
    short: int
    limited: bool = True


def _lock(connection, account_id: str) -> bool:
    """The account exists (the default one is created) and is ours until the transaction ends; returns whether
    its credits are limited. SQLite's BEGIN IMMEDIATE already holds the store's write lock."""
    account_in(connection, account_id)
    statement = select(accounts.c.credit_limited).where(accounts.c.id == account_id)
    if connection.dialect.name != "sqlite":
        statement = statement.with_for_update()
    return bool(connection.execute(statement).scalar_one())


def _balance(connection, account_id: str) -> int:
    signed = case((credit_ledger.c.kind == RESERVE, -credit_ledger.c.credits),
                  (credit_ledger.c.kind.in_((TOPUP, SETTLE)), credit_ledger.c.credits), else_=0)
    total = connection.execute(select(func.coalesce(func.sum(signed), 0))
                               .where(credit_ledger.c.account_id == account_id)).scalar_one()
    return int(total)


def _entries(connection, campaign_id: str) -> dict[str, object]:
    """The campaign's reservation (`reserve` or `unlimited` row) and settlement (`settle` row), by kind."""
    rows = connection.execute(select(credit_ledger).where(credit_ledger.c.campaign_id == campaign_id)
                              .order_by(credit_ledger.c.id)).all()
    return {row.kind: row for row in rows}


def _add(connection, account_id: str, kind: str, credits: int, reason: str, *, campaign_id: str | None = None,
         run_id: str | None = None, by: str | None = None, at: datetime | None = None) -> None:
    connection.execute(insert(credit_ledger).values(account_id=account_id, campaign_id=campaign_id, kind=kind,
                                                    credits=credits, reason=reason, run_id=run_id, by=by,
                                                    at=at or utc_now()))


def balance(engine: Engine, account_id: str = DEFAULT_ACCOUNT) -> int | None:
    """The credits the account can still reserve; None: it has no credit limit (no top-up yet)."""
    with engine.begin() as connection:
        if not account_in(connection, account_id).credit_limited:
            return None
        return _balance(connection, account_id)


def top_up(engine: Engine, account_id: str, credits: int, reason: str = "top-up", by: str | None = None, *,
           now: datetime | None = None) -> int:
    """Add credits (an administrator's act); the first top-up gives the account its credit limit. Returns the
    new balance."""
    if int(credits) <= 0:
        raise CreditError(f"top-up of {credits} credits for account {account_id!r}: must be a positive number "
                          f"[SEND-5]")
    with engine.begin() as connection:
        if not _lock(connection, account_id):
            connection.execute(update(accounts).where(accounts.c.id == account_id)
                               .values(credit_limited=True, updated_at=now or utc_now()))
        _add(connection, account_id, TOPUP, int(credits), reason, by=by, at=now)
        return _balance(connection, account_id)


def history(engine: Engine, account_id: str = DEFAULT_ACCOUNT, campaign_id: str | None = None) -> list[dict]:
    """The account's ledger, oldest first: each entry with its signed `change` and the `balance` after it."""
    with engine.begin() as connection:
        account_in(connection, account_id)
        statement = select(credit_ledger).where(credit_ledger.c.account_id == account_id).order_by(credit_ledger.c.id)
        rows = connection.execute(statement).all()
    entries, running = [], 0
    for row in rows:
        change = _SIGN.get(row.kind, 0) * row.credits
        running += change
        if campaign_id is None or row.campaign_id == campaign_id:
            entries.append({"id": row.id, "at": row.at, "kind": row.kind, "credits": row.credits, "change": change,
                            "balance": running, "campaign_id": row.campaign_id, "reason": row.reason,
                            "run_id": row.run_id, "by": row.by})
    return entries


def reserve(engine: Engine, account_id: str, campaign_id: str, wanted: int, *, steps: Sequence[int] | None = None,
            run_id: str | None = None, now: datetime | None = None) -> Reservation:
    """SEND-5: hold up to `wanted` credits for the campaign, in one transaction that cannot overspend.

    `steps`: the credits spent after each sendable row in list order (ascending, the last one `wanted`): the
    reservation stops at a whole message. Short of credits, the campaign holds what is left and `short` says how
    many it lacks (never waits). Idempotent: reserving again returns the first reservation; a settled campaign
    cannot reserve again.
    """
    wanted = int(wanted)
    if wanted < 0:
        raise CreditError(f"campaign {campaign_id!r} cannot reserve {wanted} credits [SEND-5]")
    with engine.begin() as connection:
        limited = _lock(connection, account_id)
        entries = _entries(connection, campaign_id)
        if SETTLE in entries:
            raise CreditError(f"campaign {campaign_id!r} was settled at {entries[SETTLE].at:%Y-%m-%d %H:%M:%S}; "
                              f"a settled campaign reserves no more credits [SEND-8]")
        if UNLIMITED in entries:
            return Reservation(account_id, campaign_id, 0, 0, limited=False)
        if RESERVE in entries:
            held = int(entries[RESERVE].credits)
            return Reservation(account_id, campaign_id, held, max(0, wanted - held))
        if not limited:
            _add(connection, account_id, UNLIMITED, 0, "no credit limit: nothing held", campaign_id=campaign_id,
                 run_id=run_id, at=now)
            _mirror(connection, campaign_id, credits_reserved=0)
            return Reservation(account_id, campaign_id, 0, 0, limited=False)
        available = max(0, _balance(connection, account_id))
        held = min(wanted, available)
        if steps is not None and held < wanted:
            held = ([0, *steps][bisect.bisect_right(list(steps), held)])  # the last whole message that fits
        reason = "campaign approved" if held == wanted else \
            f"campaign approved: {held:,} of {wanted:,} credits available, the rest get status 8"
        _add(connection, account_id, RESERVE, held, reason, campaign_id=campaign_id, run_id=run_id, at=now)
        _mirror(connection, campaign_id, credits_reserved=held)
        return Reservation(account_id, campaign_id, held, wanted - held)


def reservation(engine: Engine, campaign_id: str) -> dict | None:
    """The campaign's reservation as the ledger has it (account, held, limited, settled, given back, at)."""
    with engine.begin() as connection:
        entries = _entries(connection, campaign_id)
    reserved = entries.get(RESERVE) or entries.get(UNLIMITED)
    if reserved is None:
        return None
    settled = entries.get(SETTLE)
    return {"account_id": reserved.account_id, "campaign_id": campaign_id, "held": int(reserved.credits),
            "limited": reserved.kind == RESERVE, "run_id": reserved.run_id, "reserved_at": reserved.at,
            "settled_at": settled.at if settled else None, "given_back": int(settled.credits) if settled else None}


def settle(engine: Engine, campaign_id: str, sent_parts: int, reason: str, *, now: datetime | None = None) -> int:
    """SEND-8: end the campaign's reservation: `sent_parts` stay spent, the rest of what it held comes back.
    Returns the credits given back (0 when already settled, or nothing was reserved). Idempotent."""
    with engine.begin() as connection:
        first = connection.execute(select(credit_ledger.c.account_id).where(
            credit_ledger.c.campaign_id == campaign_id,
            credit_ledger.c.kind.in_((RESERVE, UNLIMITED)))).scalar()
        if first is None:
            return 0
        _lock(connection, first)  # serialised with reservations of the same account: settled once
        entries = _entries(connection, campaign_id)
        if SETTLE in entries:
            return 0
        held = int(entries[RESERVE].credits) if RESERVE in entries else 0
        back = max(0, held - max(0, int(sent_parts)))
        stamp = now or utc_now()
        spent = f"{held - back:,} spent" if RESERVE in entries else f"{int(sent_parts):,} parts sent, no credit limit"
        _add(connection, first, SETTLE, back, f"{reason}: {spent}, {back:,} given back", campaign_id=campaign_id,
             at=stamp)
        _mirror(connection, campaign_id, settled_at=stamp)
        return back


def unsettled(engine: Engine, account_id: str | None = None) -> list[dict]:
    """The reservations still held (no settle entry yet), oldest first."""
    settled = select(credit_ledger.c.campaign_id).where(credit_ledger.c.kind == SETTLE)
    statement = select(credit_ledger).where(credit_ledger.c.kind.in_((RESERVE, UNLIMITED)),
                                            credit_ledger.c.campaign_id.not_in(settled)).order_by(credit_ledger.c.id)
    if account_id is not None:
        statement = statement.where(credit_ledger.c.account_id == account_id)
    with engine.begin() as connection:
        rows = connection.execute(statement).all()
    return [{"account_id": row.account_id, "campaign_id": row.campaign_id, "run_id": row.run_id,
             "held": int(row.credits), "reserved_at": row.at} for row in rows]


def settle_ended(engine: Engine, ended: Callable[[dict], bool], sent_parts: Callable[[str], int], *,
                 account_id: str | None = None, reason: str = "run ended without settling",
                 now: datetime | None = None) -> dict[str, int]:
    """SEND-8's reconciler: settle every reservation whose run has ended (`ended(reservation)` says so, e.g. an
    Airflow run marked failed by hand, which skips `close`). `sent_parts(campaign_id)` counts what was sent.
    Returns campaign id → credits given back."""
    settled = {}
    for held in unsettled(engine, account_id):
        if ended(held):
            settled[held["campaign_id"]] = settle(engine, held["campaign_id"], sent_parts(held["campaign_id"]),
                                                  reason, now=now)
    return settled


def _mirror(connection, campaign_id: str, **values) -> None:
    """The campaign's row (when the lifecycle has one) shows its reservation; the ledger stays the truth."""
    connection.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(**values))
