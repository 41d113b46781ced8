"""A campaign's steps on an s3:// bucket from two workers' working copies (issue 13): each step finds the campaign
folder from its own copy and the campaign id, pulls it, works, pushes it; nothing passes through a local disk."""

from __future__ import annotations

import uuid

import pytest
import yaml
from helpers import write_spec

from pipelines import storage
from pipelines.bucket import campaign_synced, prefix
from pipelines.storage import working_root

LIST = "Mobile;Prénom\n0611111111;Ann\nabc;Bob\n0622222222;Cy\n"


@pytest.fixture
def lake_catalog(postgres_server):
    """The workers' shared lake catalog: a PostgreSQL database of its own (its data files go to the bucket's S3)."""
    import psycopg

    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    name = f"smsflow_mirror_lake_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_server}/{name}".replace("+psycopg", "")
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_camp2_list4_a_campaign_prepared_on_one_worker_is_planned_and_reported_on_another(s3_server, lake_catalog,
                                                                                        tmp_path, monkeypatch):
    from pipelines.campaign import finish_step, plan_step, prepare_run, record
    from pipelines.contracts import check_plan

    bucket = s3_server.url("tenant")
    monkeypatch.setenv("SMSFLOW_BUCKET", bucket)
    monkeypatch.setenv("SMSFLOW_DB", f"sqlite:///{tmp_path / 'store.db'}")  # shared as PostgreSQL would be
    monkeypatch.setenv("SMSFLOW_WAREHOUSE", lake_catalog)
    monkeypatch.delenv("SMSFLOW_WAREHOUSE_DATA", raising=False)
    storage.write_bytes(f"{bucket}/incoming/vip.csv", LIST.encode())
    spec = write_spec(tmp_path / "spec", lists=["../incoming/vip.csv"])
    storage.upload(spec, f"{bucket}/specs/vip.yaml")

    monkeypatch.setenv("SMSFLOW_WORKDIR", str(tmp_path / "worker-1"))
    first = working_root(bucket)
    campaign, spec_path = prepare_run(first, "manual__2026-11-26T09:00:00+00:00", {"spec_path": "specs/vip.yaml"})
    storage.push(first, prefix(campaign))
    written = yaml.safe_load(storage.read_bytes(f"{bucket}/campaigns/{campaign}/spec.yaml"))
    assert written["lists"] == [f"{bucket}/incoming/vip.csv"]  # an object, never worker 1's path (LIST-4)
    assert not (first / "incoming").exists()  # the spec and its list were read on S3, not copied here

    monkeypatch.setenv("SMSFLOW_WORKDIR", str(tmp_path / "worker-2"))
    second = working_root(bucket)
    with campaign_synced(second, campaign) as paths:
        assert paths.spec.is_file() and paths.root.is_relative_to(second)
        planned = plan_step(second, campaign, paths.spec)
        check_plan(paths.plan, max_invalid_share=0.5)
    assert storage.exists(f"{bucket}/campaigns/{campaign}/plan/recipients.parquet")
    assert storage.exists(f"{bucket}/campaigns/{campaign}/plan/quarantine.csv")  # "abc", PLUS-3

    monkeypatch.setenv("SMSFLOW_WORKDIR", str(tmp_path / "worker-1"))
    with campaign_synced(first, campaign) as paths:  # worker 1 sees worker 2's plan once pulled
        assert paths.recipients.is_file() and planned["rows"] == 3
        record(first, campaign, "running", "approved (test)")
        finish_step(first, campaign, planned["account"])
    report = storage.read_bytes(f"{bucket}/campaigns/{campaign}/report/{campaign}.csv").decode("utf-8-sig")
    assert report.splitlines()[0].startswith("REF_LIST;ID_LINE") and len(report.splitlines()) == 4  # REP-2


def test_plus1_smsflow_plan_and_send_on_an_s3_bucket_go_through_the_working_copy(s3_server, smsc, tmp_path,
                                                                                monkeypatch):
    from helpers import smsflow_here

    bucket = s3_server.url("tenant")
    simulator = smsc()
    storage.write_bytes(f"{bucket}/incoming/vip.csv", LIST.encode())
    storage.upload(write_spec(tmp_path / "spec", lists=["../incoming/vip.csv"]), f"{bucket}/specs/vip.yaml")
    work = tmp_path / "work"
    env = {"SMSFLOW_BUCKET": bucket, "SMSFLOW_WORKDIR": str(work), "SMSFLOW_LEDGER": "files",
           "SMSFLOW_DB": f"sqlite:///{tmp_path / 'store.db'}"}
    planned = smsflow_here("plan", f"{bucket}/specs/vip.yaml", "--no-contracts", env=env)
    assert planned.returncode == 0, planned.stderr
    assert f"Campaign folder sent to {bucket}/campaigns/vip" in planned.stderr
    assert storage.exists(f"{bucket}/campaigns/vip/plan/summary.json")
    import shutil

    shutil.rmtree(work / "campaigns")  # another machine, or a cleaned cache: the plan is on S3 only
    sent = smsflow_here("send", str(work / "campaigns" / "vip" / "plan"), "--smsc", simulator.url(), env=env)
    assert sent.returncode == 0, sent.stderr
    ledger = [url for url in storage.listing(f"{bucket}/campaigns/vip/dispatch/ledger/")]
    assert ledger and b'"submit' in b"".join(storage.read_bytes(url) for url in ledger)  # the ledger reached S3
    assert len(simulator.records("part")) == 2
    shutil.rmtree(work / "campaigns")  # SEND-8: settled on a worker that never saw the send
    from pipelines.bucket import sent_parts

    monkeypatch.setenv("SMSFLOW_LEDGER", "files")
    monkeypatch.setenv("SMSFLOW_WORKDIR", str(work))
    assert sent_parts(working_root(bucket), "vip") == 2
