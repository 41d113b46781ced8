"""DROP-1 (issue 13): the sms_drops DAG parses, is scheduled on one Asset per watched export whose AssetWatcher is
the standard provider's FileDeleteTrigger on the export's marker; that trigger, its async run() driven directly
(no scheduler, no triggerer: the suite is at its time budget), fires once on a marker and deletes it; the file its
Asset names is then checked and accepted by what the DAG's task runs (pipelines.drops.start_drops), which gives
the sms_campaign run to start.

This file is also the check's process script (`python tests/dags/test_sms_drops.py BUCKET`): Airflow is imported
in a process of its own, with a throwaway AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WATCHED = "incoming/vip/export.csv"


def _drive(bucket: Path) -> None:
    import asyncio
    import importlib.util

    from airflow.providers.standard.triggers.file import FileDeleteTrigger

    from pipelines.drops import MARKER, start_drops

    dags = Path(__file__).resolve().parents[2] / "dags"
    spec = importlib.util.spec_from_file_location("sms_drops", dags / "sms_drops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # as the DAG processor parses it
    dag = module.sms_drops()
    (asset,) = module.DROPS
    (watcher,) = asset.watchers
    trigger = watcher.trigger
    export, marker = bucket / WATCHED, Path(trigger.filepath)

    async def first_event():
        events = trigger.run()
        try:
            return await asyncio.wait_for(anext(events), timeout=30)
        finally:
            await events.aclose()

    before = marker.exists()
    export.parent.mkdir(parents=True, exist_ok=True)
    export.write_text("Portable;Prénom\n0612345678;Ann\n0612345679;Bob\n", encoding="utf-8")
    marker.write_bytes(b"")
    event = asyncio.run(first_event())
    started = start_drops(bucket, [asset.uri])  # what check_drops runs on the Asset event
    print("RESULT " + json.dumps({
        "dag_id": dag.dag_id, "tasks": sorted(dag.task_ids),
        "assets": [str(item.uri) for item in dag.timetable.asset_condition.objects], "asset": asset.uri,
        "trigger": type(trigger).__name__, "is_file_delete": isinstance(trigger, FileDeleteTrigger),
        "marker": str(marker), "marker_before": before, "marker_after": marker.exists(), "payload": event.payload,
        "markers_equal": module.MARKER == MARKER, "started": started, "export_after": export.exists(),
        "processed": sorted(str(path.relative_to(bucket)) for path in (bucket / "processed").rglob("*")
                            if path.is_file()),
    }))


def test_drop1_sms_drops_watches_a_marker_with_file_delete_trigger_and_its_drop_starts_one_campaign(tmp_path):
    bucket = tmp_path / "bucket"
    (bucket / "specs").mkdir(parents=True)
    (bucket / "specs" / "vip.yaml").write_text("name: VIP\ntype: notification\nmessage: Bonjour ${Prénom}\n",
                                               encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'smsflow.db'}"
    from helpers import smsflow_here

    added = smsflow_here("drops", "add", "incoming/vip/", "--spec", "specs/vip.yaml", env={"SMSFLOW_DB": store})
    assert added.returncode == 0, added.stderr
    home = tmp_path / "airflow"
    environment = {**os.environ, "SMSFLOW_DB": store, "SMSFLOW_BUCKET": str(bucket), "SMSFLOW_DROP_WATCH": WATCHED,
                   "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                   "AIRFLOW__CORE__UNIT_TEST_MODE": "True"}
    result = subprocess.run([sys.executable, __file__, str(bucket)], capture_output=True, text=True, timeout=300,
                            env=environment, cwd=Path(__file__).resolve().parents[2])
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stderr[-3000:]
    seen = json.loads(lines[-1][7:])
    assert (seen["dag_id"], seen["tasks"]) == ("sms_drops", ["check_drops", "start_campaign"])
    assert seen["asset"] == f"file://{bucket / WATCHED}" and seen["assets"] == [seen["asset"]]
    assert seen["trigger"] == "FileDeleteTrigger" and seen["is_file_delete"] and seen["markers_equal"]
    assert seen["marker"] == f"{bucket / WATCHED}.done"
    assert (seen["marker_before"], seen["payload"], seen["marker_after"]) == (False, True, False)  # fired, deleted
    (run,) = seen["started"]["accepted"]
    assert run["trigger_run_id"].startswith("drop__") and run["conf"]["spec_path"].endswith("export.csv.spec.yaml")
    assert seen["started"]["quarantined"] == [] and not seen["export_after"]
    assert len(seen["processed"]) == 2  # the export and its spec, in processed/<date>/


if __name__ == "__main__":
    _drive(Path(sys.argv[1]))
