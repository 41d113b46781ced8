"""`make demo` runs the main job on embedded defaults: plan, DuckDB, simulator, test send, send, statuses."""

from __future__ import annotations

import json
import os

import duckdb
import pytest
from helpers import smsflow


def test_house_demo_runs_a_campaign_end_to_end(tmp_path):
    bucket = tmp_path / "bucket"
    result = smsflow("demo", "--bucket", str(bucket), "--rows", "2000", "--direct", timeout=300)
    assert result.returncode == 0, result.stderr
    for words in ("Sendable", "Destinations by country", "Test sent to", "parts accepted", "Délivré"):
        assert words in result.stdout
    (campaign,) = (bucket / "campaigns").iterdir()
    assert (campaign / "plan" / "recipients.parquet").is_file()
    assert list((campaign / "events").glob("*.parquet")) and list((campaign / "dispatch" / "ledger").glob("*.jsonl"))
    with duckdb.connect(str(bucket / "warehouse.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM plan_recipients").fetchone()[0] == 2001
    # BL-2: the two handsets that answered STOP / Arrêt are on the demo account's own blacklist in the store.
    listed = smsflow("blacklist", "list", "--kind", "own", "--account", "demo", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 2


@pytest.mark.xdist_group("airflow")  # one Airflow at a time on a 2-core machine
def test_house_demo_through_airflow_standalone_and_its_rest_api(tmp_path):
    """`make demo`: airflow standalone started and stopped, the run triggered and approved over HTTP."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bucket = tmp_path / "bucket"
    environment = {**os.environ, "SMSFLOW_AIRFLOW_HOME": str(tmp_path / "airflow_home")}
    result = smsflow("demo", "--bucket", str(bucket), "--rows", "500", "--port", str(port), timeout=900,
                     env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Approved (200)" in result.stdout and ": success after" in result.stdout
    (report,) = bucket.glob("campaigns/*/report/*.csv")
    assert report.read_text(encoding="utf-8-sig").startswith("REF_LIST;ID_LINE;INT_MOBILE;STATUS_CODE")
    with socket.socket() as probe:  # everything it started is stopped
        assert probe.connect_ex(("127.0.0.1", port)) != 0
