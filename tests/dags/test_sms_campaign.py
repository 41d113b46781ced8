"""The campaign DAG: imports cleanly and fast, and a real run plans a campaign from the bucket."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from helpers import write_list, write_spec

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_TOP_LEVEL = {"airflow", "pendulum", "__future__"} | set(sys.stdlib_module_names)


def test_dag_files_import_only_airflow_sdk_pendulum_and_stdlib_at_top_level():
    """STYLE habit 1: heavy libraries are imported inside tasks, so the scheduler parses DAGs fast."""
    for path in (ROOT / "dags").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in ALLOWED_TOP_LEVEL, f"{path.name} imports {name} at top level"
                assert not name.startswith("airflow") or name == "airflow.sdk", name


def test_dagbag_has_no_import_errors(airflow_home):
    code = ("from airflow.dag_processing.dagbag import DagBag\n"
            f"bag = DagBag(dag_folder={str(ROOT / 'dags')!r})\n"
            "import json; print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()}, "
            "'dags': sorted(bag.dag_ids)}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"errors": {}, "dags": ["sms_campaign"]}


def test_dag_run_plans_a_campaign_from_the_bucket(airflow_home, tmp_path, monkeypatch):
    bucket = tmp_path / "bucket"
    write_list(bucket / "incoming" / "clients.csv", "Mobile;Prénom\n0611111111;Ann\n0611111111;Ann\nabc;Zoé\n")
    spec = write_spec(bucket / "specs", lists=["../incoming/clients.csv"])
    monkeypatch.setenv("SMSFLOW_BUCKET", str(bucket))
    sys.path.insert(0, str(ROOT / "dags"))
    try:
        import sms_campaign
    finally:
        sys.path.remove(str(ROOT / "dags"))
    run = sms_campaign.sms_campaign().test(run_conf={"spec_path": str(spec.relative_to(bucket))})
    assert str(run.state) == "success"
    plans = list((bucket / "campaigns").glob("*/plan/summary.json"))
    assert len(plans) == 1
    summary = json.loads(plans[0].read_text(encoding="utf-8"))
    assert summary["status_counts"] == {"0": 1, "2": 1, "4": 1}
