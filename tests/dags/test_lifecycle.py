"""CAMP-3: the campaign DAG reads and writes the lifecycle in the account store, shared with `smsflow campaigns`.

Each test runs the DAG once with dag.test() in a clean process: this file is also that process's script
(`python tests/dags/test_lifecycle.py HOME BUCKET SMSC_URL CAMPAIGN_ID MODE`), which starts the run of a store
draft and, in a second thread, acts as the user would: cancel from the command line while it waits for its
approval, or cancel while its batches go out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

LIST = "Mobile;Prénom\n0611111111;Ann\n0622222222;Loïc\n0633333333;Léa\n0644444444;Max\n"
LIST_NUMBERS = {"33611111111", "33622222222", "33633333333", "33644444444"}


def _drive(home: str, bucket: str, smsc_url: str, campaign_id: str, mode: str) -> None:
    """The run of the draft `campaign_id`; `mode`: auto (approval: auto), cancel-scheduled, cancel-running."""
    os.environ.update({
        "AIRFLOW_HOME": home, "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parents[2] / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True", "AIRFLOW__API_AUTH__JWT_SECRET": "lifecycle-test",
        "SMSFLOW_BUCKET": bucket, "SMSFLOW_RECEIPT_TIMEOUT": "5", "AIRFLOW_CONN_SMSC_DEFAULT": smsc_url,
    })
    if mode == "cancel-running":
        os.environ["SMSFLOW_BATCH_SIZE"] = "1"  # one batch per recipient: a cancel falls between batches
    if not Path(home, "airflow.db").exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    # Everything imported before the user's thread starts: two threads importing at once broke an import in the
    # DAG file's process once ("NameError: name 'sys' is not defined" inside importlib, no RESULT line).
    import sms_campaign

    import pipelines.layout  # noqa: F401  (the threads' imports)
    import pipelines.store  # noqa: F401
    done: dict = {}
    if mode == "cancel-scheduled":
        threading.Thread(target=_cancel_at_approval, args=(campaign_id, done), daemon=True).start()
    elif mode == "cancel-running":
        threading.Thread(target=_cancel_after_first_batch, args=(Path(bucket), campaign_id, done),
                         daemon=True).start()
    run = sms_campaign.sms_campaign().test(run_conf={"campaign_id": campaign_id})
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print("RESULT " + json.dumps({"state": str(run.state), "tasks": states, "done": done}))


def _cancel_at_approval(campaign_id: str, done: dict) -> None:
    """While the run waits for its approval: `smsflow campaigns cancel` (the user), then Approve (another user)."""
    import airflow.models
    from fastapi.testclient import TestClient

    airflow.models.import_all_models()
    from airflow.api_fastapi.app import create_app

    client = TestClient(create_app())
    for _ in range(1200):
        time.sleep(0.3)
        details = client.get("/api/v2/dags/sms_campaign/dagRuns/~/hitlDetails").json().get("hitl_details", [])
        pending = [d for d in details if d.get("responded_at") is None]
        if pending:
            cancel = subprocess.run([sys.executable, "-m", "pipelines.cli", "campaigns", "cancel", campaign_id],
                                    capture_output=True, text=True)
            done["cancel"] = [cancel.returncode, cancel.stderr]
            ti = pending[0]["task_instance"]
            done["approve"] = client.patch(f"/api/v2/dags/sms_campaign/dagRuns/{ti['dag_run_id']}/taskInstances/"
                                           f"{ti['task_id']}/{ti['map_index']}/hitlDetails",
                                           json={"chosen_options": ["Approve"]}).status_code
            return


def _cancel_after_first_batch(bucket: Path, campaign_id: str, done: dict) -> None:
    """As soon as the first batch is on its way (its send ledger written), cancel the running campaign."""
    from pipelines.layout import CampaignPaths
    from pipelines.store import campaigns, open_store

    ledger = CampaignPaths.in_bucket(bucket, campaign_id).ledger
    for _ in range(6000):
        if ledger.is_dir() and any(path.is_file() for path in ledger.rglob("*")):
            done["cancel"] = campaigns.cancel(open_store(bucket=bucket), campaign_id, by="tester").outcome
            return
        time.sleep(0.02)


if __name__ == "__main__":
    _drive(*sys.argv[1:6])
    sys.exit(0)

import pytest  # noqa: E402  (the tests below; the script above runs without pytest)
from helpers import ROOT, write_list  # noqa: E402

pytestmark = pytest.mark.xdist_group("airflow")  # one Airflow at a time on a 2-core machine


@pytest.fixture(scope="module")
def dag_run_home(tmp_path_factory, airflow_db_template) -> Path:
    """One AIRFLOW_HOME for this module's runs, each in its own process (a migrated copy)."""
    from helpers import airflow_home_from

    return airflow_home_from(airflow_db_template, tmp_path_factory.mktemp("lifecycle_home"))


def run_draft(tmp_path: Path, smsc, home: Path, mode: str, **spec) -> tuple[dict, Path, object, object, str]:
    """A draft made in the store as `smsflow campaigns create` makes it, then run by the DAG (conf campaign_id)."""
    from pipelines.store import campaigns, open_store

    simulator = smsc()
    bucket = tmp_path / "bucket"
    write_list(bucket / "incoming" / "clients.csv", LIST)
    store = open_store()  # the test's own store (SMSFLOW_DB), which the run inherits
    draft = campaigns.create(store, {"name": "Rappel", "type": "notification", "message": "Bonjour ${Prénom}",
                                     "lists": ["incoming/clients.csv"], "test": {"numbers": "0698765432"},
                                     **spec}, base=bucket)
    result = subprocess.run([sys.executable, __file__, str(home), str(bucket), simulator.url(linger=0.5), draft.id,
                             mode], capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "SMSFLOW_BUCKET": str(bucket)})
    (tmp_path / "run.log").write_text(result.stdout + result.stderr, encoding="utf-8")  # the tasks' logs
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout[-3000:] + result.stderr[-3000:]
    outcome = json.loads(lines[-1][7:])
    outcome["failed"] = sorted(task for task, state in outcome["tasks"].items() if state == "failed")
    return outcome, bucket, simulator, store, draft.id


def steps(store, campaign_id: str) -> list[str]:
    """The lifecycle's statuses in order, a status noted twice in a row counted once."""
    from pipelines.store import campaigns

    statuses = [event["status"] for event in campaigns.events(store, campaign_id)]
    return [status for i, status in enumerate(statuses) if i == 0 or statuses[i - 1] != status]


def test_camp3_cancel_from_the_cli_while_scheduled_the_run_ends_cancelled_sending_nothing(tmp_path, smsc,
                                                                                          dag_run_home):
    outcome, bucket, simulator, store, campaign_id = run_draft(tmp_path, smsc, dag_run_home, "cancel-scheduled")
    assert outcome["done"]["cancel"][0] == 0, outcome
    assert outcome["state"] == "success", outcome  # a user's decision, not a failure
    assert outcome["tasks"]["batches"] == "skipped" and outcome["tasks"]["close"] == "success", outcome
    assert not LIST_NUMBERS & {m["destination"] for m in simulator.records("message")}  # only the test went
    assert steps(store, campaign_id) == ["draft", "scheduled", "cancelled"]


def test_camp3_cancel_while_running_stops_between_batches_and_the_run_ends_cancelled(tmp_path, smsc, dag_run_home):
    from pipelines.store import campaigns

    outcome, bucket, simulator, store, campaign_id = run_draft(tmp_path, smsc, dag_run_home, "cancel-running",
                                                               approval="auto")
    assert outcome["done"]["cancel"] == "stopping", outcome
    assert outcome["state"] == "success", outcome
    sent = LIST_NUMBERS & {m["destination"] for m in simulator.records("message")}
    assert 1 <= len(sent) < len(LIST_NUMBERS), sent  # the first batch went, the last ones did not
    assert steps(store, campaign_id) == ["draft", "scheduled", "running", "cancelled"]
    assert campaigns.events(store, campaign_id)[-1]["detail"].startswith("stopped between batches as asked")
    assert campaigns.get(store, campaign_id).figures["sent"] == len(sent)
