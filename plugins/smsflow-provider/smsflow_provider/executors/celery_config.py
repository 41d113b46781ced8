"""The Celery settings of the stack's workers (`AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS`): Airflow's own, and a task
allowed child processes of its own.

Celery's prefork pool runs each task in a daemonic process, and Python refuses children to a daemonic process
("daemonic processes are not allowed to have children"): a dispatch batch on two SMSC binds sends from one process
per bind (pipelines.dispatch.parallel) and failed on every retry. The flag is cleared in each pool process as it
starts; the bind processes still end with their batch, and a worker killed with its process group takes them along.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_process_init

CELERY_CONFIG = dict(DEFAULT_CELERY_CONFIG)


@worker_process_init.connect
def allow_children(**_) -> None:
    import multiprocessing

    multiprocessing.current_process()._config["daemon"] = False
    try:
        import billiard

        billiard.current_process()._config["daemon"] = False
    except (ImportError, AttributeError):
        pass
