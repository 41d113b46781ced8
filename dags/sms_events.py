"""
### Late receipts and replies into the warehouse (issue 11, PLUS-4)

Receipts and replies that reach smsflow after a campaign's run stopped listening (minutes or days later) are
recorded by the long-lived receiver, `smsflow receive bucket/events --announce`, in Parquet micro-batches; every
few seconds it announces the new ones as an event of the Asset **smsflow://events** (extra:
`{"files": ["events/….parquet"]}`, relative to the bucket) through Airflow's REST API. Each event runs this DAG:
the campaigns the batches belong to (by the SMSC message ids on their send ledgers, and by the last campaign sent
to a replying number) have their receipts, replies and statuses re-loaded into the warehouse, and a finished
campaign's report (REP-2 CSV) and figures (REP-1) are written again. A STOP reply goes through the account's
opt-out path as in every other load (BL-2).

`make airflow` starts that receiver with the SMSC simulator and stops it with it. By hand: trigger with
`{"files": ["events/receiver-….parquet"]}` to load given batches, or with no conf to load the whole shared folder
again (idempotent).

With the bucket on S3 (SMSFLOW_BUCKET=s3://…, issue 13) the task works in its worker's working copy of the bucket
(SMSFLOW_WORKDIR): events/ and the folders of the campaigns they concern pulled from S3 before the load, those
folders (the reports written again) pushed after, so any worker loads what the receiver uploaded.

Thin by design (STYLE.md): one task, `pipelines.events_s3.load_announced` (`pipelines.events.load_event_batches` on
an up-to-date working copy), in the `duckdb` pool (one writer).
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task

EVENTS = Asset(name="smsflow_events", uri="smsflow://events")  # pipelines.events.ASSET_URI (kept equal by a test)


def bucket_root() -> Path:
    """The bucket folder (SMSFLOW_BUCKET, else the checkout's bucket/; an s3:// bucket's working copy), read at run
    time; the account store is $SMSFLOW_DB, else the Airflow connection `smsflow_db`, else <bucket>/smsflow.db."""
    from smsflow_provider.hooks.store import use_airflow_store

    from pipelines.events_s3 import bucket_folder

    use_airflow_store()
    return bucket_folder(os.environ.get("SMSFLOW_BUCKET") or Path(__file__).resolve().parents[1] / "bucket")


@dag(schedule=[EVENTS], start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Paris"), catchup=False,
     tags=["smsflow", "PLUS-4"], doc_md=__doc__,
     description="Late receipts and replies (announced by smsflow receive --announce) into the warehouse and the "
                 "finished campaigns' reports (PLUS-4, REP-1, REP-2)")
def sms_events():
    @task(pool="duckdb")
    def load() -> dict:
        """The batches of the Asset events that started this run (or of the run's conf `files`), loaded."""
        from pipelines.events_s3 import load_announced

        context = get_current_context()
        bucket = bucket_root()
        names = [str(name) for events in (context.get("triggering_asset_events") or {}).values()
                 for event in events for name in (event.extra or {}).get("files") or []]
        names += list((context["dag_run"].conf or {}).get("files") or [])
        # S3: events/ and the campaigns they concern pulled, those campaigns pushed after
        loaded, files = load_announced(bucket, [name for name in names if name])
        return {"events": loaded.events, "campaigns": list(loaded.campaigns), "files": len(files or [])}

    load()


sms_events()
