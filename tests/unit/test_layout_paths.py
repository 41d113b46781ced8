"""The on-disk contract of a campaign (issue 8): every path from one place."""

from __future__ import annotations

from pathlib import Path

from pipelines.layout import CampaignPaths, campaign_folder_name


def test_house_campaign_paths_from_the_bucket_or_from_a_plan_folder_agree(tmp_path: Path):
    paths = CampaignPaths.in_bucket(tmp_path, "soldes")
    assert CampaignPaths.of_plan(paths.plan) == paths
    assert paths.recipients == tmp_path / "campaigns" / "soldes" / "plan" / "recipients.parquet"
    assert paths.ledger.parent == paths.dispatch and paths.report == paths.report_dir / "soldes.csv"


def test_house_a_run_id_becomes_a_folder_name_without_separators():
    assert campaign_folder_name("manual__2026-11-25T10:00:00+00:00") == "manual__2026-11-25T10_00_00_00_00"
    assert "/" not in campaign_folder_name("../../etc") and ".." not in campaign_folder_name("../..")


def test_camp4_a_campaign_goes_by_its_id_its_airflow_run_id_or_that_run_id_escaped():
    from pipelines.layout import campaign_id_candidates

    folder = "manual__2026-11-25T10_00_00.123_00_00"
    assert campaign_id_candidates("manual__2026-11-25T10:00:00.123+00:00") == (
        "manual__2026-11-25T10:00:00.123+00:00", folder)
    assert folder in campaign_id_candidates("manual__2026-11-25T10%3A00%3A00.123%2B00%3A00")  # the UI's address
    assert campaign_id_candidates("soldes-vip-3f9a2c") == ("soldes-vip-3f9a2c",)
