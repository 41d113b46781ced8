"""ACC-1: accounts and their settings in the store; the default account appears on first use."""

from __future__ import annotations

import pytest

from pipelines.store import AccountError, create_account, get_account, list_accounts, set_account


def test_acc1_a_fresh_store_has_the_default_account_france_and_no_credit_limit(store):
    account = get_account(store)
    assert (account.id, account.allowed_countries, account.credit_limited) == ("default", ("FR",), False)
    assert [a.id for a in list_accounts(store)] == ["default"]


def test_acc1_an_administrator_creates_and_sets_an_account(store):
    create_account(store, "acme", allowed_countries=["fr", "BE"], max_parts=3)
    changed = set_account(store, "acme", frequency_cap=1, retention_months=24, allowed_senders=["ACME"])
    assert changed.allowed_countries == ("FR", "BE")
    assert (changed.max_parts, changed.frequency_cap, changed.retention_months) == (3, 1, 24)
    assert get_account(store, "acme").allowed_senders == ("ACME",)


@pytest.mark.parametrize(("setting", "value", "named"), [
    ("allowed_countries", ["XX"], "allowed_countries"), ("max_parts", 9, "max_parts"),
    ("send_window", "always", "send_window"), ("colour", "red", "colour"),
])
def test_acc1_a_bad_setting_is_refused_naming_it(store, setting, value, named):
    with pytest.raises(AccountError, match=named):
        set_account(store, "default", **{setting: value})


def test_acc1_an_unknown_account_is_named_with_how_to_create_it(store):
    with pytest.raises(AccountError, match="smsflow account create nobody"):
        get_account(store, "nobody")
    create_account(store, "twice")
    with pytest.raises(AccountError, match="already exists"):
        create_account(store, "twice")
