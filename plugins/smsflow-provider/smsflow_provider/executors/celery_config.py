"""The Celery settings of the stack's workers (`AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS`): Airflow's own, and a task
allowed child processes of its own.

Celery's prefork pool (billiard) runs each task in a daemonic process whose authentication key is billiard's:
Python refuses children to a daemonic process ("daemonic processes are not allowed to have children") and will not
hand billiard's key to a spawned child ("Pickling an AuthenticationString object is disallowed"), so a dispatch batch
on two SMSC binds, one process per bind (pipelines.dispatch.parallel), failed on every retry. Each pool process, as
it starts, is made an ordinary parent: not daemonic, its key the standard library's. The bind processes still end
with their batch, and a worker killed with its process group takes them along.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_process_init

CELERY_CONFIG = dict(DEFAULT_CELERY_CONFIG)


@worker_process_init.connect
def allow_children(**_) -> None:
    import multiprocessing
    from multiprocessing.process import AuthenticationString

    for process in {multiprocessing.current_process(), _billiard_process()} - {None}:
        process._config["daemon"] = False
        process._config["authkey"] = AuthenticationString(bytes(process._config["authkey"]))


def _billiard_process():
    try:
        import billiard
    except ImportError:
        return None
    return billiard.current_process()
