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
