"""The campaign's approval (SEND-4): Airflow's HITL ApprovalOperator, waiting through a polling trigger.

On Airflow 3.3 the ApprovalOperator parks the task in `awaiting_input` and relies on the answer's REST call to
wake it. On SQLite (`airflow standalone`, `make demo`) nothing orders that call against the park: an answer
given while the task is parking is stored, the task is parked anyway, and waits until its timeout (seen:
approve stuck in `awaiting_input` after a 200 answer). Deferred to the provider's HITLTrigger instead, the
task is woken by the answer's REST call when it is deferred, and by the trigger, which reads the stored answer,
when the answer came earlier. The resume that follows at once is made safe by `SettledLocalExecutor`
(apache/airflow #71580, #72716).
"""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.providers.standard.triggers.hitl import HITLTrigger
from airflow.sdk.execution_time.hitl import upsert_hitl_detail
from airflow.sdk.timezone import utcnow


def in_process() -> bool:
    """True under `dag.test()`, whose in-process supervisor answers no HITL reads from a trigger."""
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms

    return isinstance(getattr(task_runner, "SUPERVISOR_COMMS", None), InProcessSupervisorComms)


class CampaignApprovalOperator(ApprovalOperator):
    """Approve or Reject on the run page (or `PATCH …/hitlDetails`); the answer is never lost to a race."""

    def __init__(self, *, poke_interval: float = 2.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.poke_interval = poke_interval

    def execute(self, context):
        if in_process():  # dag.test(): it waits for `awaiting_input` itself, and cannot run this trigger in 3.3.2
            return super().execute(context)
        ti_id = context["task_instance"].id
        upsert_hitl_detail(ti_id=ti_id, options=self.options, subject=self.subject, body=self.body,
                           defaults=self.defaults, multiple=self.multiple, params=self.serialized_params,
                           assigned_users=self.assigned_users)
        timeout = utcnow() + self.response_timeout if self.response_timeout else None
        self.hitl_summary_extra["timeout_datetime"] = timeout.isoformat() if timeout else None
        self.log.info("Waiting for the approval (run page: Approve / Reject)")
        for notifier in self.notifiers:
            notifier(context)
        self.defer(trigger=HITLTrigger(ti_id=ti_id, options=self.options, defaults=self.defaults,
                                       params=self.serialized_params, multiple=self.multiple,
                                       timeout_datetime=timeout, poke_interval=self.poke_interval),
                   method_name="execute_complete")
