"""`smsflow credits topup|balance|history` as a user runs them, on SQLite and PostgreSQL stores (SEND-5, SEND-8)."""

from __future__ import annotations

import json

from helpers import smsflow_here

from pipelines.store import open_store
from pipelines.store.credits import reserve


def run(store_url: str, *args: str):
    return smsflow_here("credits", *args, env={"SMSFLOW_DB": store_url})


def test_send5_credits_topup_balance_and_history_from_the_cli(store_url, tmp_path):
    fresh = run(store_url, "balance")
    assert fresh.returncode == 0 and "no credit limit" in fresh.stdout, fresh.stderr
    added = run(store_url, "topup", "1000", "--reason", "order 42", "--by", "admin", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"account": "default", "added": 1000, "balance": 1000}
    reserve(open_store(store_url), "default", "soldes", 300, run_id="manual__1")
    balance = json.loads(run(store_url, "balance", "--json").stdout)
    assert (balance["balance"], balance["held"], balance["limited"]) == (700, 300, True)
    assert balance["reservations"][0]["campaign_id"] == "soldes"
    assert "700 credits available, 300 held by 1 campaign" in run(store_url, "balance").stdout
    entries = json.loads(run(store_url, "history", "--json").stdout)
    assert [(e["kind"], e["change"], e["balance"]) for e in entries] == [("topup", 1000, 1000),
                                                                          ("reserve", -300, 700)]
    assert entries[0]["reason"] == "order 42" and entries[0]["by"] == "admin"
    only = json.loads(run(store_url, "history", "--campaign", "soldes", "--json").stdout)
    assert [e["kind"] for e in only] == ["reserve"]
    table = run(store_url, "history")
    assert table.returncode == 0 and "order 42" in table.stdout


def test_send5_credits_refusals_are_one_line_naming_the_value(store_url):
    zero = run(store_url, "topup", "0")
    assert zero.returncode == 2 and "top-up of 0 credits for account 'default'" in zero.stderr, zero.stderr
    unknown = run(store_url, "balance", "--account", "acme")
    assert unknown.returncode != 0 and "no account 'acme'" in unknown.stderr and "Traceback" not in unknown.stderr


def test_send8_smsflow_credits_settles_a_campaign_whose_lifecycle_ended(store_url, tmp_path):
    """A campaign cancelled in the store while its run's close never ran: the next `smsflow credits` settles it
    (nothing in its send ledger: everything comes back)."""
    from pipelines.store import campaigns

    engine = open_store(store_url)
    campaign = campaigns.create(engine, {"name": "Soldes", "type": "notification", "message": "Bonjour",
                                         "recipients": [{"mobile": "0611111111"}]}, "default", "soldes", "scheduled", run_id="manual__1")
    run(store_url, "topup", "100")
    reserve(engine, "default", campaign.id, 40, run_id="manual__1")
    campaigns.cancel(engine, campaign.id)
    answer = run(store_url, "balance", "--json")
    assert json.loads(answer.stdout)["balance"] == 100, answer.stderr
    assert "soldes had ended without settling its credits: 40 given back" in answer.stderr
