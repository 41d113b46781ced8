"""The extranet's side of Airflow's REST API (issue 14): trigger a campaign's run, read where it is, answer its
approval (SEND-3/4), as the console's Airflow user, through `pipelines.airflow_rest` (plain HTTP, no Airflow import).

Every call here blocks: endpoints run them with `run_in_threadpool`. A refusal or an unreachable Airflow is an
`AirflowUnavailable` whose message is said to the person as is (French): the HTTP status only, never Airflow's
own answer, which goes to the log.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from urllib.parse import quote

from pipelines.airflow_rest import AirflowApi

DAG_ID = "sms_campaign"
APPROVAL_TASK = "approve"  # dags/sms_campaign.py: the CampaignApprovalOperator's task id
APPROVE, REJECT = "Approve", "Reject"  # Airflow's ApprovalOperator options (HITL), as the run page shows them
_TOKENS: dict[tuple[str, str], str] = {}  # (url, user) → JWT, shared by the console's threads
_LOCK = threading.Lock()
LOG = logging.getLogger(__name__)


class AirflowUnavailable(RuntimeError):
    """Airflow is not configured, unreachable, or refused a call: the message is for the person."""


@dataclass(frozen=True)
class RunView:
    """A run as the panel reads it: its state, each task's state, and the approval waiting for an answer."""

    run_id: str
    state: str  # queued | running | success | failed
    tasks: dict[str, str] = field(default_factory=dict)  # task id → state (a mapped task: its worst map index)
    pending: dict | None = None  # the HITL detail waiting for an answer (subject, body, options, task_instance)
    note: str | None = None
    answered: dict | None = None  # the HITL detail once answered (chosen_options, responded_by_user, responded_at)


def configured(settings) -> bool:
    return bool(settings.airflow_url)


def run_path(run_id: str) -> str:
    """The run's REST path; a run id (`manual__2026-…+00:00`) quoted whole."""
    return f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"


class Airflow:
    """The console's Airflow user on `settings.airflow_url`; logs in once, again when the token expires."""

    def __init__(self, settings):
        if not configured(settings):
            raise AirflowUnavailable("Airflow n'est pas configuré pour cette console (SMSFLOW_AIRFLOW_URL) : "
                                     "la campagne ne peut pas être envoyée d'ici.")
        self.key = (settings.airflow_url.rstrip("/"), settings.airflow_user or "")
        self.password = settings.airflow_password or ""
        self.api = AirflowApi(self.key[0])

    def _login(self) -> None:
        try:
            self.api.login(self.key[1], self.password)
        except (OSError, RuntimeError) as error:
            LOG.warning("Airflow login as %r on %s failed: %s", self.key[1], self.key[0], error)
            raise AirflowUnavailable("Connexion à Airflow impossible : l'identifiant de la console est refusé ou "
                                     "Airflow ne répond pas.") from None
        with _LOCK:
            _TOKENS[self.key] = self.api.token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        """One REST call; a 401 (expired token) logs in again and retries once."""
        with _LOCK:
            self.api.token = _TOKENS.get(self.key)
        if self.api.token is None:
            self._login()
        for attempt in (1, 2):
            try:
                status, answer = self.api.call(method, path, body)
            except OSError as error:
                LOG.warning("Airflow on %s unreachable (%s %s): %s", self.key[0], method, path, error)
                raise AirflowUnavailable("Airflow ne répond pas : réessayez dans quelques minutes.") from None
            if status != 401 or attempt == 2:
                return status, answer
            self._login()
        raise AssertionError("unreachable")

    def trigger(self, campaign_id: str) -> str:
        """CAMP-3: one run of the campaign DAG for a saved campaign; returns its run id."""
        status, run = self.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns",
                                {"logical_date": None, "conf": {"campaign_id": campaign_id}})
        if status not in (200, 201) or not isinstance(run, dict):
            LOG.warning("Airflow refused to trigger campaign %s (HTTP %s): %r", campaign_id, status, run)
            raise AirflowUnavailable(f"Airflow a refusé de lancer la campagne (erreur HTTP {status}).")
        return run["dag_run_id"]

    def run(self, run_id: str) -> RunView:
        """The run's state, its tasks' states and its pending approval, in three reads."""
        status, run = self.call("GET", run_path(run_id))
        if status != 200 or not isinstance(run, dict):
            LOG.warning("Airflow did not give run %s (HTTP %s): %r", run_id, status, run)
            raise AirflowUnavailable(f"Airflow ne connaît pas l'exécution {run_id} (erreur HTTP {status}).")
        _, answer = self.call("GET", f"{run_path(run_id)}/taskInstances?limit=100")
        tasks: dict[str, str] = {}
        for instance in (answer or {}).get("task_instances", []) if isinstance(answer, dict) else []:
            tasks.setdefault(instance["task_id"], instance.get("state") or "none")
            if instance.get("state") in ("running", "deferred", "awaiting_input", "failed"):
                tasks[instance["task_id"]] = instance["state"]
        pending, answered = self.approvals(run_id)
        return RunView(run_id, run.get("state") or "queued", tasks, pending, run.get("note"), answered)

    def approvals(self, run_id: str) -> tuple[dict | None, dict | None]:
        """The run's approval (its HITL detail) still waiting for an answer, and the one answered; None each."""
        status, details = self.call("GET", f"{run_path(run_id)}/hitlDetails")
        if status != 200 or not isinstance(details, dict):
            return None, None
        mine = [detail for detail in details.get("hitl_details", [])
                if (detail.get("task_instance") or {}).get("task_id") == APPROVAL_TASK]
        waiting = [detail for detail in mine if detail.get("responded_at") is None]
        answered = [detail for detail in mine if detail.get("responded_at") is not None]
        return (waiting[0] if waiting else None), (answered[-1] if answered else None)

    def pending_approval(self, run_id: str) -> dict | None:
        """The run's approval still waiting for an answer (its HITL detail), or None."""
        return self.approvals(run_id)[0]

    def answer(self, run_id: str, detail: dict, option: str) -> dict:
        """SEND-3/4: the person's answer to the approval (Approve: the real send starts; Reject: cancelled)."""
        if option not in (APPROVE, REJECT):
            raise ValueError(f"option {option!r} is not {APPROVE} or {REJECT}")
        instance = detail["task_instance"]
        status, answer = self.call(
            "PATCH", f"{run_path(run_id)}/taskInstances/{quote(instance['task_id'], safe='')}/"
                     f"{int(instance.get('map_index', -1))}/hitlDetails", {"chosen_options": [option]})
        if status != 200:
            LOG.warning("Airflow refused the answer %s to run %s (HTTP %s): %r", option, run_id, status, answer)
            raise AirflowUnavailable(f"Airflow a refusé la réponse (erreur HTTP {status}).")
        return answer if isinstance(answer, dict) else {}
