"""Run the campaign DAG once with dag.test() in a clean process (its own AIRFLOW_HOME), answering the approval
through Airflow's REST API from a second thread as a user would; prints a JSON summary for the test.

    python tests/dags/campaign_run.py HOME BUCKET SMSC_URL (SPEC_PATH|FORM_JSON) (Approve|Reject|auto)

FORM_JSON (a JSON object: the trigger form's own fields) is submitted as the UI's form submits it, through the REST
API (`POST …/dagRuns`, where Airflow checks it against the DAG's Params); the run it made is then run by dag.test()
with the same run id, logical date and the conf the API accepted (dag.test() replaces a run of the same logical
date: it needs no scheduler). The run's "Campaign report" page (the smsflow plugin) is read back afterwards.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

home, bucket, smsc_url, spec_path, answer = sys.argv[1:6]
os.environ.update({
    "AIRFLOW_HOME": home, "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parents[2] / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True", "AIRFLOW__API_AUTH__JWT_SECRET": "campaign-run-test",
    "SMSFLOW_BUCKET": bucket, "SMSFLOW_RECEIPT_TIMEOUT": "5", "AIRFLOW_CONN_SMSC_DEFAULT": smsc_url,
})
if not Path(home, "airflow.db").exists():
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])

answered: dict = {}


@functools.cache
def rest_client():
    """Airflow's API server in this process (one for every call: making one takes seconds)."""
    import airflow.models
    from fastapi.testclient import TestClient

    airflow.models.import_all_models()
    from airflow.api_fastapi.app import create_app

    return TestClient(create_app())


def approve_through_the_rest_api() -> None:
    """What a user does in the UI, through the same REST API: find the pending approval and answer it."""
    client = rest_client()
    for _ in range(600):
        time.sleep(0.3)
        details = client.get("/api/v2/dags/sms_campaign/dagRuns/~/hitlDetails").json().get("hitl_details", [])
        pending = [d for d in details if d.get("responded_at") is None]
        if pending:
            ti = pending[0]["task_instance"]
            answered["subject"], answered["body"] = pending[0]["subject"], pending[0]["body"]
            response = client.patch(f"/api/v2/dags/sms_campaign/dagRuns/{ti['dag_run_id']}/taskInstances/"
                                    f"{ti['task_id']}/{ti['map_index']}/hitlDetails",
                                    json={"chosen_options": [answer]})
            answered["status"] = response.status_code
            return


import sms_campaign  # noqa: E402  (after the environment is set)


def trigger_through_the_rest_api(form: dict) -> tuple[dict, object, dict]:
    """The form's fields POSTed as the UI does; returns (the accepted conf, the logical date, what the API said)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dagrun import DagRun
    from airflow.sdk import timezone
    from airflow.utils.types import DagRunType

    manager = DagBundlesManager()  # the DAG in the metadata database, as the dag processor puts it
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        sync_bag_to_db(BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name),
                       bundle.name, bundle.version)
    # Issue 10's first find: a path typed where the form wants a list of them was a 400 with a raw anyOf dump.
    refused = rest_client().post("/api/v2/dags/sms_campaign/dagRuns",
                                 json={"logical_date": None, "conf": {**form, "lists": form["lists"][0]}})
    logical = timezone.utcnow().replace(microsecond=0)
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=logical, run_after=logical)
    response = rest_client().post("/api/v2/dags/sms_campaign/dagRuns",
                                  json={"dag_run_id": run_id, "logical_date": logical.isoformat(), "conf": form})
    said = {"status": response.status_code, "body": response.json(),
            "refused": {"status": refused.status_code, "detail": refused.text}}
    return (said["body"].get("conf") or {}) if response.status_code == 200 else {}, logical, said


def report_page(run_id: str) -> dict:
    """The run's Campaign report tab and its downloads, through the API server (the smsflow plugin)."""
    from urllib.parse import quote

    client = rest_client()
    base = f"/smsflow/dags/sms_campaign/runs/{quote(run_id, safe='')}"
    page, csv = client.get(base), client.get(f"{base}/report.csv")
    views = [view for plugin in client.get("/api/v2/plugins").json().get("plugins", [])
             for view in plugin.get("external_views", [])]
    return {"status": page.status_code, "page": page.text, "csv_status": csv.status_code,
            "csv": csv.content.decode("utf-8-sig")[:2000], "views": views}


dag, triggered = sms_campaign.sms_campaign(), None
if spec_path.startswith("{"):
    conf, logical, triggered = trigger_through_the_rest_api(json.loads(spec_path))
    if triggered["status"] != 200:
        print("RESULT " + json.dumps({"state": "not triggered", "triggered": triggered}))
        sys.exit(0)
# The approver starts once the API server's modules are imported here: two threads importing them at once deadlock.
if answer != "auto":
    threading.Thread(target=approve_through_the_rest_api, daemon=True).start()
if triggered:
    run = dag.test(logical_date=logical, run_after=logical, run_conf=conf)
else:
    run = dag.test(run_conf={"spec_path": spec_path})
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print("RESULT " + json.dumps({"state": str(run.state), "run_id": run.run_id, "tasks": states, "approval": answered,
                              "triggered": triggered, "report_page": report_page(run.run_id) if triggered else None}))
