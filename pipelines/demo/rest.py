"""The demo's conversation with Airflow's REST API (trigger, approve, wait) over `pipelines.airflow_rest`: the demo
drives Airflow from outside, so nothing here imports Airflow."""

from __future__ import annotations

import time

from pipelines.airflow_rest import AirflowApi  # noqa: F401 - re-exported for the demo drivers

def wait_for_dag(api: AirflowApi, dag_id: str = "sms_campaign", timeout: float = 120) -> None:
    """Until the DAG processor has parsed the DAG (its first parse after a start)."""
    deadline = time.monotonic() + timeout
    while api.call("GET", f"/api/v2/dags/{dag_id}")[0] != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"DAG {dag_id} not parsed within {timeout:.0f} s")
        time.sleep(1)


def trigger_campaign(api: AirflowApi, spec_path: str) -> str:
    """Trigger one campaign run with a spec from the bucket; returns the run id."""
    status, run = api.call("POST", "/api/v2/dags/sms_campaign/dagRuns",
                           {"logical_date": None, "conf": {"spec_path": spec_path}})
    if status not in (200, 201):
        raise RuntimeError(f"trigger refused ({status}): {run}")
    return run["dag_run_id"]


def run_state(api: AirflowApi, run_id: str) -> dict:
    return api.call("GET", f"/api/v2/dags/sms_campaign/dagRuns/{run_id}")[1]


def answer_approval(api: AirflowApi, run_id: str, option: str, timeout: float = 600,
                    poll: float = 0.05) -> tuple[int, dict] | None:
    """Answer the run's approval the instant it is asked, as a script (or a quick person) would.

    Returns the answer's HTTP status and the request answered, or None when the run ended first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, details = api.call("GET", f"/api/v2/dags/sms_campaign/dagRuns/{run_id}/hitlDetails")
        pending = [d for d in (details or {}).get("hitl_details", []) if d.get("responded_at") is None] \
            if status == 200 else []
        if pending:
            ti = pending[0]["task_instance"]
            status, _ = api.call("PATCH", f"/api/v2/dags/sms_campaign/dagRuns/{run_id}/taskInstances/"
                                          f"{ti['task_id']}/{ti['map_index']}/hitlDetails",
                                 {"chosen_options": [option]})
            return status, pending[0]
        if run_state(api, run_id).get("state") in ("success", "failed"):
            return None
        time.sleep(poll)
    raise RuntimeError(f"run {run_id} asked for no approval within {timeout:.0f} s")


def wait_for_run(api: AirflowApi, run_id: str, timeout: float = 600) -> dict:
    """Until the run ends; returns the run (state, note, …)."""
    deadline = time.monotonic() + timeout
    while (run := run_state(api, run_id)).get("state") not in ("success", "failed"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} did not finish within {timeout:.0f} s (state {run.get('state')})")
        time.sleep(1)
    return run


def failed_tasks(api: AirflowApi, run_id: str) -> list[str]:
    """The run's tasks that did not end in success or skipped, with their state."""
    _, instances = api.call("GET", f"/api/v2/dags/sms_campaign/dagRuns/{run_id}/taskInstances")
    return [f"{instance['task_id']}: {instance.get('state')}" for instance in (instances or {}).get("task_instances", [])
            if instance.get("state") not in ("success", "skipped")]
