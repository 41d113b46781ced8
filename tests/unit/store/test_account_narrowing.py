"""ACC-1, ACC-2: a campaign uses its account's settings from the store and may narrow them, never widen them."""

from __future__ import annotations

import polars as pl
import pytest
from helpers import mobiles, write_list

from pipelines.account import prepare_account
from pipelines.plan import AccountInputs, plan_campaign
from pipelines.spec import SpecError, validate_spec
from pipelines.store import create_account

SPEC = {"name": "Soldes", "type": "notification", "message": "Bonjour", "recipients": [{"mobile": "0612345678"}]}


def _spec(**fields):
    return validate_spec({**SPEC, **fields}, "spec")


def test_acc2_an_unset_field_takes_the_account_setting(store):
    create_account(store, "acme", allowed_countries=["FR", "BE"], max_parts=3, send_window="charter-2024")
    account = prepare_account(store, _spec(account="acme")).spec.account
    assert (account.id, account.allowed_countries, account.max_parts, account.send_window) == \
        ("acme", ["FR", "BE"], 3, "charter-2024")


def test_acc2_a_campaign_narrows_countries_parts_and_window(store):
    create_account(store, "acme", allowed_countries=["FR", "BE"], send_window="charter-2024")
    account = prepare_account(store, _spec(account={"id": "acme", "allowed_countries": ["BE"], "max_parts": 2,
                                                    "send_window": "seed"})).spec.account
    assert (account.allowed_countries, account.max_parts, account.send_window) == (["BE"], 2, "seed")


@pytest.mark.parametrize(("field", "value"), [("allowed_countries", ["FR", "DE"]), ("max_parts", 6),
                                              ("send_window", "charter-2024")])
def test_acc2_a_spec_that_widens_is_refused_naming_field_value_and_rule(store, field, value):
    create_account(store, "acme", allowed_countries=["FR"], max_parts=3, send_window="seed")
    with pytest.raises(SpecError) as refused:
        prepare_account(store, _spec(account={"id": "acme", field: value}))
    text = str(refused.value)
    assert f"account.{field}" in text and "ACC-2" in text and str(value[-1] if isinstance(value, list) else value) \
        in text


def test_acc1_a_sender_the_account_does_not_allow_is_refused(store):
    create_account(store, "acme", allowed_senders=["ACME"])
    assert prepare_account(store, _spec(account="acme", sender="ACME")).spec.sender == "ACME"
    assert prepare_account(store, _spec(account="acme")).spec.sender_or_default == "36184"
    with pytest.raises(SpecError, match="OTHER.*ACC-1|ACC-1.*OTHER"):
        prepare_account(store, _spec(account="acme", sender="OTHER"))


def test_acc1_a_spec_naming_an_unknown_account_is_refused(store):
    with pytest.raises(ValueError, match="no account 'ghost'"):
        prepare_account(store, _spec(account="ghost"))


def test_acc2_the_spec_credit_budget_never_exceeds_the_balance(store):
    assert prepare_account(store, _spec(account={"id": "default", "credits": 40}), credits=100).spec.account.credits \
        == 40
    assert prepare_account(store, _spec(account={"id": "default", "credits": 400}), credits=100).spec.account.credits \
        == 100


def test_acc1_the_deprecated_blacklist_files_still_apply_with_a_note(store, tmp_path):
    write_list(tmp_path / "own.txt", "0612345678\n")
    prepared = prepare_account(store, _spec(account={"id": "default", "blacklists": {"own": "own.txt"}}))
    assert any("deprecated" in note for note in prepared.notes)


def test_bl1_the_store_blacklists_given_to_the_plan_set_statuses_14_15_18(tmp_path):
    numbers = mobiles(4)
    write_list(tmp_path / "list.csv", "Mobile\n" + "\n".join(numbers) + "\n")
    e164 = ["+33" + number[1:] for number in numbers]
    inputs = AccountInputs(blacklists={"own": pl.Series([e164[0]]), "global": pl.Series([e164[1]]),
                                       "client": pl.Series([e164[2]])})
    result = plan_campaign(_spec(lists=["list.csv"], recipients=[]), tmp_path, tmp_path / "plan", inputs=inputs)
    statuses = pl.read_parquet(result.recipients).get_column("STATUS_CODE").to_list()
    assert statuses == [14, 15, 18, None]


def test_url1_a_tracked_campaign_without_a_domain_shortens_with_its_account_s(store):
    create_account(store, "acme", tracking_domain="HTTPS://Acme.FR/")
    spec = _spec(account="acme", message="Soldes https://acme.fr/soldes", tracking=True)
    tracking = prepare_account(store, spec).spec.tracking
    assert (tracking.domain, tracking.token_length) == ("acme.fr", 11)  # 7 + "/" + 11 = 19 (URL-1)
    same = prepare_account(store, _spec(account="acme", message="https://acme.fr", tracking={"domain": "acme.fr"}))
    assert same.spec.tracking.domain == "acme.fr"
    with pytest.raises(SpecError) as refused:  # ACC-2: never another domain than the account's
        prepare_account(store, _spec(account="acme", message="https://acme.fr", tracking={"domain": "go.ac.fr"}))
    (problem,) = refused.value.problems
    assert (problem.field, problem.value, problem.rule) == ("tracking.domain", "go.ac.fr", "ACC-2")
    assert prepare_account(store, _spec(account="acme")).spec.tracking is None  # not tracked: no domain added
    create_account(store, "plain")  # no domain of its own: the platform's, or one the spec names
    assert prepare_account(store, _spec(account="plain", message="https://x.fr", tracking=True)) \
        .spec.tracking.domain_or_default == "smsf.link"
    assert prepare_account(store, _spec(account="plain", message="https://x.fr", tracking={"domain": "x.fr"})) \
        .spec.tracking.domain == "x.fr"


@pytest.mark.parametrize("domain", ["sms.example.fr", "not a domain", "exa_mple.fr"])
def test_url5_an_account_tracking_domain_that_leaves_too_short_a_token_or_is_no_domain_is_refused(store, domain):
    from pipelines.store import AccountError, set_account

    with pytest.raises(AccountError, match="tracking_domain.*(URL-5)"):
        create_account(store, "acme", tracking_domain=domain)
    create_account(store, "acme")
    with pytest.raises(AccountError, match="tracking_domain"):
        set_account(store, "acme", tracking_domain=domain)
    assert set_account(store, "acme", tracking_domain=None).tracking_domain is None
