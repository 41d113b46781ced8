"""Issue 11, "Continuous loading" through Airflow (PLUS-4, REP-1, REP-2): a late receipt's micro-batch announced by
the receiver (`smsflow receive --announce`: `pipelines.events.AirflowAnnouncer`) through Airflow's real REST API as
an event of the Asset smsflow://events, announced again while no run took it; the sms_events DAG, run on that
event's batch (dag.test), loads it: the finished campaign's statuses and its REP-2 CSV show the late receipt.

This file is also the run's process script (`python tests/dags/test_sms_events.py HOME BUCKET FILE`): it writes
the DAGs to the metadata database, serves Airflow's API on a free port, announces FILE, reads the Asset's events back
through the API, and runs the DAG once on the files they name.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

PASSWORD = "events-test"


def _drive(home: str, bucket: str, batch: str) -> None:
    passwords = Path(home) / "passwords.json"
    passwords.write_text(json.dumps({"admin": PASSWORD}), encoding="utf-8")
    os.environ.update({
        "AIRFLOW_HOME": home, "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parents[2] / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "events-test", "SMSFLOW_BUCKET": bucket,
    })
    if not Path(home, "airflow.db").exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    _sync_dags()  # as the DAG processor does: the Asset smsflow://events exists once sms_events is parsed
    base = _serve_api()

    from pipelines.airflow_rest import AirflowApi
    from pipelines.events import AirflowAnnouncer

    announcer = AirflowAnnouncer(f"http://admin:{PASSWORD}@{base.removeprefix('http://')}", Path(bucket))
    announced = announcer([batch])
    # No scheduler runs here, so no event gets a run: as if Airflow had left it without one (apache/airflow#56050)
    announcer.STUCK_AFTER = 0.0
    nothing_new = announcer([])  # its files are announced again
    api = AirflowApi(base)
    api.login("admin", PASSWORD)
    status, answer = api.call("GET", "/api/v2/assets/events?order_by=timestamp")
    extras = [event["extra"] for event in answer["asset_events"]] if status == 200 else answer
    import sms_events

    run = sms_events.sms_events().test(run_conf={"files": extras[0]["files"]})
    (instance,) = run.get_task_instances()
    print("RESULT " + json.dumps({"state": str(run.state), "announced": [announced, nothing_new], "extras": extras,
                                  "asset": sms_events.EVENTS.uri, "loaded": instance.xcom_pull(task_ids="load")}))


def _sync_dags() -> None:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        sync_bag_to_db(BundleDagBag(dag_folder=Path(bundle.path) / "sms_events.py", bundle_path=bundle.path,
                                    bundle_name=bundle.name), bundle.name, bundle.version)  # this DAG's file only


def _serve_api() -> str:
    """Airflow's API server (its FastAPI app under uvicorn, as `airflow api-server` runs it) on a free port."""
    import uvicorn

    import airflow.models

    airflow.models.import_all_models()
    from airflow.api_fastapi.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("Airflow's API did not start within 60 s")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


if __name__ == "__main__":
    _drive(*sys.argv[1:4])
    sys.exit(0)


import csv  # noqa: E402  (the tests below; the script above runs without pytest)

import pytest  # noqa: E402
from helpers import ROOT, write_list, write_spec  # noqa: E402


@pytest.fixture
def events_home(tmp_path, airflow_db_template) -> Path:
    from helpers import airflow_home_from

    return airflow_home_from(airflow_db_template, tmp_path / "airflow_home")


def finished_campaign(bucket: Path) -> Path:
    """A campaign sent (every part accepted, message ids M0, M1) and loaded, its report written, no receipt yet;
    then a late receipt for M1 in the receiver's micro-batch. Returns the batch file."""
    from datetime import datetime, timezone

    import polars as pl

    from pipelines.campaign import WAREHOUSE
    from pipelines.dlr import EventWriter, keyed_rows, part_key
    from pipelines.layout import CampaignPaths
    from pipelines.plan import plan_file
    from pipelines.report import campaign_report, write_csv
    from pipelines.warehouse import load_dispatch, load_plan

    write_list(bucket / "list.csv", "Mobile;Texte\n0611111111;Bonjour Ann\n0622222222;Bonjour Bob\n")
    paths = CampaignPaths.in_bucket(bucket, "c1")
    plan_file(write_spec(bucket, lists=["list.csv"], message="${Texte}"), paths.plan)
    keys = keyed_rows(pl.read_parquet(paths.recipients)).get_column("MESSAGE_KEY").to_list()
    paths.ledger.mkdir(parents=True)
    (paths.ledger / "batch-1.jsonl").write_text("".join(
        json.dumps({"key": part_key(key, 1), "event": "accepted", "status": 0, "message_id": f"M{index}",
                    "ts": time.time() - 600}) + "\n" for index, key in enumerate(keys)), encoding="utf-8")
    database = bucket / WAREHOUSE  # the bucket's warehouse, where the DAG loads
    load_plan(database, "c1", paths.plan)
    load_dispatch(database, "c1", paths.ledger, paths.events, shared_events=bucket / "events",
                  store=f"sqlite:///{bucket / 'smsflow.db'}")
    write_csv(campaign_report(database, "c1"), paths.report)
    writer = EventWriter(bucket / "events", "receiver-1")
    writer.add(kind="receipt", message_id="M1", stat="DELIVRD", err="000", done_date="", handset="33622222222",
               service="36184", text="", received_at=datetime.now(timezone.utc))
    return writer.flush()


def csv_statuses(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return {row["INT_MOBILE"]: row["STATUS_CODE"] for row in csv.DictReader(stream, delimiter=";")}


def test_issue11_a_late_receipt_announced_as_an_asset_event_is_loaded_by_the_sms_events_dag(tmp_path, events_home):
    from pipelines.events import ASSET_URI

    bucket = tmp_path / "bucket"
    batch = finished_campaign(bucket)
    report = bucket / "campaigns" / "c1" / "report" / "c1.csv"
    assert csv_statuses(report) == {"+33611111111": "24", "+33622222222": "24"}  # sent, no receipt yet
    result = subprocess.run([sys.executable, __file__, str(events_home), str(bucket), str(batch)],
                            capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "SMSFLOW_DB": f"sqlite:///{bucket / 'smsflow.db'}"})
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout[-3000:] + result.stderr[-3000:]
    outcome = json.loads(lines[-1][7:])
    assert outcome["asset"] == ASSET_URI and outcome["announced"] == [1, 1]  # the second: left without a run
    assert [extra["files"] for extra in outcome["extras"]] == [[f"events/{batch.name}"]] * 2  # bucket-relative
    assert outcome["state"] == "success", outcome
    assert outcome["loaded"] == {"events": 1, "campaigns": ["c1"], "files": 1}
    assert csv_statuses(report) == {"+33611111111": "24", "+33622222222": "16"}  # the late receipt, no command
