"""SEND-8 through real Airflow runs (dag.test): a run marked failed by hand while it waits for its approval skips
`close`, so nothing settles it then; the next campaign's reservation asks Airflow which runs ended and gives the
failed run's credits back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, write_list, write_spec

from pipelines.store import open_store
from pipelines.store.credits import balance, history, reservation, top_up

pytestmark = pytest.mark.xdist_group("airflow")  # one Airflow at a time on a 2-core machine
LIST = "Mobile;Prénom\n0611111111;Ann\n0622222222;Loïc\n0633333333;Léa\n"


def mark_failed_run(home: Path, bucket: Path, simulator, spec_path: Path) -> dict:
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "dags" / "settlement_run.py"), str(home),
                             str(bucket), simulator.url(linger=0.5), str(spec_path.relative_to(bucket))],
                            capture_output=True, text=True, timeout=400, cwd=ROOT)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(lines[-1][7:])


def test_send8_a_waiting_run_marked_failed_is_settled_by_the_next_reservation(tmp_path, smsc, airflow_db_template):
    from helpers import airflow_home_from

    simulator = smsc()
    bucket, home = tmp_path / "bucket", airflow_home_from(airflow_db_template, tmp_path / "airflow_home")
    write_list(bucket / "incoming" / "clients.csv", LIST)
    engine = open_store(bucket=bucket)  # the store the DAG opens: bucket/smsflow.db
    top_up(engine, "default", 100)
    spec_path = write_spec(bucket / "specs", lists=["../incoming/clients.csv"])

    first = mark_failed_run(home, bucket, simulator, spec_path)
    # Marked failed (dag.test() then re-derives the state of the run it drives from its tasks; the scheduler
    # would leave it failed): the approval was killed, everything after it skipped, `close` too.
    assert first["marked"]["status"] == 200 and first["tasks"]["approve"] == "failed", first
    assert first["tasks"]["close"] == "skipped" and first["tasks"]["batches"] == "skipped", first
    campaign = next(e["campaign_id"] for e in history(engine) if e["kind"] == "reserve")
    assert reservation(engine, campaign)["settled_at"] is None  # close never ran: the 3 credits stay held
    assert balance(engine) == 97

    second = mark_failed_run(home, bucket, simulator, spec_path)
    assert second["marked"]["status"] == 200 and second["tasks"]["close"] == "skipped", second
    settled = reservation(engine, campaign)
    assert settled["settled_at"] is not None and settled["given_back"] == 3, settled
    assert balance(engine) == 97  # the first run's 3 came back, the second (also marked failed) holds 3
    assert [m["destination"] for m in simulator.records("message")] == []  # neither sent anything
