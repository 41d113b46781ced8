"""SEND-5: the account's credits, as a ledger in the DuckDB warehouse.

A campaign reserves its credits when it is validated; rows beyond the balance get status 8 (status.NO_CREDIT) in the plan
(which is given the available balance). Cancelling or rejecting a campaign gives its reservation back; a
finished campaign gives back what it did not use. Every call is idempotent for a campaign: reserving twice
holds the credits once, releasing twice gives them back once.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.queries import queries
from pipelines.warehouse import connect


def _scalar(connection, name: str, **params) -> int:
    return int(connection.execute(queries("credits.sql")[name], params).fetchone()[0])


def _entry(connection, account: str, campaign: str | None, kind: str, credits: int, reason: str) -> None:
    connection.execute(queries("credits.sql")["add_entry"], {"account_id": account, "campaign_id": campaign,
                                                            "kind": kind, "credits": credits, "reason": reason})


def available(database: Path, account: str) -> int:
    with connect(database) as connection:
        return _scalar(connection, "available", account_id=account)


def top_up(database: Path, account: str, credits: int, reason: str = "top-up") -> int:
    with connect(database) as connection:
        _entry(connection, account, None, "topup", credits, reason)
        return _scalar(connection, "available", account_id=account)


def reserve(database: Path, account: str, campaign: str, credits: int) -> int:
    """Hold `credits` for the campaign (what it already holds counts); returns what it holds now."""
    with connect(database) as connection:
        connection.begin()
        held = _scalar(connection, "held_by_campaign", account_id=account, campaign_id=campaign)
        if credits > held:
            balance = _scalar(connection, "available", account_id=account)
            if credits - held > balance:
                connection.rollback()
                raise ValueError(f"account {account!r} has {balance:,} credits available, the campaign needs "
                                 f"{credits - held:,} more [SEND-5]")
            _entry(connection, account, campaign, "reserve", credits - held, "campaign validated")
        connection.commit()
        return max(credits, held)


def release(database: Path, account: str, campaign: str, keep: int = 0, reason: str = "cancelled") -> int:
    """Give back what the campaign holds beyond `keep` (its used credits); returns the credits released."""
    with connect(database) as connection:
        connection.begin()
        held = _scalar(connection, "held_by_campaign", account_id=account, campaign_id=campaign)
        back = max(0, held - keep)
        if back:
            _entry(connection, account, campaign, "release", back, reason)
        connection.commit()
        return back


def has_ledger(database: Path, account: str) -> bool:
    """Whether the account's credits are kept in this warehouse (else the spec's `account.credits` rules)."""
    if not database.exists():
        return False
    with connect(database) as connection:
        return bool(connection.execute(queries("credits.sql")["has_ledger"], {"account_id": account}).fetchone()[0])
