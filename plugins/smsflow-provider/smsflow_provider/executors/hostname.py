"""The host name a task instance records: $SMSFLOW_HOSTNAME when set (the stack's two Celery workers on one
machine, `worker-1` and `worker-2`), else the machine's fully qualified name as Airflow's default gives it.

Set as `AIRFLOW__CORE__HOSTNAME_CALLABLE` by the stack (pipelines/stack/services.py) and docker-compose.yml, so a
task instance says which worker ran it (the REST API's `hostname`), on one machine as on several.
"""

from __future__ import annotations

import os
import socket

HOSTNAME_ENV = "SMSFLOW_HOSTNAME"


def worker_hostname() -> str:
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()
