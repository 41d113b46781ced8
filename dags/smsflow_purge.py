"""PLUS-8 retention: every day, the personal data of campaigns ended before each account's retention period is
erased (numbers hashed, messages and list fields dropped), their figures kept. Thin: pipelines.erase.purge.

It runs at midnight, Paris time (the DAG's time zone, as the campaigns'). Paused when it first appears: purging
personal data is an administrator's decision. Unpause it in the UI or with `airflow dags unpause smsflow_purge`;
`smsflow purge --older-than 24m` does the same by hand."""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import dag, task


def bucket_root() -> Path:
    """The bucket's folder on this worker (SMSFLOW_BUCKET, else the checkout's bucket/; an s3:// bucket's working
    copy), read at run time; the account store is $SMSFLOW_DB, else the Airflow connection `smsflow_db`, else
    <bucket>/smsflow.db."""
    from smsflow_provider.hooks.store import use_airflow_store

    from pipelines.storage import working_root

    use_airflow_store()
    return working_root(os.environ.get("SMSFLOW_BUCKET") or Path(__file__).resolve().parents[1] / "bucket").resolve()


@dag(schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Paris"), catchup=False,
     max_active_runs=1, is_paused_upon_creation=True, tags=["smsflow", "PLUS-8"], doc_md=__doc__,
     description="Every night at midnight Paris time: erase the personal data of campaigns past their account's "
                 "retention (PLUS-8)")
def smsflow_purge():
    @task
    def purge() -> dict:
        """Purge with each account's retention_months (an account without one keeps its campaigns)."""
        from pipelines.bucket import purge_synced
        from pipelines.erase import purge as purge_campaigns
        from pipelines.store import open_store

        with purge_synced(bucket_root()) as bucket:  # on S3: the files it rewrites, pulled and pushed back
            result = purge_campaigns(open_store(bucket=bucket), bucket=bucket, by="dag smsflow_purge")
        return {"campaigns": [entry["campaign"] for entry in result["campaigns"]]}

    purge()


smsflow_purge()
