"""AirflowApiHook: a task writes its run's note (CAMP-3) through Airflow's own REST API.

    AIRFLOW_CONN_AIRFLOW_API='http://user:password@127.0.0.1:8080'

Airflow 3 gives tasks no way to annotate their run (the Execution API has no note), so the note goes through
`PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}` as the connection's user. Without the connection, no note.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.bases.hook import BaseHook

NOTE_LIMIT = 1000  # DAGRunPatchBody.note's max_length in Airflow 3.3


class AirflowApiHook(BaseHook):
    """Airflow's public REST API, logged in as the connection's user."""

    conn_name_attr = "airflow_api_conn_id"
    default_conn_name = "airflow_api"
    conn_type = "http"
    hook_name = "Airflow REST API"

    def __init__(self, airflow_api_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.airflow_api_conn_id = airflow_api_conn_id

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, object] | None:
        """One REST call as the connection's user; None (logged) without the connection or the server."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        from pipelines.airflow_rest import AirflowApi

        try:
            connection = self.get_connection(self.airflow_api_conn_id)
        except AirflowNotFoundException:
            self.log.warning("No `%s` connection: %s %s not sent", self.airflow_api_conn_id, method, path)
            return None
        api = AirflowApi(f"http://{connection.host or '127.0.0.1'}:{connection.port or 8080}")
        try:
            api.login(connection.login or "", connection.password or "")
            return api.call(method, path, body)
        except (OSError, RuntimeError) as error:
            self.log.warning("%s %s failed: %s", method, path, error)
            return None

    @staticmethod
    def run_path(dag_id: str, run_id: str) -> str:
        from urllib.parse import quote

        return f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"

    def set_run_note(self, dag_id: str, run_id: str, note: str) -> bool:
        """Write the run's note; False (logged) when there is no connection or the API refuses."""
        answer = self.call("PATCH", self.run_path(dag_id, run_id), {"note": note[:NOTE_LIMIT]})
        if answer is None or answer[0] != 200:
            self.log.warning("The run's note was not written (%s): %s", answer, note)
            return False
        return True

    def approval(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict | None:
        """The task's Human-in-the-loop request and its answer (responded_by_user, responded_at, …)."""
        answer = self.call("GET", f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/{map_index}/hitlDetails")
        return answer[1] if answer and answer[0] == 200 and isinstance(answer[1], dict) else None
