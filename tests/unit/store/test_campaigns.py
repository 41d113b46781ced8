"""CAMP-3, CAMP-4, ACC-3: campaigns and their lifecycle in the account store (both backends)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from pipelines.store import StoreError, create_account
from pipelines.store import campaigns
from pipelines.store.campaigns import CampaignError

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SPEC = {"name": "Soldes VIP", "type": "notification", "message": "Bonjour ${Prénom}", "lists": ["clients.csv"]}


def spec(**fields) -> str:
    return yaml.safe_dump({**SPEC, **fields}, allow_unicode=True)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_camp3_a_campaign_is_created_as_a_draft_with_its_lists_made_absolute_and_audited(store, tmp_path):
    draft = campaigns.create(store, spec(), base=tmp_path, now=T0)
    assert (draft.status, draft.name, draft.type, draft.account_id) == ("draft", "Soldes VIP", "notification",
                                                                        "default")
    assert draft.id.startswith("soldes-vip-")
    assert yaml.safe_load(draft.spec)["lists"] == [str(tmp_path / "clients.csv")]
    shown = campaigns.show(store, draft.id)
    assert [(event["status"], event["detail"]) for event in shown["events"]] == [("draft", "created as draft")]


def test_send1_a_send_time_in_paris_is_kept_as_the_same_instant_on_both_backends(store, tmp_path):
    """10:00 Paris (UTC+1 in winter) is 09:00 UTC, read back from SQLite (which drops offsets) as on PostgreSQL."""
    draft = campaigns.create(store, spec(send_at="2026-12-01T10:00:00+01:00"), base=tmp_path, now=T0)
    wanted = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    assert campaigns.get(store, draft.id).send_at == wanted
    edited = campaigns.edit(store, draft.id, spec(send_at="2026-12-02T08:30:00+01:00"), base=tmp_path, now=T0)
    assert campaigns.get(store, edited.id).send_at == datetime(2026, 12, 2, 7, 30, tzinfo=timezone.utc)


def test_acc1_a_spec_naming_its_account_by_name_is_created_in_it_narrowing_nothing(store, tmp_path):
    create_account(store, "acme", allowed_countries=["FR", "BE"])
    draft = campaigns.create(store, spec(account="acme"), "acme", base=tmp_path, now=T0)
    assert draft.account_id == "acme" and yaml.safe_load(draft.spec)["account"] == {"id": "acme"}


def test_camp2_a_bad_spec_is_refused_at_creation_naming_the_field(store):
    from pipelines.spec import SpecError

    with pytest.raises(SpecError, match="message"):
        campaigns.create(store, {"name": "No message", "type": "notification"}, now=T0)
    with pytest.raises(SpecError, match="send_at"):  # SEND-1: not in the past at submission
        campaigns.create(store, spec(send_at="2020-01-01T10:00:00+01:00"), now=T0)


def test_camp3_the_whole_lifecycle_draft_scheduled_running_finished(store):
    draft = campaigns.create(store, spec(), campaign_id="c1", now=at(0))
    campaigns.schedule(store, draft.id, "run-1", now=at(1))
    campaigns.transition(store, "c1", "scheduled", "approval: auto (spec)", now=at(2))  # staying put: audited
    campaigns.transition(store, "c1", "running", "approved by ann", now=at(3))
    ended = campaigns.end_run(store, "c1", "4 of 4 delivered", {"sent": 4, "delivered": 4}, now=at(4))
    assert (ended.status, ended.run_id, ended.figures) == ("finished", "run-1", {"sent": 4, "delivered": 4})
    assert [event["status"] for event in campaigns.events(store, "c1")] == [
        "draft", "scheduled", "scheduled", "running", "finished"]


@pytest.mark.parametrize(("path", "refused"), [
    (["finished"], "draft"), (["running"], "draft"), (["scheduled", "draft"], "scheduled"),
    (["scheduled", "finished"], "scheduled"), (["scheduled", "running", "scheduled"], "running"),
    (["scheduled", "running", "finished", "running"], "finished"),
    (["scheduled", "cancelled", "running"], "cancelled"), (["scheduled", "cancelled", "scheduled"], "cancelled"),
])
def test_camp3_a_move_the_lifecycle_does_not_allow_is_refused_naming_campaign_status_and_rule(store, path, refused):
    campaigns.create(store, spec(), campaign_id="c1", now=T0)
    *allowed, wrong = path
    for status in allowed:
        campaigns.transition(store, "c1", status)
    with pytest.raises(CampaignError, match=rf"campaign 'c1' is {refused}: it cannot become {wrong} \[CAMP-3\]"):
        campaigns.transition(store, "c1", wrong)
    assert campaigns.get(store, "c1").status == refused  # nothing changed
    assert len(campaigns.events(store, "c1")) == len(path)  # no audit row for a refused move


def test_camp3_edit_replaces_the_spec_of_drafts_and_scheduled_campaigns_only(store):
    campaigns.create(store, spec(), campaign_id="c1", now=at(0))
    edited = campaigns.edit(store, "c1", spec(name="Soldes VIP 2", type="marketing", sender="ACME", message="Soldes ! STOP 36184"), now=at(1))
    assert (edited.name, edited.type, yaml.safe_load(edited.spec)["sender"]) == ("Soldes VIP 2", "marketing", "ACME")
    campaigns.schedule(store, "c1", "run-1", now=at(2))
    assert "its run run-1 planned the earlier spec" in campaigns.events(store, campaigns.edit(
        store, "c1", spec(), now=at(3)).id)[-1]["detail"]
    campaigns.transition(store, "c1", "running")
    with pytest.raises(CampaignError, match="'c1' is running: it cannot be edited"):
        campaigns.edit(store, "c1", spec(name="Too late"))
    from pipelines.spec import SpecError

    campaigns.create(store, spec(), campaign_id="c2", now=at(0))
    with pytest.raises(SpecError, match="type"):
        campaigns.edit(store, "c2", spec(type="spam"))
    assert campaigns.get(store, "c2").name == "Soldes VIP"


def test_camp3_any_campaign_is_duplicated_as_a_new_draft_named_copy(store):
    campaigns.create(store, spec(), campaign_id="c1", now=at(0))
    for status in ("scheduled", "running", "finished"):
        campaigns.transition(store, "c1", status)
    copy = campaigns.duplicate(store, "c1", now=at(5))
    assert (copy.status, copy.name, copy.run_id, copy.figures) == ("draft", "Soldes VIP (copy)", None, None)
    assert copy.id != "c1" and yaml.safe_load(copy.spec)["name"] == "Soldes VIP (copy)"
    assert yaml.safe_load(copy.spec)["message"] == SPEC["message"]
    assert campaigns.events(store, copy.id)[0]["detail"] == "duplicated from c1"
    assert campaigns.get(store, "c1").status == "finished"


def test_camp3_cancel_a_scheduled_campaign_ends_it_a_running_one_is_asked_to_stop(store):
    campaigns.create(store, spec(), campaign_id="s", now=T0)
    campaigns.schedule(store, "s", "run-s")
    done = campaigns.cancel(store, "s", by="ann")
    assert (done.outcome, done.campaign.status) == ("cancelled", "cancelled")
    assert campaigns.cancel_requested(store, "s")
    campaigns.create(store, spec(), campaign_id="r", now=T0)
    campaigns.schedule(store, "r", "run-r")
    campaigns.transition(store, "r", "running")
    assert not campaigns.cancel_requested(store, "r")
    asked = campaigns.cancel(store, "r", by="ann")
    assert (asked.outcome, asked.campaign.status) == ("stopping", "running")
    assert asked.campaign.cancel_requested_at is not None and campaigns.cancel_requested(store, "r")
    assert campaigns.cancel(store, "r").outcome == "stopping"  # asking twice: one request, one audit row
    assert [e["detail"] for e in campaigns.events(store, "r")].count("cancel requested by ann: stops before its next "
                                                                 "batch") == 1
    ended = campaigns.end_run(store, "r", "2 of 2 delivered")
    assert ended.status == "cancelled"
    assert campaigns.events(store, "r")[-1]["detail"] == "stopped between batches as asked; 2 of 2 delivered"
    assert not campaigns.cancel_requested(store, "never-in-the-store")


def test_camp3_cancel_refuses_drafts_and_ended_campaigns(store):
    campaigns.create(store, spec(), campaign_id="d", now=T0)
    with pytest.raises(CampaignError, match="'d' is draft: .*smsflow campaigns delete"):
        campaigns.cancel(store, "d")
    for status in ("scheduled", "running", "finished"):
        campaigns.transition(store, "d", status)
    with pytest.raises(CampaignError, match="'d' is finished: it cannot be cancelled"):
        campaigns.cancel(store, "d")


def test_camp3_drafts_and_finished_campaigns_are_deleted_others_are_refused(store):
    campaigns.create(store, spec(), campaign_id="d", now=T0)
    campaigns.delete(store, "d")
    with pytest.raises(CampaignError, match="no campaign 'd'"):
        campaigns.get(store, "d")
    assert campaigns.events(store, "d") == []
    campaigns.create(store, spec(), campaign_id="c", now=T0)
    campaigns.schedule(store, "c", "run-c")
    campaigns.cancel(store, "c")
    with pytest.raises(CampaignError, match=r"'c' is cancelled: .*only drafts and finished campaigns are"):
        campaigns.delete(store, "c")
    assert campaigns.get(store, "c").status == "cancelled"
    campaigns.create(store, spec(), campaign_id="f", now=T0)
    campaigns.schedule(store, "f", "run-f")
    with pytest.raises(CampaignError, match=r"'f' is scheduled"):
        campaigns.delete(store, "f")
    for status in ("running", "finished"):
        campaigns.transition(store, "f", status)
    assert campaigns.delete(store, "f").status == "finished"
    with pytest.raises(CampaignError, match="no campaign 'f'"):
        campaigns.get(store, "f")
    assert [event["status"] for event in campaigns.events(store, "f")][-1] == "deleted"  # its audit is kept


def test_camp3_a_dag_run_takes_a_draft_once_and_a_retry_keeps_it(store):
    campaigns.create(store, spec(), campaign_id="c1", now=T0)
    assert campaigns.schedule(store, "c1", "run-1").run_id == "run-1"
    assert campaigns.schedule(store, "c1", "run-1").status == "scheduled"  # the prepare task retried
    with pytest.raises(CampaignError, match="scheduled by run run-1"):
        campaigns.schedule(store, "c1", "run-2")
    created = campaigns.create(store, spec(), campaign_id="run-3", status="scheduled", run_id="run-3", now=T0)
    assert campaigns.create(store, spec(), campaign_id="run-3", status="scheduled", run_id="run-3") == created


def test_camp4_list_searches_names_in_any_case_and_filters_by_status(store):
    for minute, (name, status) in enumerate([("Soldes VIP", "draft"), ("Rappel RDV", "scheduled"),
                                             ("soldes d'été 100%", "finished"), ("Promo", "draft")]):
        campaigns.create(store, spec(name=name), campaign_id=f"c{minute}", now=at(minute))
        for step in {"draft": [], "scheduled": ["scheduled"], "finished": ["scheduled", "running", "finished"]}[
                status]:
            campaigns.transition(store, f"c{minute}", step, now=at(minute))
    names = [c.name for c in campaigns.list_campaigns(store)]
    assert names == ["Promo", "soldes d'été 100%", "Rappel RDV", "Soldes VIP"]  # newest first
    assert [c.name for c in campaigns.list_campaigns(store, search="SOLDES")] == ["soldes d'été 100%", "Soldes VIP"]
    assert [c.name for c in campaigns.list_campaigns(store, search="100%")] == ["soldes d'été 100%"]  # % is literal
    assert [c.name for c in campaigns.list_campaigns(store, status="draft")] == ["Promo", "Soldes VIP"]
    assert [c.name for c in campaigns.list_campaigns(store, status="draft", search="promo")] == ["Promo"]
    with pytest.raises(CampaignError, match="status 'done' is not one of draft, scheduled"):
        campaigns.list_campaigns(store, status="done")


def test_camp4_dashboard_shows_the_10_latest_drafts_and_10_latest_other_campaigns_with_figures(store):
    for i in range(12):
        campaigns.create(store, spec(name=f"Draft {i}"), campaign_id=f"d{i}", now=at(i))
    for i in range(13):
        campaigns.create(store, spec(name=f"Sent {i}"), campaign_id=f"s{i}", now=at(i))
        for step in ("scheduled", "running"):
            campaigns.transition(store, f"s{i}", step, now=at(i))
        if i % 2 == 0:
            campaigns.end_run(store, f"s{i}", "done", {"sent": i, "delivered": i}, now=at(i))
    campaigns.create(store, spec(name="Dropped"), campaign_id="x", now=at(99))
    campaigns.transition(store, "x", "scheduled", now=at(99))
    campaigns.cancel(store, "x", now=at(99))
    board = campaigns.dashboard(store)
    assert [c.id for c in board["drafts"]] == [f"d{i}" for i in range(11, 1, -1)]
    assert [c.id for c in board["campaigns"]] == [f"s{i}" for i in range(12, 2, -1)]  # cancelled ones not shown
    assert board["campaigns"][0].figures == {"sent": 12, "delivered": 12}
    assert {c.status for c in board["campaigns"]} == {"running", "finished"}


def test_acc3_a_campaign_is_seen_and_changed_only_within_its_account(store):
    create_account(store, "acme")
    mine = campaigns.create(store, spec(), "acme", campaign_id="c1", now=T0)
    assert mine.account_id == "acme" and yaml.safe_load(mine.spec)["account"]["id"] == "acme"
    assert campaigns.list_campaigns(store, "default") == []
    assert [c.id for c in campaigns.list_campaigns(store, "acme")] == ["c1"]
    for change in (lambda: campaigns.show(store, "c1", "default"), lambda: campaigns.edit(store, "c1", spec(), "default"),
                   lambda: campaigns.duplicate(store, "c1", "default"), lambda: campaigns.cancel(store, "c1", "default"),
                   lambda: campaigns.delete(store, "c1", "default")):
        with pytest.raises(CampaignError, match="no campaign 'c1' in account 'default'"):
            change()
    with pytest.raises(CampaignError, match="names account 'acme' but the campaign is created in account 'beta'"):
        create_account(store, "beta")
        campaigns.create(store, spec(account={"id": "acme"}), "beta", now=T0)
    with pytest.raises(StoreError, match="no account 'nobody'"):
        campaigns.create(store, spec(), "nobody", now=T0)


def test_camp3_a_run_takes_a_store_draft_reads_its_spec_and_sees_a_cancel_through_its_plan(store, tmp_path):
    """The DAG's steps without Airflow: prepare_run schedules the draft conf names and writes its spec into the
    campaign folder; record moves it; a cancel is seen from its plan folder (the dispatch task's check)."""
    from pipelines.campaign import cancelled_plan, lifecycle, prepare_run, record
    from pipelines.layout import CampaignPaths

    bucket = tmp_path / "bucket"
    (bucket / "lists").mkdir(parents=True)
    (bucket / "lists" / "clients.csv").write_text("Mobile;Prénom\n0611111111;Ann\n", encoding="utf-8")
    draft = campaigns.create(store, spec(lists=["lists/clients.csv"]), base=bucket)
    campaign_id, spec_path = prepare_run(bucket, "manual__run-1", {"campaign_id": draft.id, "name": None},
                                         engine=store)
    assert campaign_id == draft.id and spec_path == CampaignPaths.in_bucket(bucket, draft.id).spec
    assert yaml.safe_load(spec_path.read_text(encoding="utf-8"))["lists"] == [str(bucket / "lists" / "clients.csv")]
    assert campaigns.get(store, draft.id).run_id == "manual__run-1"
    record(bucket, draft.id, "running", "approved by ann", engine=store)
    plan = CampaignPaths.in_bucket(bucket, draft.id).plan
    assert cancelled_plan(plan) is None
    campaigns.cancel(store, draft.id, by="ann")
    assert cancelled_plan(plan) == (draft.id, "cancel requested by ann: stops before its next batch")
    assert record(bucket, draft.id, "finished", "1 of 1 delivered", engine=store).status == "cancelled"
    assert [status for status, _ in lifecycle(bucket, draft.id, engine=store)] == [
        "draft", "scheduled", "running", "running", "cancelled"]
    assert record(bucket, "not-a-run", "finished", engine=store) is None  # a plan sent from the CLI: no lifecycle
    with pytest.raises(CampaignError, match="is cancelled: it cannot be scheduled"):
        prepare_run(bucket, "manual__run-2", {"campaign_id": draft.id}, engine=store)
