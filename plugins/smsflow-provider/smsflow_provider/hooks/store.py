"""The account store's location from Airflow (issue 9): `$SMSFLOW_DB` when set, else the Airflow connection
`smsflow_db` (any SQLAlchemy URL: `postgresql://user:pass@host/db`, `sqlite:////data/smsflow.db`), else the
bucket's SQLite file. Every task of a run must open the same store, so the DAG applies this once per task."""

from __future__ import annotations

import os

STORE_CONN_ID = "smsflow_db"


def store_url_from_airflow(conn_id: str = STORE_CONN_ID) -> str | None:
    """The store URL Airflow holds (`conn_id`'s URI), or None when there is no such connection."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    return connection.get_uri()


def use_airflow_store(conn_id: str = STORE_CONN_ID) -> str | None:
    """Point this task's `pipelines.store.open_store` at the Airflow connection's store, unless `$SMSFLOW_DB`
    already names one; returns the URL now in use (None: the bucket's SQLite file)."""
    if not os.environ.get("SMSFLOW_DB"):
        url = store_url_from_airflow(conn_id)
        if url:
            os.environ["SMSFLOW_DB"] = url
    return os.environ.get("SMSFLOW_DB")
