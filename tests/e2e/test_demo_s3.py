"""Issue 13: the demo's whole campaign run by real Airflow (standalone) with the bucket on S3 (a real moto_server):
the tasks work through their working copy and leave everything on S3; the account store and the lake's catalog are
PostgreSQL databases, so the local working folder can be thrown away and the campaign is still there."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import socket
import uuid

import pytest
from helpers import smsflow

from pipelines import storage
from pipelines.storage import ObjectUrl


@pytest.fixture
def databases(postgres_server):
    """Two empty PostgreSQL databases: the account store's and the lake catalog's, dropped afterwards."""
    import psycopg

    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    names = [f"smsflow_e2e_s3_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("store", "lake")]
    with psycopg.connect(admin, autocommit=True) as connection:
        for name in names:
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_server}/{names[0]}", f"{postgres_server}/{names[1]}".replace("+psycopg", "")
    finally:
        from pipelines.store import dispose_all

        dispose_all()
        with psycopg.connect(admin, autocommit=True) as connection:
            for name in names:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.xdist_group("airflow")  # one Airflow at a time on a 2-core machine
def test_issue13_the_demo_campaign_runs_through_airflow_with_the_bucket_on_s3(s3_server, databases, tmp_path):
    store, lake = databases
    bucket = s3_server.url("tenant")
    workdir = tmp_path / "working-copy"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "SMSFLOW_AIRFLOW_HOME": str(tmp_path / "airflow_home"),
                   "SMSFLOW_WORKDIR": str(workdir), "SMSFLOW_DB": store, "SMSFLOW_WAREHOUSE": lake,
                   "SMSFLOW_BUCKET": bucket}
    environment.pop("SMSFLOW_WAREHOUSE_DATA", None)
    demo = smsflow("demo", "--bucket", bucket, "--rows", "300", "--port", str(port), env=environment, timeout=900)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    assert "Approved (200)" in demo.stdout and ": success after" in demo.stdout, demo.stdout[-3000:]
    run_id = re.search(r"Triggered run (\S+):", demo.stdout).group(1)
    from pipelines.layout import campaign_folder_name

    campaign = campaign_folder_name(run_id)
    folder = ObjectUrl.parse(f"{bucket}/campaigns/{campaign}")

    # Everything the run wrote is on S3 under campaigns/<id>/: its spec (lists named as objects), plan, report.
    keys = {str(url)[len(str(folder)) + 1:] for url in storage.listing(folder)}
    for key in ("spec.yaml", "plan/recipients.parquet", "plan/summary.json", f"report/{campaign}.csv",
                "report/stats.json"):
        assert key in keys, sorted(keys)
    assert any(key.startswith("events/") for key in keys), sorted(keys)  # the receipts heard by the run
    spec = storage.read_bytes(folder / "spec.yaml").decode()
    assert f"{bucket}/incoming/clients-vip.csv" in spec and str(workdir) not in spec
    # The tasks had a working copy of their own: the report reached this one through S3 (pulled at the end).
    tasks = tmp_path / "airflow_home" / "working-copy"
    assert (tasks / "campaigns" / campaign / "plan" / "recipients.parquet").is_file()
    assert (workdir / "campaigns" / campaign / "report" / f"{campaign}.csv").is_file()
    assert f"CSV report: {folder}/report/{campaign}.csv" in demo.stdout
    rows = list(csv.reader(io.StringIO(storage.read_bytes(folder / "report" / f"{campaign}.csv")
                                       .decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["REF_LIST", "ID_LINE", "INT_MOBILE"] and len(rows) == 1 + 301, len(rows)  # REP-2

    # The working copy is only a cache: thrown away, the campaign is still there (store, lake, S3).
    shutil.rmtree(workdir)
    shown = smsflow("campaigns", "show", campaign, "--account", "demo", "--json", env=environment)
    assert shown.returncode == 0, shown.stderr
    assert '"status": "finished"' in shown.stdout
    planned = smsflow("plan", f"{bucket}/specs/soldes-vip.yaml", "--json", "--no-contracts", env=environment,
                      timeout=300)
    assert planned.returncode == 0, planned.stderr  # planned into the S3 bucket's campaign folder, through a copy
    assert storage.exists(f"{bucket}/campaigns/soldes-vip/plan/recipients.parquet")
    assert (workdir / "campaigns" / "soldes-vip" / "plan" / "summary.json").is_file()
    again = tmp_path / "again.csv"
    report = smsflow("report", campaign, "--out", str(again), env=environment, timeout=300)
    assert report.returncode == 0, report.stderr  # the lake: catalog in PostgreSQL, data files on S3 (helper C)
    assert len(again.read_text(encoding="utf-8-sig").splitlines()) == 1 + 301


def test_issue13_the_direct_demo_refuses_an_s3_bucket_and_says_how():
    from helpers import smsflow_here

    refused = smsflow_here("demo", "--bucket", "s3://somewhere/tenant", "--direct")
    assert refused.returncode == 2, refused.stderr
    assert "--direct runs in one process on a local bucket folder, not s3://somewhere/tenant" in refused.stderr
