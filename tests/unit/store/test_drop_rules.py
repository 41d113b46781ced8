"""DROP-1, DROP-2 (issue 13): drop rules in the account store, the drops they accepted, and `smsflow drops`."""

from __future__ import annotations

import json

import pytest
from helpers import smsflow_here

from pipelines.store import create_account
from pipelines.store import campaigns as store_campaigns
from pipelines.store.drops import (
    DropRuleError, add_rule, drop_by_hash, drops_from, list_rules, record_drop, remove_rule, rule_for,
)

SPEC = {"name": "VIP", "type": "notification", "message": "Bonjour", "recipients": [{"mobile": "0612345678"}]}


def test_drop1_the_longest_prefix_a_file_starts_with_is_its_rule(store):
    create_account(store, "acme")
    broad = add_rule(store, "acme", "incoming", spec="specs/all.yaml")
    vip = add_rule(store, "acme", "./incoming/vip/", spec="specs/vip.yaml", mode="auto")
    assert (broad.prefix, vip.prefix) == ("incoming/", "incoming/vip/")
    assert rule_for(store, "incoming/vip/export.csv") == vip
    assert rule_for(store, "incoming/other/export.csv") == broad
    assert rule_for(store, "incoming-x/export.csv") is None  # a folder boundary, not a string prefix
    assert rule_for(store, "elsewhere/export.csv") is None
    assert [rule.prefix for rule in list_rules(store, "acme")] == ["incoming/", "incoming/vip/"]
    assert list_rules(store, "default") == []


@pytest.mark.parametrize(("prefix", "options", "says"), [
    ("../outside/", {"spec": "s.yaml"}, "not a folder inside the bucket"),
    ("/abs/", {"spec": "s.yaml"}, "not a folder inside the bucket"),
    ("s3://b/in/", {"spec": "s.yaml"}, "not a folder inside the bucket"),
    ("processed/x/", {"spec": "s.yaml"}, "where drops end up"),
    ("quarantine/", {"spec": "s.yaml"}, "where drops end up"),
    ("in/", {}, "not both nor neither"),
    ("in/", {"spec": "s.yaml", "campaign": "c"}, "not both nor neither"),
    ("in/", {"spec": "../secret.yaml"}, "not a file inside the bucket"),
    ("in/", {"spec": "s.yaml", "mode": "now"}, "is not one of approve, auto"),
    ("in/", {"spec": "s.yaml", "max_invalid_share": 1.5}, "between 0 and 1"),
    ("in/", {"campaign": "nope"}, "no campaign 'nope' in account 'default'"),
])
def test_drop1_a_bad_rule_is_refused_naming_what_is_wrong(store, prefix, options, says):
    with pytest.raises(DropRuleError, match=says):
        add_rule(store, "default", prefix, **options)


def test_drop1_one_rule_per_prefix_and_an_unknown_account_is_refused(store):
    add_rule(store, "default", "in/", spec="s.yaml")
    with pytest.raises(DropRuleError, match="already has rule"):
        add_rule(store, "default", "in", spec="t.yaml")
    with pytest.raises(ValueError, match="no account 'ghost'"):
        add_rule(store, "ghost", "other/", spec="s.yaml")


def test_drop1_a_draft_of_the_account_is_a_template_and_removal_is_by_id_or_prefix(store):
    create_account(store, "acme")
    draft = store_campaigns.create(store, SPEC, "acme")
    rule = add_rule(store, "acme", "in/acme/", campaign=draft.id)
    assert (rule.template_kind, rule.template) == ("campaign", draft.id)
    with pytest.raises(DropRuleError, match="no campaign"):  # ACC-3: another account's draft is not seen
        add_rule(store, "default", "in/default/", campaign=draft.id)
    assert remove_rule(store, "in/acme") == rule
    other = add_rule(store, "acme", "in/acme/", spec="s.yaml")
    assert remove_rule(store, str(other.id)) == other
    with pytest.raises(DropRuleError, match="no drop rule"):
        remove_rule(store, other.id)


def test_drop2_the_same_bytes_are_recorded_once_and_a_retry_finds_its_own(store):
    rule = add_rule(store, "default", "in/", spec="s.yaml")
    first, new = record_drop(store, "a" * 64, rule, "in/export.csv", "processed/2026-11-26/export.csv", "drop__a",
                             {"spec_path": "x"})
    assert new and first.conf == {"spec_path": "x"}
    again, new = record_drop(store, "a" * 64, rule, "in/copy.csv", "processed/2026-11-26/copy.csv", "drop__b", {})
    assert not new and again == first  # the first drop, whose source says this one is a duplicate
    assert drop_by_hash(store, "a" * 64) == first
    assert drops_from(store, "in/export.csv") == [first]
    assert drops_from(store, "in/copy.csv") == []


def test_drop1_cli_add_list_remove(store_url):
    env = {"SMSFLOW_DB": store_url}
    added = smsflow_here("drops", "add", "incoming/vip/", "--spec", "specs/vip.yaml", "--mode", "auto", "--json",
                         env=env)
    assert added.returncode == 0, added.stderr
    rule = json.loads(added.stdout)
    assert (rule["prefix"], rule["mode"], rule["template"]) == ("incoming/vip/", "auto", "specs/vip.yaml")
    listed = smsflow_here("drops", "list", env=env)
    assert "incoming/vip/" in listed.stdout and "spec specs/vip.yaml" in listed.stdout
    assert json.loads(smsflow_here("drops", "list", "--json", env=env).stdout) == [rule]
    removed = smsflow_here("drops", "remove", str(rule["id"]), env=env)
    assert removed.returncode == 0 and "Removed drop rule" in removed.stderr
    assert json.loads(smsflow_here("drops", "list", "--json", env=env).stdout) == []


def test_drop1_cli_refusals_are_one_line(store_url):
    env = {"SMSFLOW_DB": store_url}
    refused = smsflow_here("drops", "add", "../x/", "--spec", "s.yaml", env=env)
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1 and "DROP-1" in refused.stderr
    missing = smsflow_here("drops", "remove", "99", env=env)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
