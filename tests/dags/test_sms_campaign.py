"""The campaign DAG: imports cleanly and fast, and a real run plans a campaign from the bucket."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from helpers import ROOT

ALLOWED_TOP_LEVEL = {"airflow", "pendulum", "__future__"} | set(sys.stdlib_module_names)


def test_house_dag_files_import_only_airflow_sdk_pendulum_and_stdlib_at_top_level():
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


def test_house_dagbag_has_no_import_errors(migrated_airflow_env):
    code = ("from airflow.dag_processing.dagbag import DagBag\n"
            f"bag = DagBag(dag_folder={str(ROOT / 'dags')!r})\n"
            "import json; print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()}, "
            "'dags': sorted(bag.dag_ids)}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"errors": {}, "dags": ["sms_campaign", "sms_drops", "sms_events", "smsflow_purge"]}  # drops (issue 13), PLUS-4 late events, PLUS-8 purge


def test_camp2_trigger_form_is_the_spec_schema():
    """dags/campaign_form.json is generated from the spec model, its fields in the order a person fills them;
    regenerate it when the spec changes: .venv/bin/python -c "import json; from pipelines.spec.form import
    trigger_form; json.dump(trigger_form(), open('dags/campaign_form.json', 'w'), ensure_ascii=False, indent=1)"."""
    from pipelines.spec.form import trigger_form

    stored = json.loads((ROOT / "dags" / "campaign_form.json").read_text(encoding="utf-8"))
    assert stored == trigger_form() and list(stored) == list(trigger_form())  # the same fields, the same order


def test_camp2_bad_conf_refused_by_the_form_before_a_run_starts(migrated_airflow_env):
    """The DAG's Params: the form's fields in order, then the two alternatives in their own section; a value the
    form's schema refuses (9 parts, ENC-5) never starts a run. The DAG describes itself, in Paris time."""
    code = ("import sys, json; sys.path.insert(0, 'dags'); import sms_campaign\n"
            "dag = sms_campaign.sms_campaign(); params = dag.params\n"
            "print('DAG ' + json.dumps([str(dag.timezone), dag.description, dag.doc_md.lstrip()[:3]]))\n"
            "print('ORDER ' + json.dumps(list(params.keys())))\n"
            "print('SECTION ' + json.dumps(params.get_param('spec_path').schema.get('section')))\n"
            "try:\n    params.get_param('max_parts').resolve(9)\n    print('accepted')\n"
            "except Exception as error:\n    print('refused', type(error).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "refused ParamValidationError", result.stderr[-2000:]
    from pipelines.spec.form import FORM_ORDER

    order = json.loads(next(line for line in lines if line.startswith("ORDER "))[6:])
    assert order == [*FORM_ORDER, "spec_path", "campaign_id"]
    assert json.loads(next(line for line in lines if line.startswith("SECTION "))[8:]).startswith("Or:")
    # The run page: a description, a doc in Markdown, the DAG in Paris time (issue 10).
    zone, description, doc = json.loads(next(line for line in lines if line.startswith("DAG "))[4:])
    assert zone == "Europe/Paris" and description.startswith("One SMS campaign per run") and doc == "###"
