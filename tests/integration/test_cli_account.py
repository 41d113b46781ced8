"""ACC-1: `smsflow account create|set|show|list` as an administrator runs them, on the store of SMSFLOW_DB."""

from __future__ import annotations

import json

from helpers import smsflow_here


def run(store_url: str, *args: str):
    return smsflow_here("account", *args, env={"SMSFLOW_DB": store_url})


def test_acc1_an_administrator_creates_sets_shows_and_lists_accounts_from_the_cli(store_url):
    created = run(store_url, "create", "acme", "--countries", "fr,BE", "--frequency-cap", "1", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["allowed_countries"] == ["FR", "BE"]
    changed = run(store_url, "set", "acme", "--max-parts", "3", "--frequency-cap", "none", "--senders", "ACME",
                  "--json")
    assert changed.returncode == 0, changed.stderr
    shown = json.loads(run(store_url, "show", "acme", "--json").stdout)
    assert (shown["max_parts"], shown["frequency_cap"], shown["allowed_senders"]) == (3, None, ["ACME"])
    assert [a["id"] for a in json.loads(run(store_url, "list", "--json").stdout)] == ["acme", "default"]


def test_acc1_a_bad_setting_or_a_second_create_is_refused_in_one_line(store_url):
    refused = run(store_url, "set", "default", "--max-parts", "9")
    assert refused.returncode == 2 and "max_parts: 9" in refused.stderr and "[ACC-1, ENC-5]" in refused.stderr
    assert run(store_url, "create", "acme").returncode == 0
    again = run(store_url, "create", "acme")
    assert again.returncode == 2 and "already exists" in again.stderr
