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
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from pipelines.demo.bucket import prepare_bucket, query_command, simulator_config
from pipelines.demo.rest import AirflowApi, answer_approval, failed_tasks, trigger_campaign, wait_for_dag, \
    wait_for_run

ROOT = Path(__file__).resolve().parents[2]  # the repository: dags/, airflow_home/
LOOPBACK = "127.0.0.1"
ADMIN = "admin"  # the simple auth manager's one user; its password is new at each start
PASSWORDS_FILE = "passwords.json"  # in AIRFLOW_HOME, readable by its owner only: Airflow reads the password there


def airflow_home() -> Path:
    """The local Airflow's AIRFLOW_HOME: $SMSFLOW_AIRFLOW_HOME, else airflow_home/ in the repository."""
    return Path(os.environ.get("SMSFLOW_AIRFLOW_HOME", ROOT / "airflow_home")).resolve()


def local_address(host: str) -> str:
    """The address this machine reaches an API server bound to `host` at (a wildcard is reached on loopback)."""
    return LOOPBACK if host in ("0.0.0.0", "::", "") else host


def admin_password(home: Path) -> str:
    """The password the running stack gave its admin (`smsflow airflow --trigger` logs in with it)."""
    return json.loads((home / PASSWORDS_FILE).read_text(encoding="utf-8"))[ADMIN]


def airflow_environment(home: Path, bucket: Path, smsc_url: str, port: int, password: str,
                        host: str = LOOPBACK) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / PASSWORDS_FILE
    passwords.touch(mode=0o600)
    passwords.chmod(0o600)
    passwords.write_text(json.dumps({ADMIN: password}), encoding="utf-8")
    local = f"http://{local_address(host)}:{port}"
    return {
        # self-contained: no Airflow setting of the calling shell (another AIRFLOW_HOME's database, say) leaks in
        **{name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")},
        "PATH": os.pathsep.join([str(airflow_launcher(home).parent), str(Path(sys.executable).parent),
                                 os.environ.get("PATH", "")]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",  # the Airflow CLI's own default
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",  # user:role
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__HOST": host,  # Airflow's default is 0.0.0.0: every interface
        "AIRFLOW__API__PORT": str(port),
        # One secret for every component: left to each, they may generate different ones on a fresh home,
        # and the API server then refuses the tasks' tokens (seen under load).
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "600",
        # A task's calls to the API server wait up to 60 s (default 5 s): on a loaded 2-core machine the API server
        # on SQLite was seen silent ~50 s while a task started, and the task's supervisor killed it.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        "AIRFLOW__API__BASE_URL": local if host not in ("0.0.0.0", "::") else f"http://{socket.getfqdn()}:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{local}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        # A campaign is a chain of short tasks: an idle scheduler that wakes every second adds up to a second
        # between each task and the next (Airflow's default, for hundreds of DAGs); a quarter of one here.
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": os.environ.get("AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME",
                                                                        "0.25"),
        **bucket_environment(bucket, home),
        "SMSFLOW_RECEIPT_TIMEOUT": "15",
        "AIRFLOW_CONN_SMSC_DEFAULT": smsc_url,
        # The run writes its outcome as the run's note through the REST API (smsflow_provider AirflowApiHook).
        "AIRFLOW_CONN_AIRFLOW_API": f"http://{ADMIN}:{password}@{local_address(host)}:{port}",
        # Airflow 3.3.2 fails a task resumed within a second of its pause (apache/airflow #71580, #72716).
        "AIRFLOW__CORE__EXECUTOR": "smsflow_provider.executors.local.SettledLocalExecutor",
    }


def bucket_environment(bucket: Path, home: Path) -> dict[str, str]:
    """SMSFLOW_BUCKET for Airflow's tasks: the folder, or the s3:// URL its working copy mirrors. On S3 the tasks
    get a working copy of their own (AIRFLOW_HOME/working-copy: they meet this process through S3 only) when the
    account store and the lake catalog are shared (SMSFLOW_DB, SMSFLOW_WAREHOUSE); else this one, which holds
    the SQLite store and catalog they must share."""
    from pipelines.storage import remote_of

    remote = remote_of(bucket)
    if remote is None:
        return {"SMSFLOW_BUCKET": str(bucket)}
    shared = os.environ.get("SMSFLOW_DB") and os.environ.get("SMSFLOW_WAREHOUSE")
    return {"SMSFLOW_BUCKET": str(remote), "SMSFLOW_WORKDIR": str(home / "working-copy" if shared else bucket)}


def airflow_launcher(home: Path) -> Path:
    """The `airflow` command `airflow standalone` starts its components with (it finds it on PATH): the scheduler
    and the triggerer without their log servers, which listen on every interface (ports 8793 and 8794, whatever
    the API server's address) and are not needed here: the API server reads the task logs in AIRFLOW_HOME/logs."""
    launcher = home / "bin" / "airflow"
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(f"""#!/bin/sh
# written by smsflow airflow (pipelines/demo/standalone.py): no log server on every interface
case "$1" in
  scheduler|triggerer) exec "{sys.executable}" -m airflow "$@" --skip-serve-logs ;;
esac
exec "{sys.executable}" -m airflow "$@"
""", encoding="utf-8")
    launcher.chmod(0o755)
    return launcher


def check_port_free(host: str, port: int) -> None:
    """Refuse at once a port another program holds (else Airflow's API server fails in its log, minutes later)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe, socket.socket(family) as caller:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a just-closed port is free
        try:
            probe.bind((host, port))
            held = caller.connect_ex((local_address(host), port)) == 0
        except OSError:
            held = True
        if held:
            raise ValueError(f"port {port} on {host} is already in use (another program, or an Airflow already "
                             f"running): choose another one with PORT=... (make) or --port") from None


@contextmanager
def signals(handler):
    """SIGINT, SIGTERM and SIGHUP handled by `handler` for the block (main thread only: elsewhere Python
    delivers no signal)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, saved in previous.items():
            signal.signal(number, saved)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # a plain `kill` or a closed terminal stops the stack exactly as Ctrl-C does


@contextmanager
def running_stack(bucket: Path, port: int, out: Console, smsc_replies: list[str] | None = None,
                  home: Path | None = None, host: str = LOOPBACK, receiver: bool = False):
    """The SMSC simulator, `airflow standalone` (in a session of its own), bound to `host`, with a new random
    admin password, and the short-link service (`smsflow links serve` on 127.0.0.1, port 8090 or a free one, in a
    session of its own, URL-3); with `receiver`, the long-lived `smsflow receive BUCKET/events --announce` too (late receipts
    and replies announced to the sms_events DAG, issue 11). Every process started is recorded in AIRFLOW_HOME
    (`smsflow airflow --stop`) and stopped on the way out, also on SIGTERM or SIGHUP."""
    from pipelines.demo.links import LINKS_LOG, start_links, stop_links
    from pipelines.demo.processes import STACK_FILE, StackRecord, session_members, started, terminate, \
        write_record
    from pipelines.smpp.simulator import start_process

    home = (home or airflow_home()).resolve()
    check_port_free(host, port)
    password = secrets.token_urlsafe(12)
    with signals(_interrupt):
        config = simulator_config(bucket, smsc_replies or [])
        simulator, smsc_port = start_process(config, bucket / "smsc")
        airflow, log, listener, links = None, None, None, None
        try:
            out.print(f"SMSC simulator on 127.0.0.1:{smsc_port} (log: {config.log})")
            home.mkdir(parents=True, exist_ok=True)
            links, links_url = start_links(bucket, home / LINKS_LOG)
            sessions = [started(links.pid)]  # Airflow's session comes first once it runs
            write_record(home, StackRecord(owner=started(os.getpid()), sessions=sessions,
                                           children=[started(simulator.pid)], links=links_url, bucket=str(bucket)))
            out.print(f"Short links: `smsflow links serve` on {links_url} (log: {home / LINKS_LOG}); the demo's "
                      f"smsf.link/<token> links are clicked there as {links_url}/<token>", soft_wrap=True,
                      highlight=False)
            environment = airflow_environment(home, bucket, f"smpp://smsflow:smsflow@127.0.0.1:{smsc_port}", port,
                                              password, host)
            log = (home / "standalone.log").open("w", encoding="utf-8")
            airflow = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=environment, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
            leader = started(airflow.pid)
            sessions.insert(0, leader)
            url = f"http://{local_address(host)}:{port}"
            write_record(home, StackRecord(owner=started(os.getpid()), sessions=sessions,
                                           children=[started(simulator.pid)], url=url, bucket=str(bucket),
                                           links=links_url))
            api = AirflowApi(url)
            out.print(f"Starting Airflow (AIRFLOW_HOME={home}, log: {home / 'standalone.log'}) …")
            began = time.monotonic()
            while not api.healthy():
                if airflow.poll() is not None or time.monotonic() - began > 300:
                    raise RuntimeError(f"Airflow did not start; see {home / 'standalone.log'}")
                time.sleep(2)
            api.login(ADMIN, password)
            for name, slots in (("smsc", 2), ("duckdb", 1)):  # binds to the SMSC; one DuckDB writer
                create_pool(api, name, slots)
            reach = ("listening on 127.0.0.1: this machine only" if host == LOOPBACK else
                     f"listening on {host}: [bold red]other machines can reach it[/]")
            out.print(f"Airflow is up in {time.monotonic() - began:.0f} s: [bold]{url}[/] ({reach})\n"
                      f"Log in as [bold]{ADMIN}[/], password [bold]{password}[/] (new at each start)",
                      soft_wrap=True, highlight=False)
            if receiver:
                listener = start_receiver(bucket, home, environment)
                write_record(home, StackRecord(owner=started(os.getpid()), sessions=sessions,
                                               children=[started(simulator.pid), started(listener.pid)], url=url,
                                               bucket=str(bucket), links=links_url))
                out.print(f"Late receipts and replies: `smsflow receive --announce` (log: {home / RECEIVER_LOG}) "
                          f"hands them to the sms_events DAG, which loads them within a minute", soft_wrap=True,
                          highlight=False, markup=False)
            yield api
        finally:
            with signals(signal.SIG_IGN):  # a second Ctrl-C must not leave half of the stack running
                if listener is not None:  # first: its last micro-batches are announced while Airflow still runs
                    stop_receiver(listener)
                if airflow is not None:  # the session: standalone, its components, the task processes they fork
                    terminate(session_members(leader))
                    airflow.wait()
                if links is not None:  # its workers close and roll their click segments
                    stop_links(links)
                simulator.terminate()
                try:
                    simulator.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    simulator.kill()
                    simulator.wait()
                (home / STACK_FILE).unlink(missing_ok=True)
                if log is not None:
                    log.close()


RECEIVER_LOG = "receiver.log"  # in AIRFLOW_HOME: the long-lived receiver's counts and announces


def start_receiver(bucket: Path, home: Path, environment: dict[str, str]) -> subprocess.Popen:
    """`smsflow receive BUCKET/events --announce` with the stack's environment (the SMSC connection, Airflow's API
    as AIRFLOW_CONN_AIRFLOW_API): bound to the simulator for as long as the stack runs (issue 11, PLUS-4)."""
    from urllib.parse import urlsplit

    smsc = urlsplit(environment["AIRFLOW_CONN_SMSC_DEFAULT"])
    with (home / RECEIVER_LOG).open("w", encoding="utf-8") as log:
        return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "receive", str(bucket / "events"), "--smsc",
                                 smsc.geturl(), "--announce"], env=environment, stdout=log, stderr=subprocess.STDOUT,
                                cwd=ROOT)


def stop_receiver(listener: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (the receiver flushes and announces what it holds, as on Ctrl-C), SIGKILL after `timeout` seconds."""
    listener.terminate()
    try:
        listener.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        listener.kill()
        listener.wait()


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


def run_airflow_demo(bucket: Path | str, rows: int, port: int, out: Console) -> None:
    """Trigger the sample campaign through the REST API, approve it as a user would, wait, show the results; on
    the Airflow `smsflow airflow` keeps running when there is one (it stays up), else on a stack of its own.
    `bucket`: a folder, or `s3://bucket/prefix` (issue 13: the export and spec pushed there, the run's tasks
    working on S3 through their working copy, the report read from S3)."""
    from pipelines.campaign import WAREHOUSE
    from pipelines.cli.tables import print_stats
    from pipelines.demo.links import load_clicks
    from pipelines.demo.processes import live_record, read_record
    from pipelines.layout import CampaignPaths, campaign_folder_name
    from pipelines.report import campaign_stats
    from pipelines.storage import pull_folder, push, remote_of, working_root

    bucket = working_root(bucket).resolve()
    on_s3 = remote_of(bucket) is not None
    home = airflow_home()
    running = live_record(home)
    if running is not None and Path(running.bucket) != bucket:
        raise ValueError(f"the Airflow that `smsflow airflow` runs ({running.url}) works on the bucket "
                         f"{running.bucket}, not {bucket}: give --bucket {running.bucket}, or stop it first "
                         f"(make airflow-stop)")
    spec_path, repliers = prepare_bucket(bucket, rows, out)
    spec = str(spec_path.relative_to(bucket))
    for prefix in ("incoming/clients-vip.csv", "specs"):  # on S3: where the run's tasks read them
        push(bucket, prefix)
    if on_s3:
        out.print(f"    The export and the spec are on S3: {remote_of(bucket)}/ (working copy: {bucket})",
                  soft_wrap=True, highlight=False)
    began = time.monotonic()
    database = bucket / WAREHOUSE  # where the run's tasks load (pipelines.campaign)
    if running is not None:
        out.print(f"Airflow already runs at {running.url} (`smsflow airflow`): the demo uses it and leaves it up")
        api = AirflowApi(running.url)
        api.login(ADMIN, admin_password(home))
        run_id, run = follow_campaign(api, running.url, spec, began, out)
        clicked = click_campaign(bucket, run_id, run, running.links, out)
    else:
        with running_stack(bucket, port, out, repliers) as api:
            run_id, run = follow_campaign(api, f"http://{LOOPBACK}:{port}", spec, began, out)
            clicked = click_campaign(bucket, run_id, run, read_record(home).links, out)
    campaign = campaign_folder_name(run_id)  # as dags/sms_campaign.py names it
    if run["state"] != "success":
        raise RuntimeError(f"the campaign run {run['state']}; see the task logs under {home}/logs")
    if clicked:
        load_clicks(bucket, database, campaign, clicked, out)
    print_stats(campaign_stats(database, campaign), out)
    paths = CampaignPaths.in_bucket(bucket, campaign)
    pull_folder(paths.root)  # on S3: the run's folder as its tasks left it there
    report = remote_of(paths.report) or paths.report
    out.print(f"CSV report: {report}\nWarehouse (a DuckLake, sql/README.md): {database}", soft_wrap=True)
    out.print(query_command(database, campaign), soft_wrap=True, highlight=False, markup=False)


def click_campaign(bucket: Path, run_id: str, run: dict, links_url: str, out: Console) -> int:
    """URL-3, URL-4: after a successful run, a few of its short links clicked on the stack's links service as a
    person and as WhatsApp (the demo's smsf.link links do not resolve on the Internet); the events answered."""
    from pipelines.demo.links import click_links
    from pipelines.layout import CampaignPaths, campaign_folder_name

    from pipelines.storage import remote_of

    if run["state"] != "success" or not links_url or remote_of(bucket) is not None:
        return 0  # on S3 the links service of this host has no copy of the campaign's links (issue 13)
    out.print(f"\nA few of the campaign's short links clicked on `smsflow links serve` ({links_url}):", soft_wrap=True,
              highlight=False)
    return click_links(links_url, CampaignPaths.in_bucket(bucket, campaign_folder_name(run_id)).plan, out)


def follow_campaign(api: AirflowApi, url: str, spec: str, began: float, out: Console) -> tuple[str, dict]:
    """Trigger a campaign on `spec` (relative to the bucket), show its approval request (rendered) and approve it
    as a person would on the run's page, wait for the end; returns the run id and the run."""
    from rich.markdown import Markdown

    wait_for_dag(api)
    run_id = trigger_campaign(api, spec)
    page = f"{url}/dags/sms_campaign/runs/{run_id}"
    out.print(f"Triggered run {run_id}: {page}", soft_wrap=True)
    answered = answer_approval(api, run_id, "Approve", timeout=600 - (time.monotonic() - began))
    if answered:
        status, request = answered
        out.print(f"\n[bold]Approval requested[/]: {request['subject']}")
        out.print(Markdown(request["body"] or ""))
        out.print(f"(a person clicks Approve at {page}; the demo answers at once through the same REST API)",
                  soft_wrap=True)
        out.print(f"Approved ({status})")
    try:
        run = wait_for_run(api, run_id, timeout=max(1.0, 600 - (time.monotonic() - began)))
    except RuntimeError as error:
        raise RuntimeError(f"{error}; see {page}") from None
    out.print(f"Run {run_id}: [bold]{run['state']}[/] after {time.monotonic() - began:.0f} s"
              + (f" — {run['note']}" if run.get("note") else ""), soft_wrap=True)
    if run["state"] != "success":
        for line in failed_tasks(api, run_id):
            out.print(f"  task {line}")
    return run_id, run
