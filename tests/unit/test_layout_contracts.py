"""The on-disk contracts of a campaign (issue 8, pipelines/layout.py): its paths and the typed summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_list, write_spec

from pipelines.layout import CampaignPaths, PlanSummary, SummaryError, read_summary
from pipelines.plan import plan_file

LIST = "Civilité;Prénom;Nom;Mobile;Ville\nM.;Jean;Dupont;06 12 34 56 78;Paris\nMme;Ann;Bégué;0123456789;\n"


def plan(bucket: Path, out: Path, **spec) -> Path:
    write_list(bucket / "a.csv", LIST)
    return plan_file(write_spec(bucket, lists=["a.csv"], **spec), out).out_dir


@pytest.mark.parametrize("spec", [
    {"message": "Bonjour ${Civilité} ${Nom} de ${Ville}", "test": {"numbers": "0612345678", "row": 2}},
    {"message": "{{ Nom }} STOP 36184", "type": "marketing", "send_at": "2030-01-02T10:00:00+01:00"},
], ids=["fields-and-test", "jinja-marketing"])
def test_house_plus2_summary_json_round_trips_through_plan_summary_unchanged(bucket, spec):
    plan_dir = plan(bucket, bucket / "plan", **spec)
    text = (plan_dir / "summary.json").read_text(encoding="utf-8")
    summary = read_summary(plan_dir)
    assert isinstance(summary, PlanSummary)
    assert summary.to_json() == text  # byte for byte: the plan writes what the model dumps
    assert summary.model_dump(mode="json") == json.loads(text)
    assert ("test" in json.loads(text)) == ("test" in spec)  # no test numbers: no test key, not a null


def test_house_plus2_a_summary_missing_a_required_field_is_refused_naming_the_field_and_file(bucket):
    plan_dir = plan(bucket, bucket / "plan")
    path = plan_dir / "summary.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["campaign"]["sender"]
    data["rows"] = "many"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SummaryError) as refused:
        read_summary(plan_dir)
    message = str(refused.value)
    assert str(path) in message and "PLUS-2" in message
    assert "campaign.sender: Field required" in message and "rows:" in message


def test_house_plus2_a_summary_that_is_not_json_is_refused_with_its_line_and_column(bucket):
    plan_dir = plan(bucket, bucket / "plan")
    (plan_dir / "summary.json").write_text('{"rows": ', encoding="utf-8")
    with pytest.raises(SummaryError, match=r"summary\.json: .*line 1 column \d+"):
        read_summary(plan_dir)


def test_house_plus2_a_plan_folder_not_named_plan_keeps_its_own_files(bucket):
    out = bucket / "soldes-plan"  # `smsflow plan spec.yaml --out soldes-plan`
    plan(bucket, out)
    paths = CampaignPaths.of_plan(out)
    assert paths.plan == out and paths.summary == out / "summary.json" and paths.recipients.is_file()
    assert paths.ledger == bucket / "dispatch" / "ledger"  # the campaign is still the plan's parent
    assert read_summary(out).rows == 2
    assert CampaignPaths.of_plan(bucket / "plan") == CampaignPaths(bucket)


def test_house_plus2_a_summary_from_an_older_plan_still_reads(bucket):
    """Keys later plans added (SEND-7 in_flight, BL-2 account and blacklists, LIST-1 warnings) may be absent."""
    plan_dir = plan(bucket, bucket / "plan")
    path = plan_dir / "summary.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("send_window", "in_flight", "account", "blacklists"):
        del data["campaign"][key]
    del data["lists"][0]["warnings"], data["credits_available"]
    path.write_text(json.dumps(data), encoding="utf-8")
    summary = read_summary(plan_dir)
    assert summary.campaign.in_flight is None and summary.campaign.blacklists.own is None
    assert summary.lists[0].warnings == [] and summary.test is None


def run_campaign(bucket: Path, settings=None) -> CampaignPaths:
    """A campaign through the steps the DAG runs (CAMP-2 spec, plan, PLUS-3 contract, SEND-3 test and the send
    when `settings` names an SMSC, REP-1/REP-2 report), with real components; returns its paths."""
    from pipelines.campaign import finish_step, plan_step, prepare_spec, send_test_message
    from pipelines.contracts import check_plan

    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\nabc;Bob\n0622222222;Cy\n")
    write_spec(bucket, lists=["a.csv"], test={"numbers": "0612345678", "row": 1})
    paths = CampaignPaths.in_bucket(bucket, "soldes")
    spec_path = prepare_spec(bucket, paths.campaign, {"spec_path": "spec.yaml"})
    planned = plan_step(bucket, paths.campaign, spec_path)
    assert (spec_path, Path(planned["plan_dir"])) == (paths.spec, paths.plan)
    assert check_plan(paths.plan, max_invalid_share=0.5).quarantine == paths.quarantine  # "abc" quarantined
    if settings is not None:
        from pipelines.dispatch import send_plan

        assert send_test_message(paths.plan, settings) is not None
        assert send_plan(paths.plan, settings).accepted == 2
    assert Path(finish_step(bucket, paths.campaign, planned["account"])["report"]) == paths.report
    return paths


def unexplained(paths: CampaignPaths) -> list[Path]:
    """The files in the campaign folder that no CampaignPaths attribute names (as a file, or as their folder)."""
    files = {paths.spec, paths.recipients, paths.summary, paths.plan_marker, paths.quarantine, paths.sender_lock,
             paths.report, paths.stats}
    folders = {paths.ledger, paths.events, paths.tests, paths.test_events, paths.binds}
    on_disk = [path for path in paths.root.rglob("*") if path.is_file()]
    assert on_disk
    return [path for path in on_disk if path not in files and path.parent not in folders]


def test_house_every_file_a_planned_and_reported_campaign_writes_is_a_campaign_paths_attribute(bucket):
    paths = run_campaign(bucket)
    assert unexplained(paths) == []
    for path in (paths.spec, paths.recipients, paths.summary, paths.plan_marker, paths.quarantine, paths.report,
                 paths.stats):
        assert path.is_file(), path


def test_house_every_file_a_sent_campaign_writes_is_a_campaign_paths_attribute(bucket, smsc):
    """With the test send and the send against the simulator: ledgers, events, locks (integration: a process)."""
    from pipelines.dispatch import SmscSettings

    simulator = smsc()
    paths = run_campaign(bucket, SmscSettings.from_url(simulator.url(), linger=1.0))
    assert unexplained(paths) == []
    for folder in (paths.ledger, paths.events, paths.tests, paths.test_events):
        assert any(folder.iterdir()), folder
    assert paths.sender_lock.is_file()
