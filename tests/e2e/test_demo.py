"""`make demo` runs the main job on embedded defaults: plan, DuckDB, simulator, test send, send, statuses."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import time

import pytest
from helpers import ROOT, smsflow, smsflow_here, start_smsflow, wait_until
from rich.console import Console

from pipelines import warehouse


def test_house_demo_runs_a_campaign_end_to_end(tmp_path):
    bucket = tmp_path / "bucket"
    result = smsflow("demo", "--bucket", str(bucket), "--rows", "2000", "--direct", timeout=300)
    assert result.returncode == 0, result.stderr
    for words in ("Sendable", "Destinations by country", "Test sent to", "parts accepted", "Délivré"):
        assert words in result.stdout
    (campaign,) = (bucket / "campaigns").iterdir()
    assert (campaign / "plan" / "recipients.parquet").is_file()
    assert list((campaign / "events").glob("*.parquet")) and list((campaign / "dispatch" / "ledger").glob("*.jsonl"))
    with warehouse.connect(warehouse.in_bucket(bucket), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM plan_recipients").fetchone()[0] == 2001
        # URL-3, URL-4: three links clicked as a person (302), two fetched as WhatsApp (200, og tags), loaded
        clicks = connection.execute("SELECT kind, agent_class, count(*) FROM clicks GROUP BY ALL ORDER BY 1").fetchall()
    assert clicks == [("click", "person", 3), ("preview", "crawler:whatsapp", 2)], clicks
    assert result.stdout.count(": 302 → https://www.maboutique.fr/soldes?code=VIP") == 3, result.stdout
    assert result.stdout.count(", vos soldes VIP »") == 2 and "Clicks: 3 by 3 recipients" in result.stdout
    assert re.search(r"Test sent to .*smsf\.link/[0-9A-Za-z]{9} STOP", result.stdout)  # URL-1: 19 characters
    # BL-2: the two handsets that answered STOP / Arrêt are on the demo account's own blacklist in the store.
    listed = smsflow("blacklist", "list", "--kind", "own", "--account", "demo", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 2


def test_send2_the_demo_says_why_it_is_a_notification_outside_the_window_and_names_the_next_opening():
    from datetime import datetime

    from pipelines.demo.bucket import demo_campaign_type

    out = Console(file=io.StringIO(), width=300)
    assert demo_campaign_type(datetime.fromisoformat("2026-11-26T10:00:00+01:00"), out) == "marketing"
    assert out.file.getvalue() == ""  # nothing to explain inside the window
    assert demo_campaign_type(datetime.fromisoformat("2026-11-28T20:30:00+01:00"), out) == "notification"
    said = out.file.getvalue()
    assert "It is Saturday 20:30 in Paris" in said and "Monday to Saturday 08:00-20:00" in said
    assert "[SEND-2]" in said and "would wait until Monday 30 November 08:00" in said
    out = Console(file=io.StringIO(), width=300)  # open now, closed before the run ends
    assert demo_campaign_type(datetime.fromisoformat("2026-11-28T19:50:00+01:00"), out) == "notification"
    assert "the window closes before the demo's run would end" in out.file.getvalue()


def test_house_make_airflow_keeps_a_list_and_spec_already_in_the_bucket(tmp_path):
    from pipelines.demo.bucket import prepare_bucket

    bucket = tmp_path / "bucket"
    export, spec = bucket / "incoming" / "clients-vip.csv", bucket / "specs" / "soldes-vip.yaml"
    export.parent.mkdir(parents=True)
    export.write_text("Mobile;Nom\n0612345678;Mine\n", encoding="utf-8")
    out = Console(file=io.StringIO(), width=300)
    prepare_bucket(bucket, 50, out, keep=True)
    assert export.read_text(encoding="utf-8") == "Mobile;Nom\n0612345678;Mine\n"  # the person's edits kept
    assert "Sample CRM export kept as it is" in out.file.getvalue() and spec.is_file()
    spec.write_text("name: mine\n", encoding="utf-8")
    prepare_bucket(bucket, 50, out, keep=True)
    assert spec.read_text(encoding="utf-8") == "name: mine\n"
    prepare_bucket(bucket, 50, out)  # the demo writes its own sample each run
    assert len(export.read_text(encoding="utf-8").splitlines()) == 51


def test_house_make_airflow_refuses_a_port_in_use_and_stop_or_trigger_with_nothing_running(tmp_path):
    chosen = {"SMSFLOW_AIRFLOW_HOME": str(tmp_path / "airflow_home")}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        refused = smsflow_here("airflow", "--bucket", str(tmp_path / "bucket"), "--port", str(port), env=chosen)
    assert refused.returncode == 2 and f"Refused: port {port} on 127.0.0.1 is already in use" in refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr and not (tmp_path / "bucket").exists()
    stopped = smsflow_here("airflow", "--stop", env=chosen)
    assert stopped.returncode == 0 and "Nothing to stop" in stopped.stdout
    triggered = smsflow_here("airflow", "--trigger", "specs/soldes-vip.yaml", env=chosen)
    assert triggered.returncode == 2 and "no Airflow started by `smsflow airflow` runs from" in triggered.stderr


@pytest.mark.xdist_group("airflow")  # one Airflow at a time on a 2-core machine
def test_house_make_airflow_is_local_and_stoppable_and_make_demo_runs_on_it(tmp_path):
    """`make airflow`: listens on 127.0.0.1 only, with a new admin password (admin/admin refused); `make demo` runs
    its campaign on it through the REST API (the approval text rendered, no raw Markdown), `make trigger` and the
    Airflow CLI line it prints start runs, and `make airflow-stop` stops every process it started (the task
    processes included): no port left."""
    import psutil

    from pipelines.airflow_rest import AirflowApi
    from pipelines.demo.processes import read_record, session_members, stack_processes

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bucket, home = tmp_path / "bucket", tmp_path / "airflow_home"
    chosen = {"SMSFLOW_AIRFLOW_HOME": str(home)}
    printed = tmp_path / "smsflow-airflow.out"
    with printed.open("w", encoding="utf-8") as sink:
        server = start_smsflow("airflow", "--bucket", str(bucket), "--port", str(port), "--rows", "500",
                               env={**os.environ, **chosen}, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "Stop everything" in printed.read_text(encoding="utf-8") or server.poll() is not None,
                   timeout=600, what="smsflow airflow to start")
        started = printed.read_text(encoding="utf-8")
        assert server.poll() is None, started
        assert "listening on 127.0.0.1: this machine only" in started
        links = re.search(r"Short links: `smsflow links serve` on (http://127\.0\.0\.1:(\d+))", started)
        assert links and read_record(home).links == links.group(1), started
        password = re.search(r"Log in as admin, password (\S+)", started).group(1)
        record = read_record(home)
        processes = [psutil.Process(record.owner.pid), *stack_processes(record)]
        listening = {connection.laddr for process in processes for connection in process.net_connections("inet")
                     if connection.status == psutil.CONN_LISTEN}
        assert ("127.0.0.1", port) in listening and {address.ip for address in listening} == {"127.0.0.1"}, listening
        api = AirflowApi(f"http://127.0.0.1:{port}")
        assert api.call("POST", "/auth/token", {"username": "admin", "password": "admin"})[0] == 401
        api.login("admin", password)

        demo = smsflow_here("demo", "--bucket", str(bucket), "--rows", "500", env=chosen)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        assert "the demo uses it and leaves it up" in demo.stdout
        assert "Approved (200)" in demo.stdout and ": success after" in demo.stdout, demo.stdout[-3000:]
        assert "Campaign: Soldes d'hiver VIP" in demo.stdout and "**" not in demo.stdout  # Markdown rendered
        assert demo.stdout.count(": 302 → https://www.maboutique.fr/") == 3, demo.stdout[-3000:]  # URL-3, URL-4
        assert demo.stdout.count(", vos soldes VIP »") == 2 and "Clicks: 3 by 3 recipients" in demo.stdout
        (report,) = bucket.glob("campaigns/*/report/*.csv")
        assert report.read_text(encoding="utf-8-sig").startswith("REF_LIST;ID_LINE;INT_MOBILE;STATUS_CODE")

        triggered = smsflow_here("airflow", "--trigger", "specs/soldes-vip.yaml", env=chosen)
        assert triggered.returncode == 0, triggered.stdout
        run_id = re.search(r"Triggered run (\S+) of sms_campaign", triggered.stdout).group(1)
        assert api.call("GET", f"/api/v2/dags/sms_campaign/dagRuns/{run_id}")[1]["conf"] == \
            {"spec_path": "specs/soldes-vip.yaml"}
        # the Airflow CLI line it printed, as written, from a shell with no Airflow setting of its own
        command = re.search(r"^or  (AIRFLOW_HOME=\S+ \.venv/bin/airflow dags trigger .+)$", started, re.M).group(1)
        shell = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
        cli = subprocess.run(command, shell=True, cwd=ROOT, env=shell, capture_output=True, text=True, timeout=300)
        assert cli.returncode == 0, cli.stdout[-2000:] + cli.stderr[-2000:]
        runs = api.call("GET", "/api/v2/dags/sms_campaign/dagRuns")[1]["dag_runs"]  # the demo's, ours, the CLI's
        assert len(runs) == 3 and all(run["conf"] == {"spec_path": "specs/soldes-vip.yaml"} for run in runs), runs
        wait_until(lambda: time.sleep(0.5) or any(task["state"] in ("running", "success") for task in api.call(
            "GET", f"/api/v2/dags/sms_campaign/dagRuns/{run_id}/taskInstances")[1]["task_instances"]),
            timeout=120, what="the triggered run's first task")
        processes += [*stack_processes(record)]  # the task processes of the run, in process groups of their own
    finally:
        stopped = smsflow_here("airflow", "--stop", env=chosen)
    assert stopped.returncode == 0 and "Stopped Airflow" in stopped.stdout, stopped.stdout
    assert server.wait(timeout=60) == 0
    assert "Stopped: Airflow, the SMSC simulator and the short-link service are no longer running." in \
        printed.read_text(encoding="utf-8")
    assert not [process for process in processes if running(process)]
    assert not session_members(record.sessions[0]) and not (home / "smsflow-airflow.json").exists()
    for closed in (port, int(links.group(2))):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", closed)) != 0


def running(process) -> bool:
    """The process still runs (a zombie, dead but not yet reaped by the container's init, does not)."""
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
