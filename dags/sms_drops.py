"""
### CRM drops start campaigns (issue 13, DROP-1..3)

A CRM export dropped in the bucket under a drop rule's prefix (`smsflow drops add incoming/vip/ --spec
specs/vip.yaml [--mode auto]`) starts one `sms_campaign` run, with that file as the template's list. The CRM
writes the export, then an empty marker beside it: `incoming/vip/export.csv`, then `incoming/vip/export.csv.done`
(the file is whole once its marker is there; a file without a marker is never read).

**How a drop is seen (local bucket)**: this DAG is scheduled on one Asset per watched export
(`file://<bucket>/incoming/vip/export.csv`), each with an `AssetWatcher` whose trigger is the standard provider's
**`FileDeleteTrigger`** on the export's marker: the triggerer sees the marker, deletes it and fires the Asset's
event, which starts a run. Why that one: in Airflow 3.3's standard provider it is the file trigger that is a
`BaseEventTrigger` (what an `AssetWatcher` takes; `FileTrigger` is not one), and deleting the marker makes each
drop fire once (`DirectoryFileDeleteTrigger`, new beside it, shares one folder scan between many watched names but
is no freer). It watches one fixed path, not a pattern, so the watched exports are named at parse time:
`SMSFLOW_DROP_WATCH` (comma-separated, relative to the bucket; default `incoming/export.csv`). Every other marked
file under the rules' prefixes and `incoming/` is taken by the same run (the sweep), or by a run triggered by
hand (with `{"files": ["incoming/vip/other.csv"]}` to name some).

**What a run does**: `pipelines.drops.start_drops` checks each drop before anything else (size, encoding, a mobile
column, invalid-number share: a Great Expectations contract), dedupes it by content hash (the same bytes start one
campaign), and ends it in `processed/<date>/` (accepted) or `quarantine/<date>/` with `<name>.reason.json`; then
`start_campaign` triggers `sms_campaign` once per accepted drop, run id `drop__<hash>` (a retry starts nothing
twice), conf `{"spec_path": "processed/<date>/<name>.spec.yaml"}`. In `approve` mode that run plans and waits for
a person's approval as any campaign; in `auto` mode it sends under `approval: auto`.

**S3 (later step, not built)**: bucket notifications (`s3:ObjectCreated:*` on `<prefix>*.done`) to an SQS queue,
watched by the common-messaging provider's `MessageQueueTrigger` (an `AssetWatcher` on an Asset such as
`sqs://…/smsflow-drops`). It needs: the `apache-airflow-providers-common-messaging` and `-amazon` providers (SQS),
an `aws_default` connection, the queue and the bucket's notification configuration (made by the stack's init:
moto_server serves both and emits S3 events to SQS), and this task reading the object keys from the events'
payloads (each message's `Records[].s3.object.key`, the marker's: its export is the key without `.done`) instead
of fixed paths: any export name, any prefix, no sweep needed. `pipelines.drops` already takes s3:// files.

Thin by design (STYLE.md): only `airflow.sdk`, `pendulum` and the standard library at the top; the watcher's
trigger is imported where the Assets are made, since the schedule needs it at parse time.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import Asset, AssetAny, AssetWatcher, dag, get_current_context, task

BUCKET_ENV, WATCH_ENV = "SMSFLOW_BUCKET", "SMSFLOW_DROP_WATCH"
DEFAULT_WATCH = "incoming/export.csv"
MARKER = ".done"  # pipelines.drops.MARKER (kept equal by a test)
POKE_SECONDS = 5.0


def bucket_root() -> str:
    """The bucket: SMSFLOW_BUCKET (a folder, or s3://bucket/prefix), else the checkout's bucket/ folder."""
    given = os.environ.get(BUCKET_ENV) or str(Path(__file__).resolve().parents[1] / "bucket")
    return given if given.startswith("s3://") else str(Path(given).resolve())


def watched_drops() -> list[Asset]:
    """One Asset per watched export, its watcher the standard provider's FileDeleteTrigger on the export's marker
    (the schedule needs them when the DAG is parsed: only environment variables are read, never a connection)."""
    from airflow.providers.standard.triggers.file import FileDeleteTrigger

    if bucket_root().startswith("s3://"):
        return []  # an S3 bucket is watched through SQS (the later step above): runs by hand or conf until then
    bucket = Path(bucket_root())
    names = [name.strip().strip("/") for name in os.environ.get(WATCH_ENV, DEFAULT_WATCH).split(",") if name.strip()]
    return [Asset(name=f"smsflow_drop:{name}", uri=f"file://{bucket / name}",
                  watchers=[AssetWatcher(name=f"smsflow_drop_marker:{name}",
                                         trigger=FileDeleteTrigger(filepath=f"{bucket / name}{MARKER}",
                                                                   poke_interval=POKE_SECONDS))])
            for name in names]


DROPS = watched_drops()


@dag(schedule=AssetAny(*DROPS) if DROPS else None, start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Paris"),
     catchup=False, max_active_runs=1,  # one sweep at a time: two runs never take the same file
     tags=["smsflow", "DROP-1"], doc_md=__doc__,
     description="CRM exports dropped in the bucket: checked, then each starts one sms_campaign run, or is "
                 "quarantined with its reason (DROP-1..3)")
def sms_drops():
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    @task
    def check_drops() -> list[dict]:
        """The drops the Asset events (or the run's conf `files`) name, then every other marked drop: each checked,
        then in processed/ or quarantine/ (its reason.json beside it). Returns the campaign runs to start."""
        from smsflow_provider.hooks.store import use_airflow_store

        from pipelines.drops import start_drops

        use_airflow_store()  # the account store: $SMSFLOW_DB, else the connection smsflow_db, else the bucket's
        context = get_current_context()
        files = [asset.uri for asset in context.get("triggering_asset_events") or {}]
        files += list((context["dag_run"].conf or {}).get("files") or [])
        started = start_drops(bucket_root(), files)
        for refused in started["quarantined"]:
            print(f"Quarantined {refused['source']} as {refused['target']}: {refused['check']}: {refused['reason']}")
        for accepted in started["accepted"]:
            print(f"Accepted: run {accepted['trigger_run_id']} of sms_campaign with {accepted['conf']}")
        return started["accepted"]

    checked = check_drops()
    # One sms_campaign run per accepted drop; its run id is the drop's (content hash): never started twice.
    TriggerDagRunOperator.partial(task_id="start_campaign", trigger_dag_id="sms_campaign",
                                  skip_when_already_exists=True, wait_for_completion=False,
                                  ).expand_kwargs(checked)


sms_drops()
