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

**How a drop is seen (S3 bucket)**: when `SMSFLOW_DROP_QUEUE` (an SQS queue's URL) is set, the DAG is scheduled
on one Asset, the queue (`sqs://<host>/<account>/<name>`), whose `AssetWatcher` is the common-messaging provider's
**`MessageQueueTrigger`** (`scheme="sqs"`: the Amazon provider's `SqsSensorTrigger` under it, which reads and
deletes up to 10 messages a poll). The bucket sends it `s3:ObjectCreated:*` for `incoming/` and the rules'
prefixes (`smsflow drops watch-s3`, or `pipelines.drops.watch_drops`, made the queue and the notifications). Why
that one: it is Airflow's event-driven watcher for a message queue (no task polls the bucket, the triggerer waits
on SQS), and the same DAG would take Kafka or Redis by a change of scheme. On S3 an object is whole once listed, so
no marker is needed. The SQS connection is `aws_default` if defined (its extras may name `endpoint_url`), else
the AWS_* settings (`AWS_ENDPOINT_URL` for moto); never a spec. Each event only wakes the run: the run sweeps
every drop under the prefixes, so a lost message is caught by the next sweep and a repeated one finds its drop
gone or a duplicate by content (DROP-2); the objects the messages named are logged. A sweep also runs each hour
(`AssetOrTimeSchedule`): a message read and deleted by a triggerer that stopped before the Asset event was saved
delays its drop an hour, never loses it.
`SMSFLOW_BUCKET=s3://…` without `SMSFLOW_DROP_QUEUE`: no watcher, runs by hand (conf `files`) or a schedule set
elsewhere.

Thin by design (STYLE.md): only `airflow.sdk`, `pendulum` and the standard library at the top; the watcher's
trigger is imported where the Assets are made, since the schedule needs it at parse time.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import Asset, AssetAny, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable, dag, \
    get_current_context, task

BUCKET_ENV, WATCH_ENV, QUEUE_ENV = "SMSFLOW_BUCKET", "SMSFLOW_DROP_WATCH", "SMSFLOW_DROP_QUEUE"
DEFAULT_WATCH = "incoming/export.csv"
MARKER = ".done"  # pipelines.drops.MARKER (kept equal by a test)
POKE_SECONDS = 5.0
AWS_CONNECTION = "aws_default"  # absent: the AWS_* settings (the Amazon provider's fallback)
SAFETY_SWEEP = "17 * * * *"  # with SQS: a sweep each hour besides the messages' (drops_schedule)


def bucket_root() -> str:
    """The bucket: SMSFLOW_BUCKET (a folder, or s3://bucket/prefix), else the checkout's bucket/ folder."""
    given = os.environ.get(BUCKET_ENV) or str(Path(__file__).resolve().parents[1] / "bucket")
    return given if given.startswith("s3://") else str(Path(given).resolve())


def queued_drops(queue_url: str) -> list[Asset]:
    """The drop queue as one Asset, its watcher common-messaging's MessageQueueTrigger on SQS (the Amazon
    provider's SqsSensorTrigger: it deletes the messages it reads)."""
    from urllib.parse import urlsplit

    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    where = urlsplit(queue_url)
    if where.scheme not in ("http", "https") or not where.netloc or not where.path.strip("/"):
        raise ValueError(f"{QUEUE_ENV}={queue_url!r} is not an SQS queue's URL (https://sqs.<region>.amazonaws.com/"
                         f"<account>/<name>; smsflow drops watch-s3 prints it) [DROP-1]")
    name = where.path.rstrip("/").rsplit("/", 1)[-1]
    return [Asset(name=f"smsflow_drop_queue:{name}", uri=f"sqs://{where.netloc}{where.path.rstrip('/')}",
                  watchers=[AssetWatcher(name=f"smsflow_drop_sqs:{name}",
                                         trigger=MessageQueueTrigger(scheme="sqs", sqs_queue=queue_url,
                                                                     aws_conn_id=AWS_CONNECTION, max_messages=10,
                                                                     wait_time_seconds=10,
                                                                     waiter_delay=int(POKE_SECONDS)))])]


def watched_drops() -> list[Asset]:
    """The Assets the DAG is scheduled on (read when the DAG is parsed: only environment variables, never a
    connection): the SQS queue when SMSFLOW_DROP_QUEUE is set; else, on a folder, one Asset per watched export, its
    watcher the standard provider's FileDeleteTrigger on the export's marker."""
    from airflow.providers.standard.triggers.file import FileDeleteTrigger

    if os.environ.get(QUEUE_ENV, "").strip():
        return queued_drops(os.environ[QUEUE_ENV].strip())
    if bucket_root().startswith("s3://"):
        return []  # an S3 bucket without its queue: runs by hand (conf files), see the docstring
    bucket = Path(bucket_root())
    names = [name.strip().strip("/") for name in os.environ.get(WATCH_ENV, DEFAULT_WATCH).split(",") if name.strip()]
    return [Asset(name=f"smsflow_drop:{name}", uri=f"file://{bucket / name}",
                  watchers=[AssetWatcher(name=f"smsflow_drop_marker:{name}",
                                         trigger=FileDeleteTrigger(filepath=f"{bucket / name}{MARKER}",
                                                                   poke_interval=POKE_SECONDS))])
            for name in names]


def drops_schedule(drops: list[Asset]):
    """The watched Assets; with the SQS queue, also an hourly sweep: a message lost between SQS and the Asset event
    (read, deleted, the triggerer stopped) delays its drop an hour at most, never loses it (DROP-3)."""
    if not drops:
        return None
    if not os.environ.get(QUEUE_ENV, "").strip():
        return AssetAny(*drops)
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(SAFETY_SWEEP, timezone="UTC"), assets=AssetAny(*drops))


DROPS = watched_drops()


# With the hourly sweep, no start date: its first run waits for the next hour (with one, the scheduler would
# start the past hour's at once).
@dag(schedule=drops_schedule(DROPS),
     start_date=None if os.environ.get(QUEUE_ENV, "").strip() else pendulum.datetime(2026, 1, 1, tz="Europe/Paris"),
     catchup=False, max_active_runs=1,  # one sweep at a time: two runs never take the same file
     tags=["smsflow", "DROP-1"], doc_md=__doc__,
     description="CRM exports dropped in the bucket: checked, then each starts one sms_campaign run, or is "
                 "quarantined with its reason (DROP-1..3)")
def sms_drops():
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    @task
    def check_drops() -> list[dict]:
        """The drops the Asset events (or the run's conf `files`) name, then every other drop waiting: each checked,
        then in processed/ or quarantine/ (its reason.json beside it). Returns the campaign runs to start."""
        from smsflow_provider.hooks.store import use_airflow_store

        from pipelines.drops import announced_objects, start_drops

        use_airflow_store()  # the account store: $SMSFLOW_DB, else the connection smsflow_db, else the bucket's
        context = get_current_context()
        events = context.get("triggering_asset_events") or {}
        files = [uri for asset in events if (uri := getattr(asset, "uri", "")).startswith("file://")]  # an export
        for announced in announced_objects(event.extra for each in events.values() for event in each):
            print(f"Announced by SQS: {announced} (taken by the sweep)")
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
