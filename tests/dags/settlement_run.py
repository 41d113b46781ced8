"""Run the campaign DAG once with dag.test() in a clean process, and mark the run failed through Airflow's REST API
while it waits for its approval, as a user does in the UI (SEND-8); prints a JSON summary for the test.

    python tests/dags/settlement_run.py HOME BUCKET SMSC_URL SPEC_PATH
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

home, bucket, smsc_url, spec_path = sys.argv[1:5]
os.environ.update({
    "AIRFLOW_HOME": home, "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parents[2] / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True", "AIRFLOW__API_AUTH__JWT_SECRET": "settlement-run-test",
    "SMSFLOW_BUCKET": bucket, "SMSFLOW_RECEIPT_TIMEOUT": "5", "AIRFLOW_CONN_SMSC_DEFAULT": smsc_url,
})
if not Path(home, "airflow.db").exists():
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])

marked: dict = {}


def mark_failed_while_waiting() -> None:
    """What a user does in the UI: the run waits for its approval; Mark as failed (PATCH state=failed)."""
    import airflow.models
    from fastapi.testclient import TestClient

    airflow.models.import_all_models()
    from airflow.api_fastapi.app import create_app

    client = TestClient(create_app())
    for _ in range(600):
        time.sleep(0.3)
        details = client.get("/api/v2/dags/sms_campaign/dagRuns/~/hitlDetails").json().get("hitl_details", [])
        # Still waiting (an earlier run marked failed keeps its unanswered request, its task failed).
        pending = [d for d in details if d.get("responded_at") is None
                   and d["task_instance"].get("state") == "awaiting_input"]
        if pending:
            run_id = pending[0]["task_instance"]["dag_run_id"]
            response = client.patch(f"/api/v2/dags/sms_campaign/dagRuns/{run_id}", json={"state": "failed"})
            marked.update(status=response.status_code, run_id=run_id)
            return


threading.Thread(target=mark_failed_while_waiting, daemon=True).start()

import sms_campaign  # noqa: E402  (after the environment is set)

run = sms_campaign.sms_campaign().test(run_conf={"spec_path": spec_path})
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print("RESULT " + json.dumps({"state": str(run.state), "run_id": run.run_id, "tasks": states, "marked": marked}))
