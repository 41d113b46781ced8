"""DROP-1 on S3 (issue 13): with SMSFLOW_DROP_QUEUE set, sms_drops is scheduled on the SQS queue as an Asset whose
AssetWatcher is common-messaging's MessageQueueTrigger (scheme sqs: the Amazon provider's SqsSensorTrigger under
it, serialized as such for the triggerer, with the aws_default connection and the queue's URL, never an endpoint);
against a real moto_server the bucket's notification of an uploaded export reaches the queue, the trigger's run()
yields an event naming the object, and the sweep check_drops runs on it accepts the drop (one sms_campaign run).

As in test_sms_drops.py, the trigger's async run() is driven directly, and this file is that check's process
script (`python tests/dags/test_sms_drops_sqs.py BUCKET QUEUE_URL`): Airflow is imported in a process of its own,
with a throwaway AIRFLOW_HOME. Then once with a real dag-processor, triggerer and scheduler: the upload alone
starts the run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

EXPORT = "incoming/vip/export.csv"


def _drive(bucket: str, queue_url: str) -> None:
    import asyncio

    from airflow.providers.amazon.aws.triggers.sqs import SqsSensorTrigger
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
    from airflow.serialization.serialized_objects import DagSerialization

    from pipelines import storage
    from pipelines.drops import announced_objects, start_drops

    dags = Path(__file__).resolve().parents[2] / "dags"
    spec = importlib.util.spec_from_file_location("sms_drops", dags / "sms_drops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # as the DAG processor parses it
    dag = module.sms_drops()
    serialized = json.dumps(DagSerialization.to_dict(dag))  # what the scheduler and the triggerer are given
    (asset,) = module.DROPS
    (watcher,) = asset.watchers
    trigger = watcher.trigger
    classpath, kwargs = trigger.serialize()
    seen = {"dag_id": dag.dag_id, "tasks": sorted(dag.task_ids), "asset": asset.uri, "asset_name": asset.name,
            "assets": [str(item.uri) for item in dag.timetable.asset_condition.objects],
            "timetable": type(dag.timetable).__name__, "cron": getattr(dag.timetable.timetable, "expression", None),
            "trigger": type(trigger).__name__, "is_message_queue": isinstance(trigger, MessageQueueTrigger),
            "scheme": trigger.scheme, "classpath": classpath, "kwargs": kwargs,
            "runs_sqs": isinstance(trigger.trigger, SqsSensorTrigger), "serialized_has_queue": queue_url in serialized}
    if "--run" in sys.argv:
        async def first_event():
            events = trigger.run()
            try:
                return await asyncio.wait_for(anext(events), timeout=60)
            finally:
                await events.aclose()

        storage.write_bytes(storage.location(f"{bucket}{EXPORT}"),
                            "Portable;Prénom\n0612345678;Ann\n0612345679;Bob\n".encode())
        announced: list[str] = []
        while not announced:  # S3's test event, sent when the notifications were set, may come first
            event = asyncio.run(first_event())
            announced = announced_objects([{"from_trigger": True, "payload": event.payload}])  # as an Asset event
        seen.update(status=event.payload["status"], announced=announced, started=start_drops(bucket),
                    left=[str(where) for where in storage.listing(storage.location(f"{bucket}incoming/"))])
    print("RESULT " + json.dumps(seen))


def _run(tmp_path: Path, s3_server, *args: str) -> dict:
    from pipelines import storage
    from pipelines.drops import watch_drops
    from pipelines.store import open_store
    from pipelines.store.drops import add_rule

    bucket = s3_server.url("root/")
    storage.write_bytes(storage.location(f"{bucket}specs/vip.yaml"), yaml.safe_dump(
        {"name": "VIP", "type": "notification", "message": "Bonjour ${Prénom}"}, allow_unicode=True).encode())
    engine = open_store(os.environ["SMSFLOW_DB"])
    add_rule(engine, "default", "incoming/vip/", spec="specs/vip.yaml")
    queue_url = watch_drops(bucket, "sms-drops-dag-test", engine=engine)
    environment = {**os.environ, **s3_server.environment(), "SMSFLOW_BUCKET": bucket,
                   "SMSFLOW_DROP_QUEUE": queue_url, "AIRFLOW_HOME": str(tmp_path / "airflow"),
                   "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "True"}
    result = subprocess.run([sys.executable, __file__, bucket, queue_url, *args], capture_output=True, text=True,
                            timeout=300, env=environment, cwd=Path(__file__).resolve().parents[2])
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stderr[-3000:]
    return {**json.loads(lines[-1][7:]), "queue_url": queue_url, "bucket": bucket}


def test_drop1_on_s3_sms_drops_is_scheduled_on_the_sqs_queue_through_message_queue_trigger(tmp_path, s3_server):
    seen = _run(tmp_path, s3_server)
    assert (seen["dag_id"], seen["tasks"]) == ("sms_drops", ["check_drops", "start_campaign"])
    host_path = seen["queue_url"].split("://", 1)[1]
    assert seen["asset"] == f"sqs://{host_path}" and seen["assets"] == [seen["asset"]]
    assert seen["asset_name"] == "smsflow_drop_queue:sms-drops-dag-test"
    assert (seen["timetable"], seen["cron"]) == ("AssetOrTimeSchedule", "17 * * * *")  # DROP-3: a lost message
    assert (seen["trigger"], seen["is_message_queue"], seen["scheme"]) == ("MessageQueueTrigger", True, "sqs")
    assert seen["runs_sqs"] and seen["serialized_has_queue"]
    assert seen["classpath"] == "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger"
    kwargs = seen["kwargs"]
    assert (kwargs["sqs_queue"], kwargs["aws_conn_id"]) == (seen["queue_url"], "aws_default")
    assert kwargs["delete_message_on_reception"] and kwargs["max_messages"] == 10
    assert "endpoint" not in json.dumps(kwargs) and "127.0.0.1" not in json.dumps({**kwargs, "sqs_queue": ""})


def test_drop1_an_upload_to_s3_reaches_the_sqs_trigger_and_its_sweep_accepts_the_drop(tmp_path, s3_server):
    seen = _run(tmp_path, s3_server, "--run")
    assert seen["status"] == "success" and seen["announced"] == [f"{seen['bucket']}{EXPORT}"]
    (run,) = seen["started"]["accepted"]
    assert run["trigger_run_id"].startswith("drop__") and run["conf"]["spec_path"].endswith("export.csv.spec.yaml")
    assert seen["started"]["quarantined"] == [] and seen["left"] == []


def test_drop1_the_upload_alone_starts_an_sms_drops_run_through_a_real_triggerer(tmp_path, s3_server,
                                                                                   airflow_db_template):
    """A real dag-processor, triggerer and scheduler on a copy of the tests' metadata database (~55 s here): the
    DAG's watcher is registered, the upload's notification reaches the triggerer through SQS, and the scheduler
    makes an asset-triggered sms_drops run whose Asset event carries the messages naming the object."""
    import signal
    import sqlite3
    import time

    from helpers import airflow_home_from

    from pipelines import storage
    from pipelines.drops import announced_objects, watch_drops
    from pipelines.store import open_store
    from pipelines.store.drops import add_rule

    bucket = s3_server.url("root/")
    storage.write_bytes(storage.location(f"{bucket}specs/vip.yaml"), b"name: VIP\ntype: notification\nmessage: Hi\n")
    add_rule(open_store(os.environ["SMSFLOW_DB"]), "default", "incoming/vip/", spec="specs/vip.yaml")
    home = airflow_home_from(airflow_db_template, tmp_path / "airflow")
    environment = {**os.environ, **s3_server.environment(), "SMSFLOW_BUCKET": bucket,
                   "SMSFLOW_DROP_QUEUE": watch_drops(bucket, "sms-drops-live"), "AIRFLOW_HOME": str(home),
                   "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parents[2] / "dags"),
                   "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
                   "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
                   "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                   "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5"}

    def rows(query: str) -> list:
        try:
            with sqlite3.connect(home / "airflow.db", timeout=10) as connection:
                return connection.execute(query).fetchall()
        except sqlite3.OperationalError:  # a table not there yet, or locked for a moment
            return []

    def waited(query: str, seconds: float) -> list:
        deadline = time.monotonic() + seconds
        while not (found := rows(query)) and time.monotonic() < deadline:
            time.sleep(0.5)
        return found

    processes = [subprocess.Popen([sys.executable, "-m", "airflow", component], env=environment,
                                  stdout=(tmp_path / f"{component}.log").open("wb"), stderr=subprocess.STDOUT,
                                  start_new_session=True) for component in ("dag-processor", "triggerer", "scheduler")]
    try:
        assert waited("select classpath from trigger", 90) == [
            ("airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger",)], (tmp_path / "dag-processor.log"
                                                                               ).read_text()[-3000:]
        storage.write_bytes(storage.location(f"{bucket}{EXPORT}"), "Portable;Prénom\n0612345678;Ann\n".encode())
        # the hourly sweep (cron 17 * * * *) may add a `scheduled` run when the test runs at :17: only the
        # asset-triggered run is the upload's
        runs = waited("select dag_id, run_type from dag_run where run_type = 'asset_triggered'", 90)
        assert runs == [("sms_drops", "asset_triggered")], (tmp_path / "triggerer.log").read_text()[-3000:]
        extras = [json.loads(extra) for (extra,) in rows("select extra from asset_event")]
        assert f"{bucket}{EXPORT}" in announced_objects(extras)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:  # the scheduler may wait on its executor: stopped all the same
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


if __name__ == "__main__":
    _drive(sys.argv[1], sys.argv[2])
