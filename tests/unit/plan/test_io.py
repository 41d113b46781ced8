"""PLUS-2: a plan folder is marked and only the plan's own files are ever replaced (pipelines/plan/io.py)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from helpers import write_list, write_spec

from pipelines.lists import ListError
from pipelines.plan import MARKER_FILE, PLAN_FILES, PlanFolderError, plan_file


def planned(bucket, **spec):
    result = plan_file(write_spec(bucket, **spec), bucket / "plan")
    return pl.read_parquet(result.recipients), result.summary


def test_plus2_plan_output_is_atomic_a_failed_run_leaves_the_previous_plan(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    planned(bucket, lists=["a.csv"])
    before = (bucket / "plan" / "summary.json").read_text(encoding="utf-8")
    write_list(bucket / "b.csv", "Mobile;Prénom\n0622222222;Ann;extra\n")
    with pytest.raises(ListError):
        plan_file(write_spec(bucket, lists=["a.csv", "b.csv"]), bucket / "plan")
    assert (bucket / "plan" / "summary.json").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in bucket.iterdir()) == ["a.csv", "b.csv", "plan", "spec.yaml"]
    assert json.loads(before)["rows"] == 1


def test_plus2_plan_into_a_campaign_folder_is_refused_and_deletes_nothing(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    campaign = bucket / "campaigns" / "c1"
    write_list(campaign / "dispatch" / "ledger" / "part-0.jsonl", '{"key": 1}\n')
    write_list(campaign / "events" / "receipts.parquet", "x")
    write_list(campaign / "notes.txt", "mine")
    before = sorted(str(path.relative_to(campaign)) for path in campaign.rglob("*"))
    with pytest.raises(PlanFolderError) as error:
        plan_file(write_spec(bucket, lists=["a.csv"]), campaign)
    message = str(error.value)
    assert str(campaign) in message and "PLUS-2" in message and "not a plan folder" in message
    assert sorted(str(path.relative_to(campaign)) for path in campaign.rglob("*")) == before
    assert sorted(path.name for path in campaign.parent.iterdir()) == ["c1"]  # no staging left behind


def test_plus2_cli_plan_out_dot_refuses_a_working_directory_with_files(bucket, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec = write_spec(bucket, lists=["a.csv"])
    monkeypatch.chdir(bucket)
    result = CliRunner().invoke(app, ["plan", str(spec), "--out", "."])
    assert result.exit_code == 2
    assert f". ({bucket.resolve()})" in " ".join(result.output.split()) and "not a plan folder" in result.output
    assert sorted(path.name for path in bucket.iterdir()) == ["a.csv", "spec.yaml"]


def test_plus2_replan_replaces_only_the_plan_files(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    write_list(bucket / "b.csv", "Mobile;Prénom\n0622222222;Luc\n0633333333;Zoé\n")
    planned(bucket, lists=["a.csv"])
    plan = bucket / "plan"
    assert json.loads((plan / MARKER_FILE).read_text(encoding="utf-8")) == {"files": list(PLAN_FILES)}
    write_list(plan / "quarantine.csv", "stale")  # derived from the old plan (PLUS-3)
    write_list(plan / "notes.txt", "a user's file")
    frame, summary = planned(bucket, lists=["b.csv"])
    assert summary["rows"] == 2 and frame.height == 2
    assert sorted(path.name for path in plan.iterdir()) == [MARKER_FILE, "notes.txt", "recipients.parquet",
                                                            "summary.json"]
    assert (plan / "notes.txt").read_text(encoding="utf-8") == "a user's file"
    assert sorted(path.name for path in bucket.iterdir()) == ["a.csv", "b.csv", "plan", "spec.yaml"]


def test_plus2_plan_into_an_empty_folder_and_over_a_plan_written_before_the_marker(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    (bucket / "plan").mkdir()
    assert planned(bucket, lists=["a.csv"])[1]["rows"] == 1
    (bucket / "plan" / MARKER_FILE).unlink()  # a plan folder as written before the marker existed
    write_list(bucket / "plan" / "quarantine.csv", "stale")
    assert planned(bucket, lists=["a.csv"])[1]["rows"] == 1
    assert sorted(path.name for path in (bucket / "plan").iterdir()) == [MARKER_FILE, "recipients.parquet",
                                                                         "summary.json"]


def test_plus2_plan_output_that_is_a_file_is_refused(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    with pytest.raises(PlanFolderError, match="a.csv"):
        plan_file(write_spec(bucket, lists=["a.csv"]), bucket / "a.csv")
    assert (bucket / "a.csv").read_text(encoding="utf-8").startswith("Mobile")
