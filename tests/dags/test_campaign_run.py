"""A whole campaign as one Airflow DAG run (dag.test) against the SMSC simulator process."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from helpers import ROOT, write_list, write_spec

from pipelines import warehouse
from pipelines.campaign import lifecycle, plan_step
from pipelines.store import create_account, open_store
from pipelines.store.blacklists import list_numbers
from pipelines.store.credits import history, top_up

pytestmark = pytest.mark.xdist_group("airflow")  # one Airflow at a time on a 2-core machine
LIST = "Mobile;Prénom;Ville\n0611111111;Ann;Nîmes\n0622222222;Loïc;Lyon\n0633333333;Léa;Dijon\n" \
       "0644444444;Max;Paris\n0622222222;Loïc;Lyon\nabc;Zoé;Metz\n"


@pytest.fixture(scope="module")
def dag_run_home(tmp_path_factory, airflow_db_template) -> Path:
    """One AIRFLOW_HOME for the dag.test() runs of this module, each in its own process (a migrated copy)."""
    from helpers import airflow_home_from

    return airflow_home_from(airflow_db_template, tmp_path_factory.mktemp("dag_run_home"))


def campaign_of(bucket: Path) -> str:
    """The one campaign of a bucket (its folder is named after the run)."""
    (folder,) = (bucket / "campaigns").iterdir()
    return folder.name


def run_campaign(tmp_path, smsc, answer: str, home: Path, *, simulator=None, form: dict | None = None,
                 **spec) -> tuple[dict, Path, object]:
    """One DAG run of the spec file (conf spec_path), or of `form`: the trigger form's own fields, through the REST
    API (tests/dags/campaign_run.py)."""
    simulator = simulator or smsc(rules=[{"value": "44", "outcome": "UNDELIV"}])
    bucket = tmp_path / "bucket"
    write_list(bucket / "incoming" / "clients.csv", LIST)
    engine = open_store(bucket=bucket)  # the store the DAG opens: $SMSFLOW_DB, else bucket/smsflow.db
    create_account(engine, "acme")
    top_up(engine, "acme", 100)
    spec_path = write_spec(bucket / "specs", lists=["../incoming/clients.csv"], account={"id": "acme"},
                           test={"numbers": "0698765432", "row": 2},
                           contracts={"max_invalid_share": 0.5}, **spec)
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "dags" / "campaign_run.py"), str(home),
                             str(bucket), simulator.url(linger=0.5),
                             json.dumps(form) if form else str(spec_path.relative_to(bucket)), answer],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(lines[-1][7:]), bucket, simulator


# The campaign as a person fills the trigger form (its own fields, no spec file): issue 10's "Done when".
FORM = {"name": "Test", "type": "notification", "lists": ["incoming/clients.csv"], "message": "Bonjour ${Prénom}",
        "test_numbers": "0698765432", "test_row": 2, "account": "acme", "max_invalid_share": 0.5}


def test_send4_camp2_campaign_from_the_trigger_form_s_fields_approved_through_the_rest_api(tmp_path, smsc,
                                                                                           dag_run_home):
    outcome, bucket, simulator = run_campaign(tmp_path, smsc, "Approve", dag_run_home, form=FORM)
    assert outcome["triggered"]["status"] == 200, outcome["triggered"]  # the API took the form's own fields
    assert outcome["triggered"]["body"]["dag_run_id"] == outcome["run_id"]
    refused = outcome["triggered"]["refused"]  # a path where a list of paths is wanted: refused, readably
    assert refused["status"] == 400 and "lists" in refused["detail"] and "anyOf" not in refused["detail"], refused
    assert outcome["state"] == "success", outcome
    assert outcome["approval"]["status"] == 200
    assert "Recipients**: 6, of which **4** will be sent" in outcome["approval"]["body"]  # SEND-4 summary
    assert "0698765432" in outcome["approval"]["body"]
    messages = simulator.records("message")
    assert sorted(m["destination"] for m in messages) == ["33611111111", "33622222222", "33633333333",
                                                          "33644444444", "33698765432"]  # 4 + the test
    test = [m for m in messages if m["destination"] == "33698765432"][0]
    assert test["text"] == "Bonjour Loic"  # SEND-3: personalised with row 2
    with warehouse.connect(warehouse.in_bucket(bucket), read_only=True) as connection:
        statuses = dict(connection.execute("SELECT int_mobile, status_code FROM message_status").fetchall())
    assert statuses == {"+33611111111": 16, "+33622222222": 16, "+33633333333": 16, "+33644444444": 20}
    credits = [(e["kind"], e["credits"]) for e in history(open_store(bucket=bucket), "acme")]
    assert credits == [("topup", 100), ("reserve", 4), ("settle", 0)]  # every reserved credit was used (SEND-8)
    statuses = [status for status, _ in lifecycle(bucket, campaign_of(bucket))]
    assert [status for i, status in enumerate(statuses) if statuses[i - 1:i] != [status]] == \
        ["scheduled", "running", "finished"]  # a status noted twice in a row (its audit detail) counted once
    (report,) = (bucket / "campaigns").glob("*/report/*.csv")
    rows = list(csv.reader(report.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0][:7] == ["REF_LIST", "ID_LINE", "INT_MOBILE", "STATUS_CODE", "STATUS_TEXT", "DELIVERYDATE",
                           "REPLY"]
    assert rows[0][-3:] == ["Mobile", "Prénom", "Ville"]
    assert [row[3] for row in rows[1:]] == ["16", "16", "16", "20", "4", "2"]
    # REP-1/REP-2 reachable from the run: its "Campaign report" tab (the smsflow plugin) and the CSV to download.
    page = outcome["report_page"]
    assert {"name": "Campaign report", "destination": "dag_run"}.items() <= page["views"][0].items(), page["views"]
    assert page["status"] == 200 and "Download the report (CSV, REP-2)" in page["page"], page
    assert "<tr><th>Delivered</th><td>3</td></tr>" in page["page"], page["page"]
    assert page["csv_status"] == 200 and page["csv"].splitlines()[0] == report.read_text(encoding="utf-8-sig") \
        .splitlines()[0], page


def test_bl2_send4_stop_replies_heard_by_an_airflow_run_block_the_next_run_status_14(tmp_path, smsc, dag_run_home):
    """Done when #1, the Airflow path: two handsets answer STOP and ARRÊT during a DAG run (approved
    automatically, SEND-3: recorded in the audit); the next campaign's plan on the same list gives them 14."""
    simulator = smsc(replies=[{"number": "33611111111", "text": "STOP"}, {"number": "33633333333", "text": "Arrêt !"}])
    outcome, bucket, _ = run_campaign(tmp_path, smsc, "auto", dag_run_home, simulator=simulator, approval="auto")
    assert outcome["state"] == "success" and outcome["tasks"]["approve"] == "skipped", outcome
    first_run = campaign_of(bucket)
    assert len(simulator.records("message")) == 5  # 4 recipients + the test
    assert any("approval: auto (spec)" in detail for _, detail in lifecycle(bucket, first_run))
    listed = list_numbers(open_store(bucket=bucket), "own", "acme")
    assert sorted(listed.get_column("number")) == ["+33611111111", "+33633333333"]
    # The next campaign's plan, as the DAG's plan task makes it (pipelines.campaign.plan_step), on the same list.
    (spec_path,) = (bucket / "specs").glob("*.yaml")
    planned = plan_step(bucket, "next-campaign", spec_path)
    statuses = dict(duckdb.sql(f"SELECT INT_MOBILE, STATUS_CODE FROM '{planned['plan_dir']}/recipients.parquet'")
                    .fetchall())
    assert statuses["+33611111111"] == statuses["+33633333333"] == 14
    assert statuses["+33644444444"] is None  # still sendable


def test_plus1_dispatch_task_killed_mid_batch_and_retried_sends_each_part_once(tmp_path, smsc):
    """An Airflow retry of a dispatch task killed mid-batch: the ledger makes the retry finish the job."""
    import os
    import signal
    import time
    from collections import Counter

    from pipelines.plan import plan_file

    simulator = smsc()
    rows = "".join(f"06{10_000_000 + i:08d};Client {i}\n" for i in range(1500))
    write_list(tmp_path / "list.csv", "Mobile;Nom\n" + rows)
    plan_dir = plan_file(write_spec(tmp_path, lists=["list.csv"], message="Bonjour ${Nom}, votre colis arrive."),
                         tmp_path / "campaign" / "plan").out_dir
    environment = {**os.environ, "AIRFLOW_CONN_SMSC_DEFAULT": simulator.url(tps=600, ambiguous_grace=1.0),
                   "AIRFLOW_HOME": str(tmp_path / "home")}
    task = ("from smsflow_provider.operators.campaign import SmppDispatchOperator\n"
            f"print(SmppDispatchOperator(task_id='dispatch', plan_dir={str(plan_dir)!r}, batch=0, batch_size=1000)"
            ".execute({}))")
    attempt = subprocess.Popen([sys.executable, "-c", task], env=environment, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(simulator.records("part")) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(attempt.pid, signal.SIGKILL)  # the worker dies mid-batch
    attempt.wait()
    assert 300 <= len(simulator.records("part")) < 1000
    retry = subprocess.run([sys.executable, "-c", task], env=environment, cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert retry.returncode == 0, retry.stderr[-2000:]
    counts = Counter(p["destination"] for p in simulator.records("part"))
    assert len(counts) == 1000 and set(counts.values()) == {1}  # batch 0 = the first 1,000 rows: none twice
