"""One SMS campaign = one run of this DAG (SPEC CAMP-2).

Thin by design (STYLE.md): only `airflow.sdk`, `pendulum` and the standard library are imported at parse
time; each task is a short adapter around one `pipelines` function and passes file paths, never data.
Trigger it with a campaign spec already in the bucket:

    airflow dags trigger sms_campaign --conf '{"spec_path": "specs/soldes-vip.yaml"}'

The plan lands in `<bucket>/campaigns/<campaign_id>/plan/` (recipients.parquet, summary.json).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

BUCKET_ENV = "SMSFLOW_BUCKET"  # the bucket folder; ./bucket beside the repository by default


def bucket_root() -> Path:
    """The bucket folder, read at run time (never at parse time)."""
    default = Path(__file__).resolve().parents[1] / "bucket"
    return Path(os.environ.get(BUCKET_ENV, default)).resolve()


def campaign_id(run_id: str) -> str:
    """A folder-safe campaign id derived from the DAG run (one run = one campaign)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_")


@dag(
    dag_id="sms_campaign",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Paris"),
    catchup=False,
    max_active_tasks=4,
    tags=["smsflow"],
    params={"spec_path": Param(type="string", description="Campaign spec (YAML), relative to the bucket or absolute.")},
    doc_md=__doc__,
)
def sms_campaign():
    @task
    def plan() -> dict:
        """Plan stage: validate the spec, read the lists, one planned row per input row (PLUS-2)."""
        from pipelines.plan import plan_file

        context = get_current_context()
        bucket = bucket_root()
        spec_path = Path(context["params"]["spec_path"])
        spec_path = spec_path if spec_path.is_absolute() else bucket / spec_path
        out_dir = bucket / "campaigns" / campaign_id(context["run_id"]) / "plan"
        result = plan_file(spec_path, out_dir)
        summary = result.summary
        print(f"Planned {summary['rows']:,} rows: {summary['sendable']:,} sendable, {summary['credits']:,} credits, "
              f"statuses {summary['status_counts']} → {result.out_dir}")
        return {"plan_dir": str(result.out_dir), "rows": summary["rows"], "sendable": summary["sendable"],
                "credits": summary["credits"]}

    plan()


sms_campaign()
