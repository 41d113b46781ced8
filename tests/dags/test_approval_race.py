"""CAMP-3 / SEND-4 through a real `airflow standalone`: approvals answered the instant they are asked.

Airflow 3.3.2 can fail a resumed task with a stale executor event from its own pause (apache/airflow #71580,
#72716): these runs answer through the REST API as fast as a script can, several times in a row.
"""

from __future__ import annotations

import io
import os
import re
import socket
from pathlib import Path

import pytest
from rich.console import Console

from pipelines.store import open_store
from pipelines.campaign import lifecycle
from pipelines.demo.bucket import DEMO_ACCOUNT, prepare_bucket
from pipelines.store.credits import history
from pipelines.demo.rest import answer_approval, failed_tasks, trigger_campaign, wait_for_dag, wait_for_run
from pipelines.demo.standalone import running_stack

pytestmark = pytest.mark.xdist_group("airflow")  # one Airflow at a time on a 2-core machine


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One airflow standalone and SMSC simulator for every run of this module, with 40 credits per run."""
    folder = tmp_path_factory.mktemp("approval")
    bucket = folder / "bucket"
    out = Console(file=io.StringIO(), width=200)
    saved = os.environ.get("SMSFLOW_DB")
    os.environ["SMSFLOW_DB"] = bucket_store(bucket)  # the demo's account and the stack's tasks: the bucket's store
    try:
        spec_path, repliers = prepare_bucket(bucket, 12, out)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with running_stack(bucket, port, out, repliers, home=folder / "airflow_home") as api:
            wait_for_dag(api)
            yield api, bucket, str(spec_path.relative_to(bucket)), folder / "airflow_home"
    finally:
        os.environ.pop("SMSFLOW_DB") if saved is None else os.environ.update(SMSFLOW_DB=saved)


def bucket_store(bucket: Path) -> str:
    return f"sqlite:///{bucket / 'smsflow.db'}"


def campaign_of(run_id: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_")  # as dags/sms_campaign.py names it


def report_tab(api, run_id: str, what: str = "", *, signed_in: bool = True) -> tuple[int, str]:
    """The run's Campaign report tab (the smsflow plugin, in the stack's API server) or one of its downloads."""
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    request = urllib.request.Request(f"{api.base}/smsflow/dags/sms_campaign/runs/{quote(run_id, safe='')}{what}",
                                     headers={"Authorization": f"Bearer {api.token}"} if signed_in else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8-sig")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def credit_entries(bucket: Path, campaign: str) -> list[tuple[str, int]]:
    return [(e["kind"], e["credits"]) for e in history(open_store(bucket_store(bucket)), DEMO_ACCOUNT, campaign)]


def test_send4_approved_the_instant_it_is_asked_three_runs_in_a_row_all_succeed(stack):
    api, bucket, spec, home = stack
    for attempt in range(3):
        run_id = trigger_campaign(api, spec)
        answered = answer_approval(api, run_id, "Approve", timeout=300, poll=0.02)
        assert answered and answered[0] == 200, (attempt, answered, failed_tasks(api, run_id))
        run = wait_for_run(api, run_id, timeout=300)
        assert run["state"] == "success" and not failed_tasks(api, run_id), \
            (attempt, run_id, failed_tasks(api, run_id), sorted(home.glob("logs/**/task_id=approve/*")))
        assert run["note"].startswith("Sent: "), run  # the run says what happened
        entries = credit_entries(bucket, campaign_of(run_id))
        assert entries and entries[0][0] == "reserve", entries
    # Issue 10: the run's page tells the campaign — REP-1 figures in its note, its report in its Campaign report tab.
    assert re.fullmatch(r"Sent: [\d,]+ parts accepted to [\d,]+ recipients, [\d,]+ delivered, [\d,]+ failed, "
                        r"[\d,]+ STOP replies, [\d,]+ credits used(; .+)?; report: campaigns/.+/report/.+\.csv",
                        run["note"]), run["note"]
    status, page = report_tab(api, run_id)
    assert status == 200 and "Download the report (CSV, REP-2)" in page and "<th>Delivered</th>" in page, page
    status, csv = report_tab(api, run_id, "/report.csv")
    assert status == 200 and csv.startswith("REF_LIST;ID_LINE;INT_MOBILE;STATUS_CODE"), csv[:300]
    assert report_tab(api, run_id, signed_in=False)[0] in (401, 403)  # behind Airflow's own login


def test_camp3_rejected_the_instant_it_is_asked_cancels_gives_credits_back_and_says_so(stack):
    api, bucket, spec, _ = stack
    run_id = trigger_campaign(api, spec)
    answered = answer_approval(api, run_id, "Reject", timeout=300, poll=0.02)
    assert answered and answered[0] == 200, (answered, failed_tasks(api, run_id))
    run = wait_for_run(api, run_id, timeout=300)
    assert run["state"] == "success" and not failed_tasks(api, run_id), (run, failed_tasks(api, run_id))
    campaign = campaign_of(run_id)
    entries = credit_entries(bucket, campaign)
    assert [kind for kind, _ in entries] == ["reserve", "settle"] and entries[0][1] == entries[1][1] > 0, entries
    assert lifecycle(bucket, campaign, engine=open_store(bucket_store(bucket)))[-1][0] == "cancelled"
    assert run["note"].startswith("Cancelled: rejected by admin at "), run  # item 12: not a bare green Success
    assert f"{entries[1][1]} credits given back" in run["note"], run
    status, page = report_tab(api, run_id)  # its Campaign report tab: no report, and why
    assert status == 200 and "has no report yet" in page and "cancelled" in page, page
    assert report_tab(api, run_id, "/report.csv")[0] == 404
