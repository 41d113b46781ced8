"""The CeleryExecutor of the production stack without Airflow 3.3.2's stale-success race after a pause.

The same race as `smsflow_provider.executors.local` describes (apache/airflow #71580, #72716), fixed the same
way: a worker's `success` for a paused task that has already resumed is dropped where it enters the scheduler.
"""

from __future__ import annotations

from airflow.providers.celery.executors.celery_executor import CeleryExecutor

from smsflow_provider.executors.local import SettledEventsMixin


class SettledCeleryExecutor(SettledEventsMixin, CeleryExecutor):
    """CeleryExecutor for docker-compose.yml (`AIRFLOW__CORE__EXECUTOR`) with the stale-success fix."""
