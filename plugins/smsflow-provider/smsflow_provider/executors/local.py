"""The LocalExecutor without Airflow 3.3.2's stale-success race after a pause (apache/airflow #71580, #72716).

A task that pauses (defers, or waits for a human) ends its worker process; the executor then reports that
exit as `success`. If the pause ends within a second or two (an approval answered at once through the REST
API or the run page, a trigger that fires at once), the scheduler may already have queued or started the
resumed task when it reads that report: `process_executor_events` sees "success" for a task instance that is
`queued` or `running` with the same try number, logs "state mismatch" and fails it. 3.3.2 only excuses the
`scheduled` case (#66431); `queued` (#68741) and `running` (#71579, #72767) are fixed upstream, unreleased.

`SettledLocalExecutor` applies that fix where the event enters the scheduler: a `success` whose task instance
is, at the same try, `scheduled`, `queued` or `running` with `next_method` set (the mark of a resumed pause)
is the pause's own exit, and is dropped. The resumed attempt reports its own outcome when it ends; a killed
resumed attempt is reported as failed, or found by the scheduler's heartbeat check, as before.
"""

from __future__ import annotations

from airflow.executors.local_executor import LocalExecutor
from airflow.models.taskinstancekey import TaskInstanceKey
from airflow.utils.state import TaskInstanceState

RESUMED = (TaskInstanceState.SCHEDULED, TaskInstanceState.QUEUED, TaskInstanceState.RUNNING)


def stale_pause_exits(keys: list[TaskInstanceKey]) -> set[TaskInstanceKey]:
    """Of these `success` reports, those that belong to a pause whose task instance has already resumed."""
    from sqlalchemy import select

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    where = TaskInstance.filter_for_tis(keys)
    if where is None:
        return set()
    wanted = set(keys)
    with create_session() as session:
        rows = session.execute(select(TaskInstance.dag_id, TaskInstance.task_id, TaskInstance.run_id,
                                      TaskInstance.try_number, TaskInstance.map_index, TaskInstance.state,
                                      TaskInstance.next_method).where(where)).all()
    return {key for *fields, state, next_method in rows
            if (key := TaskInstanceKey(*fields)) in wanted and state in RESUMED and next_method is not None}


class SettledEventsMixin:
    """Drop an executor's stale `success` for a paused task that has already resumed (see the module)."""

    def get_event_buffer(self, dag_ids=None):
        events = super().get_event_buffer(dag_ids)
        finished = [key for key, (state, _) in events.items()
                    if isinstance(key, TaskInstanceKey) and state == TaskInstanceState.SUCCESS]
        for key in stale_pause_exits(finished) if finished else ():
            self.log.info("Ignoring the executor's success for %s: it is the exit of its pause, and the task "
                          "has resumed since (apache/airflow #71580, #72716)", key)
            events.pop(key)
        return events


class SettledLocalExecutor(SettledEventsMixin, LocalExecutor):
    """LocalExecutor for `airflow standalone` (`make demo`, `make airflow`) with the stale-success fix."""

    def start(self) -> None:
        """Import the campaign library once, before the workers are forked (each task is then forked from a
        worker): every task of a campaign starts with Polars, DuckDB, the store and Great Expectations in memory
        instead of importing them again (0.5-3 s a task on a 2-core machine, most of a small campaign's run)."""
        preload()
        super().start()


# What a campaign's tasks import (dags/sms_campaign.py), in the order they need it. SMSFLOW_PRELOAD overrides it
# (blank: none). Importing them starts a few idle native threads (jemalloc's and Polars' housekeeping, DuckDB's,
# NumPy's) that a fork leaves behind; the compute pools of Polars and DuckDB start on first use, in the task
# itself (tests/plugins/test_executor.py forks a task after the preload and runs both).
PRELOAD = ("pipelines.campaign", "pipelines.contracts", "pipelines.dlr", "pipelines.dispatch",
           "smsflow_provider.operators.campaign", "smsflow_provider.operators.approval",
           "smsflow_provider.hooks.smpp", "great_expectations")


def preload() -> list[str]:
    """Import PRELOAD (or $SMSFLOW_PRELOAD); a module that fails to import is logged and left to the task."""
    import importlib
    import logging
    import os

    names = os.environ.get("SMSFLOW_PRELOAD")
    loaded = []
    for name in PRELOAD if names is None else names.split():
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - the task that needs it will say why, in its own log
            logging.getLogger(__name__).warning("smsflow: not preloaded %s: %s", name, error)
            continue
        loaded.append(name)
    return loaded
