"""CAMP-3, CAMP-4, ACC-3: `smsflow campaigns ...` as a user runs it, on the store of SMSFLOW_DB (both backends)."""

from __future__ import annotations

import json

from helpers import smsflow_here, write_list, write_spec


def run(store_url: str, *args: str):
    return smsflow_here("campaigns", *args, env={"SMSFLOW_DB": store_url})


def test_camp3_camp4_create_edit_duplicate_cancel_delete_show_list_dashboard_from_the_cli(store_url, tmp_path):
    write_list(tmp_path / "clients.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec = write_spec(tmp_path, name="Soldes d'été", lists=["clients.csv"])
    created = run(store_url, "create", str(spec), "--json")
    assert created.returncode == 0, created.stderr
    draft = json.loads(created.stdout)
    assert (draft["status"], draft["name"], draft["account_id"]) == ("draft", "Soldes d'été", "default")
    said = run(store_url, "create", str(spec))
    assert "airflow dags trigger sms_campaign --conf" in said.stderr and "campaign_id" in said.stderr

    edited = run(store_url, "edit", draft["id"], str(write_spec(tmp_path / "v2", name="Rappel", lists=[
        str(tmp_path / "clients.csv")])), "--json")
    assert edited.returncode == 0 and json.loads(edited.stdout)["name"] == "Rappel", edited.stderr
    copy = json.loads(run(store_url, "duplicate", draft["id"], "--json").stdout)
    assert (copy["name"], copy["status"]) == ("Rappel (copy)", "draft")

    listed = json.loads(run(store_url, "list", "--search", "RAPPEL", "--json").stdout)
    assert [c["name"] for c in listed] == ["Rappel (copy)", "Rappel"]
    table = run(store_url, "list")
    assert draft["id"] in table.stdout and "Rappel (copy)" in table.stdout  # the whole id, never cut
    board = json.loads(run(store_url, "dashboard", "--json").stdout)
    assert len(board["drafts"]) == 3 and board["campaigns"] == []

    refused = run(store_url, "cancel", draft["id"])
    assert refused.returncode == 2 and "is draft" in refused.stderr and "CAMP-3" in refused.stderr
    assert "Traceback" not in refused.stderr
    deleted = run(store_url, "delete", draft["id"])
    assert deleted.returncode == 0, deleted.stderr
    gone = run(store_url, "show", draft["id"])
    assert gone.returncode == 2 and f"no campaign {draft['id']!r}" in gone.stderr
    shown = run(store_url, "show", copy["id"]).stdout
    assert "Lifecycle (CAMP-3)" in shown and f"duplicated from {draft['id']}" in shown


def test_camp3_cancel_from_the_cli_a_scheduled_campaign_and_a_running_one(store_url, tmp_path):
    from pipelines.store import campaigns, open_store

    store = open_store(store_url)
    for campaign_id in ("s", "r"):
        campaigns.create(store, {"name": campaign_id, "type": "notification", "message": "Bonjour", "lists": ["a.csv"]},
                         campaign_id=campaign_id)
        campaigns.schedule(store, campaign_id, f"run-{campaign_id}")
    campaigns.transition(store, "r", "running")
    scheduled = run(store_url, "cancel", "s", "--json")
    assert scheduled.returncode == 0, scheduled.stderr
    assert json.loads(scheduled.stdout)["outcome"] == "cancelled"
    running = run(store_url, "cancel", "r")
    assert running.returncode == 0 and "stops before its next batch" in running.stderr
    assert (campaigns.get(store, "s").status, campaigns.get(store, "r").status) == ("cancelled", "running")
    assert campaigns.cancel_requested(store, "r")
    deleted = run(store_url, "delete", "s")
    assert deleted.returncode == 2 and "only drafts and finished campaigns are" in deleted.stderr


def test_acc3_the_cli_sees_campaigns_within_its_account_only(store_url, tmp_path):
    from pipelines.store import create_account, open_store

    create_account(open_store(store_url), "acme")
    write_list(tmp_path / "clients.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec = write_spec(tmp_path, name="Acme news", account={"id": "acme"}, lists=["clients.csv"])
    made = json.loads(run(store_url, "create", str(spec), "--json").stdout)  # the account the spec names
    assert made["account_id"] == "acme"
    assert json.loads(run(store_url, "list", "--json").stdout) == []
    assert [c["id"] for c in json.loads(run(store_url, "list", "--account", "acme", "--json").stdout)] == [made["id"]]
    other = run(store_url, "show", made["id"])
    assert other.returncode == 2 and "in account 'default'" in other.stderr and "ACC-3" in other.stderr
