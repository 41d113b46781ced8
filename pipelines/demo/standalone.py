"""`make demo` through Airflow, and `make airflow`: a local Airflow (standalone: SQLite, LocalExecutor, its own
AIRFLOW_HOME inside the repository) next to the SMSC simulator, driven through Airflow's REST API exactly as
a user's browser would: trigger the campaign, read the approval request, approve it, wait for the end.

This module starts Airflow as a separate program (subprocess) and speaks HTTP to it (`rest`): it never
imports Airflow.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from pipelines.demo.bucket import prepare_bucket, simulator_config
from pipelines.demo.rest import LOGIN, AirflowApi, answer_approval, failed_tasks, trigger_campaign, wait_for_dag, \
    wait_for_run

ROOT = Path(__file__).resolve().parents[2]  # the repository: dags/, airflow_home/


def airflow_environment(home: Path, bucket: Path, smsc_url: str, port: int) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({LOGIN[0]: LOGIN[1]}), encoding="utf-8")
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{LOGIN[0]}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__PORT": str(port),
        # One secret for every component: left to each, they may generate different ones on a fresh home,
        # and the API server then refuses the tasks' tokens (seen under load).
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "600",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "SMSFLOW_BUCKET": str(bucket),
        "SMSFLOW_RECEIPT_TIMEOUT": "15",
        "AIRFLOW_CONN_SMSC_DEFAULT": smsc_url,
        # The run writes its outcome as the run's note through the REST API (smsflow_provider AirflowApiHook).
        "AIRFLOW_CONN_AIRFLOW_API": f"http://{LOGIN[0]}:{LOGIN[1]}@127.0.0.1:{port}",
        # Airflow 3.3.2 fails a task resumed within a second of its pause (apache/airflow #71580, #72716).
        "AIRFLOW__CORE__EXECUTOR": "smsflow_provider.executors.local.SettledLocalExecutor",
    }


@contextmanager
def running_stack(bucket: Path, port: int, out: Console, smsc_replies: list[str] | None = None,
                  home: Path | None = None):
    """The SMSC simulator and `airflow standalone`, stopped (with all their children) on the way out."""
    from pipelines.smpp.simulator import start_process

    config = simulator_config(bucket, smsc_replies or [])
    simulator, smsc_port = start_process(config, bucket / "smsc")
    out.print(f"SMSC simulator on 127.0.0.1:{smsc_port} (log: {config.log})")
    home = home or Path(os.environ.get("SMSFLOW_AIRFLOW_HOME", ROOT / "airflow_home"))
    environment = airflow_environment(home, bucket, f"smpp://smsflow:smsflow@127.0.0.1:{smsc_port}", port)
    log = (home / "standalone.log").open("w", encoding="utf-8")
    airflow = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=environment, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    api = AirflowApi(f"http://127.0.0.1:{port}")
    try:
        out.print(f"Starting Airflow (AIRFLOW_HOME={home}, log: {home / 'standalone.log'}) …")
        started = time.monotonic()
        while not api.healthy():
            if airflow.poll() is not None or time.monotonic() - started > 300:
                raise RuntimeError(f"Airflow did not start; see {home / 'standalone.log'}")
            time.sleep(2)
        api.login()
        for name, slots in (("smsc", 2), ("duckdb", 1)):  # binds to the SMSC; one DuckDB writer
            create_pool(api, name, slots)
        out.print(f"Airflow is up in {time.monotonic() - started:.0f} s: http://127.0.0.1:{port} "
                  f"(login {LOGIN[0]} / {LOGIN[1]})")
        yield api
    finally:
        for process in (airflow, simulator):
            try:
                os.killpg(process.pid, signal.SIGTERM) if process is airflow else process.terminate()
                process.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL) if process is airflow else process.kill()
        log.close()


def create_pool(api, name: str, slots: int, timeout: float = 60) -> None:
    """An Airflow pool, created through the REST API; a busy metadata database (SQLite, a 500) is retried: without
    the pool the DAG's tasks would wait for ever."""
    started = time.monotonic()
    while True:
        status, answer = api.call("POST", "/api/v2/pools", {"name": name, "slots": slots})
        if status in (200, 201, 409):  # 409: it exists already
            return
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"Airflow refused to create the pool {name!r} ({status}): {answer}")
        time.sleep(1)


def run_airflow_demo(bucket: Path, rows: int, port: int, out: Console) -> None:
    """Trigger the sample campaign through the REST API, approve it as a user would, wait, show the results."""
    from pipelines.cli.tables import print_stats
    from pipelines.layout import CampaignPaths, campaign_folder_name
    from pipelines.report import campaign_stats

    bucket = bucket.resolve()
    spec_path, repliers = prepare_bucket(bucket, rows, out)
    started = time.monotonic()
    with running_stack(bucket, port, out, repliers) as api:
        wait_for_dag(api)
        run_id = trigger_campaign(api, str(spec_path.relative_to(bucket)))
        page = f"http://127.0.0.1:{port}/dags/sms_campaign/runs/{run_id}"
        out.print(f"Triggered run {run_id}: {page}")
        remaining = 600 - (time.monotonic() - started)
        answered = answer_approval(api, run_id, "Approve", timeout=remaining)
        if answered:
            status, request = answered
            out.print(f"\n[bold]Approval requested[/]: {request['subject']}\n{request['body']}\n"
                      f"(a person clicks Approve at {page}; the demo answers at once through the same REST API)")
            out.print(f"Approved ({status})")
        try:
            run = wait_for_run(api, run_id, timeout=max(1.0, 600 - (time.monotonic() - started)))
        except RuntimeError as error:
            raise RuntimeError(f"{error}; see {page}") from None
        state = run["state"]
        out.print(f"Run {run_id}: [bold]{state}[/] after {time.monotonic() - started:.0f} s"
                  + (f" — {run['note']}" if run.get("note") else ""))
        if state != "success":
            for line in failed_tasks(api, run_id):
                out.print(f"  task {line}")
    campaign = campaign_folder_name(run_id)  # as dags/sms_campaign.py names it
    database = bucket / "warehouse.duckdb"
    if state == "success":
        print_stats(campaign_stats(database, campaign), out)
        report = CampaignPaths.in_bucket(bucket, campaign).report
        out.print(f"CSV report: {report}\nDuckDB warehouse: {database}")
        query = f"SELECT status_code, count(*) FROM message_status WHERE campaign_id = '{campaign}' GROUP BY ALL"
        out.print(f'.venv/bin/python -c "import duckdb; duckdb.connect(\'{database}\', read_only=True)'
                  f'.sql(\\"{query}\\").show()"', soft_wrap=True, highlight=False, markup=False)
    else:
        raise RuntimeError(f"the campaign run {state}; see the task logs under "
                           f"{os.environ.get('SMSFLOW_AIRFLOW_HOME', ROOT / 'airflow_home')}/logs")


def serve_airflow(bucket: Path, port: int, out: Console) -> None:
    """`make airflow`: the stack stays up for a person to use the trigger form and the approval page."""
    bucket = bucket.resolve()
    spec_path, repliers = prepare_bucket(bucket, 1000, out)
    with running_stack(bucket, port, out, repliers):
        out.print(f"Trigger `sms_campaign` with {{\"spec_path\": \"{spec_path.relative_to(bucket)}\"}} or fill the "
                  f"form, then approve the test in the run's page. Ctrl-C stops everything.")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            out.print("Stopping …")
