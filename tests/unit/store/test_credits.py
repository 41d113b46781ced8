"""SEND-5, SEND-8: the credit ledger in the account store, on SQLite and PostgreSQL (concurrent reservations from
real processes: tests/integration/test_credit_reservations.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, select

from pipelines.store import create_account, get_account
from pipelines.store.credits import (
    CreditError, balance, history, reservation, reserve, settle, settle_ended, top_up, unsettled,
)
from pipelines.store.schema import campaigns


def test_send5_no_credit_limit_until_the_first_top_up(store):
    assert balance(store) is None and get_account(store).credit_limited is False
    assert top_up(store, "default", 1_000, "bought", by="admin") == 1_000
    assert get_account(store).credit_limited is True
    assert top_up(store, "default", 500) == 1_500
    assert [(e["kind"], e["change"], e["balance"], e["by"]) for e in history(store)] == [
        ("topup", 1_000, 1_000, "admin"), ("topup", 500, 1_500, None)]


def test_send5_a_top_up_must_be_positive_and_its_account_must_exist(store):
    with pytest.raises(CreditError, match="top-up of 0 credits for account 'default'.*SEND-5"):
        top_up(store, "default", 0)
    with pytest.raises(Exception, match="no account 'acme'.*ACC-1"):
        top_up(store, "acme", 10)


def test_send5_reserving_twice_holds_once(store):
    top_up(store, "default", 100)
    first = reserve(store, "default", "c1", 30, run_id="manual__1")
    assert (first.held, first.short, first.limited) == (30, 0, True)
    assert reserve(store, "default", "c1", 30) == first
    assert balance(store) == 70
    assert [e["kind"] for e in history(store, campaign_id="c1")] == ["reserve"]
    assert unsettled(store)[0] | {"reserved_at": None} == {"account_id": "default", "campaign_id": "c1",
                                                           "run_id": "manual__1", "held": 30, "reserved_at": None}


def test_send5_short_of_credits_a_campaign_holds_what_is_left_in_whole_messages(store):
    top_up(store, "default", 10)
    assert reserve(store, "default", "c1", 6).held == 6
    # 4 left; messages of 3 parts each: the reservation stops at the last whole message that fits (3).
    short = reserve(store, "default", "c2", 9, steps=[3, 6, 9])
    assert (short.held, short.short) == (3, 6)
    assert balance(store) == 1
    nothing = reserve(store, "default", "c3", 2, steps=[2])
    assert (nothing.held, nothing.short) == (0, 2)
    assert "1 credits" not in history(store, campaign_id="c3")[0]["reason"]
    assert "0 of 2 credits available" in history(store, campaign_id="c3")[0]["reason"]


def test_send8_settling_gives_back_what_was_not_sent_once(store):
    top_up(store, "default", 100)
    reserve(store, "default", "c1", 40)
    assert settle(store, "c1", 25, "failed at dispatch") == 15  # 25 parts sent stay spent
    assert settle(store, "c1", 0, "close again") == 0  # idempotent
    assert balance(store) == 75
    assert reservation(store, "c1")["given_back"] == 15
    entry = history(store, campaign_id="c1")[-1]
    assert (entry["kind"], entry["change"]) == ("settle", 15)
    assert entry["reason"] == "failed at dispatch: 25 spent, 15 given back"
    with pytest.raises(CreditError, match="campaign 'c1' was settled at .*SEND-8"):
        reserve(store, "default", "c1", 40)
    assert settle(store, "never-reserved", 3, "finished") == 0


def test_send8_a_cancelled_campaign_gets_everything_back_and_sent_parts_never_exceed_the_hold(store):
    top_up(store, "default", 50)
    reserve(store, "default", "c1", 20)
    assert settle(store, "c1", 0, "cancelled while scheduled") == 20
    reserve(store, "default", "c2", 20)
    assert settle(store, "c2", 25, "finished") == 0  # nothing comes back, nothing more is taken
    assert balance(store) == 30


def test_send8_an_account_without_limit_holds_nothing_and_is_settled_once(store):
    assert reserve(store, "default", "c1", 500).limited is False
    assert reserve(store, "default", "c1", 500).held == 0
    assert [e["kind"] for e in history(store)] == ["unlimited"]
    top_up(store, "default", 10)  # the limit starts here: the unlimited campaign owes nothing to it
    assert settle(store, "c1", 480, "finished") == 0
    assert balance(store) == 10
    assert unsettled(store) == []


def test_send8_the_campaign_row_mirrors_its_reservation_and_settlement(store):
    stamp = datetime(2026, 5, 4, 10, tzinfo=timezone.utc)
    get_account(store)  # the default account, created on first use
    with store.begin() as connection:
        connection.execute(insert(campaigns).values(id="c1", account_id="default", name="Soldes", type="marketing",
                                                    status="scheduled", spec="{}", created_at=stamp,
                                                    updated_at=stamp))
    top_up(store, "default", 100)
    reserve(store, "default", "c1", 12)
    settle(store, "c1", 10, "finished", now=stamp)
    with store.begin() as connection:
        row = connection.execute(select(campaigns.c.credits_reserved, campaigns.c.settled_at)).one()
    assert row[0] == 12 and row[1].replace(tzinfo=timezone.utc) == stamp


def test_send8_the_reconciler_settles_only_runs_that_ended(store):
    top_up(store, "default", 100)
    create_account(store, "acme")
    top_up(store, "acme", 10)
    reserve(store, "default", "marked-failed", 30, run_id="manual__a")
    reserve(store, "default", "waiting", 30, run_id="manual__b")
    reserve(store, "acme", "other", 5, run_id="manual__c")
    asked = []

    def ended(held: dict) -> bool:
        asked.append(held["run_id"])
        return held["run_id"] in ("manual__a", "manual__c")

    assert settle_ended(store, ended, {"marked-failed": 4, "other": 0}.get, account_id="default") == \
        {"marked-failed": 26}
    assert asked == ["manual__a", "manual__b"]
    assert balance(store) == 100 - 4 - 30
    assert [h["campaign_id"] for h in unsettled(store)] == ["waiting", "other"]
    assert settle_ended(store, ended, lambda campaign: 0) == {"other": 5}
