"""`make airflow`, `make trigger`, `make airflow-stop`: the local Airflow and the SMSC simulator left running for a
person (the trigger form, the approval page), the web extranet (`smsflow console`, issue 14) on the same bucket and
store, a campaign triggered on it, and everything stopped again.

The running stack is written down in its AIRFLOW_HOME (`processes`), which is how `--trigger` finds its address
and bucket and `--stop` finds every process, from another terminal.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from contextlib import contextmanager
from dataclasses import replace

from rich.console import Console
from rich.markup import escape

from pipelines.demo.bucket import prepare_bucket
from pipelines.demo.standalone import ADMIN, LOOPBACK, ROOT, admin_password, airflow_home, check_port_free, \
    running_stack


CONSOLE_PORT = 8081  # the extranet's port under `make airflow` (Airflow 8080, short links 8090); a free one if taken
CONSOLE_LOG = "console.log"  # in AIRFLOW_HOME
CONSOLE_LOGIN = "admin@demo.example"  # the demo account's administrator in the extranet (USER-4)


def _prefix() -> str:
    """What a command printed for another terminal needs in front: the AIRFLOW_HOME, when it is not the default."""
    chosen = os.environ.get("SMSFLOW_AIRFLOW_HOME")
    return f"SMSFLOW_AIRFLOW_HOME={chosen} " if chosen else ""


def serve_airflow(bucket: Path, port: int, out: Console, host: str = LOOPBACK, rows: int = 1000,
                  console_port: int = CONSOLE_PORT) -> None:
    """The stack stays up until Ctrl-C, a plain `kill` or `smsflow airflow --stop`; the sample export and spec
    are written only when absent. The extranet listens on 127.0.0.1 (`console_port`, or a free one when taken)."""
    from pipelines.demo.processes import live_record

    bucket, home = bucket.resolve(), airflow_home()
    if (running := live_record(home)) is not None:
        raise ValueError(f"`smsflow airflow` already runs from {home} ({running.url}); stop it first with "
                         f"`{_prefix()}make airflow-stop`")
    check_port_free(host, port)  # before anything is written or started
    spec_path, repliers = prepare_bucket(bucket, rows, out, keep=True)
    spec = spec_path.relative_to(bucket)
    try:
        with running_stack(bucket, port, out, repliers, host=host, receiver=True) as api, \
                running_console(bucket, api.base, console_port, out):
            out.print(f"\nBucket: {bucket} (the campaign spec {spec}, its list incoming/clients-vip.csv)\n"
                      f"Trigger the sample campaign, then approve its test message on the run's page:\n"
                      f"    {_prefix()}make trigger SPEC={spec}\n"
                      f"or  {_prefix()}.venv/bin/smsflow airflow --trigger {spec}\n"
                      f"or  AIRFLOW_HOME={shlex.quote(str(home))} .venv/bin/airflow dags trigger sms_campaign "
                      f"--conf '{json.dumps({'spec_path': str(spec)})}'\n"
                      f"or fill the form at {api.base}/dags/sms_campaign/trigger\n"
                      f"Short links of the campaigns planned in the bucket: {_links(home)}/<token> "
                      f"(`smsflow links serve`, log: {home / 'links.log'})\n"
                      f"Stop everything: Ctrl-C here, or from another terminal `{_prefix()}make airflow-stop` "
                      f"(= {_prefix()}.venv/bin/smsflow airflow --stop)", soft_wrap=True, highlight=False,
                      markup=False)
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    out.print("Stopped: Airflow, the SMSC simulator and the short-link service are no longer running.")
    out.print("Stopped: the console (smsflow console) is no longer running.")


def console_login(bucket: Path) -> str:
    """A new password, at each start, for the demo account's console administrator (made on the first start, in
    the store the DAG runs use): like Airflow's admin, printed once for the person at the terminal (USER-1)."""
    from pipelines.demo.bucket import DEMO_ACCOUNT
    from pipelines.store import open_store
    from pipelines.store.users import create_user, find_login, set_password, temporary_password

    engine = open_store(bucket=bucket)
    password = temporary_password()
    with engine.connect() as connection:
        row = find_login(connection, CONSOLE_LOGIN)
    if row is None:
        create_user(engine, DEMO_ACCOUNT, CONSOLE_LOGIN, password, role="admin", first_name="Admin",
                    last_name="Démo")
    else:
        set_password(engine, row.id, password)
    return password


def _smsc_address(home: Path) -> str | None:
    """host:port of the stack's SMSC simulator (its recorded process's listening socket), for the console's SMS
    login codes (USER-2: the product sends them through its own SMPP connection)."""
    import psutil

    from pipelines.demo.processes import read_record

    record = read_record(home)
    for child in record.children if record is not None else ():
        try:
            listening = [connection.laddr for connection in psutil.Process(child.pid).net_connections("inet")
                         if connection.status == psutil.CONN_LISTEN]
        except psutil.Error:
            continue
        if listening:
            return f"{listening[0].ip}:{listening[0].port}"
    return None


@contextmanager
def running_console(bucket: Path, airflow_url: str, port: int, out: Console):
    """`smsflow console` on 127.0.0.1 for the stack's bucket and store, speaking to its Airflow with the admin's
    password (given through the environment, never on a command line), in a session of its own recorded with the
    stack (`smsflow airflow --stop` stops it); stopped on the way out."""
    import httpx

    from pipelines.demo.links import free_links_port
    from pipelines.demo.processes import read_record, started, write_record

    home = airflow_home()
    port = free_links_port(LOOPBACK, port)
    password = console_login(bucket)
    environment = {**os.environ, "SMSFLOW_BUCKET": str(bucket), "SMSFLOW_AIRFLOW_URL": airflow_url,
                   "SMSFLOW_AIRFLOW_USER": ADMIN, "SMSFLOW_AIRFLOW_PASSWORD": admin_password(home),
                   "SMSFLOW_OUTBOX": str(bucket / "outbox")}
    if (smsc := _smsc_address(home)) is not None:
        environment["SMSFLOW_SMSC"] = smsc
    with (home / CONSOLE_LOG).open("w", encoding="utf-8") as log:
        process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "console", "--host", LOOPBACK,
                                    "--port", str(port)], env=environment, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=ROOT)
    try:
        record = read_record(home)
        write_record(home, replace(record, sessions=[*record.sessions, started(process.pid)]))
        url, began = f"http://{LOOPBACK}:{port}", time.monotonic()
        while not _answers(httpx, f"{url}/login"):
            if process.poll() is not None or time.monotonic() - began > 120:
                raise RuntimeError(f"the console did not start; see {home / CONSOLE_LOG}")
            time.sleep(0.3)
        out.print(f"Console (the extranet, smsflow console): {url} (listening on 127.0.0.1: this machine only; "
                  f"log: {home / CONSOLE_LOG})\nLog in as {CONSOLE_LOGIN}, password {password} (new at each "
                  f"start); emails (login codes) land in {bucket / 'outbox'}", soft_wrap=True, highlight=False,
                  markup=False)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(httpx, url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _links(home: Path) -> str:
    from pipelines.demo.processes import read_record

    record = read_record(home)
    return record.links if record is not None else "?"


def trigger(spec: str, out: Console) -> str:
    """`smsflow airflow --trigger SPEC`: one campaign run on the running stack, as its form would start it;
    returns the run id."""
    from pipelines.demo.processes import live_record
    from pipelines.demo.rest import AirflowApi, trigger_campaign, wait_for_dag

    home = airflow_home()
    running = live_record(home)
    if running is None:
        raise ValueError(f"no Airflow started by `smsflow airflow` runs from {home}: start it with "
                         f"`{_prefix()}make airflow` first")
    bucket = Path(running.bucket)
    relative = in_bucket(spec, bucket)
    api = AirflowApi(running.url)
    api.login(ADMIN, admin_password(home))
    wait_for_dag(api, timeout=120)  # parsed within seconds of a start
    run_id = trigger_campaign(api, relative)
    out.print(f"Triggered run {escape(run_id)} of sms_campaign on {escape(relative)}: approve its test message at "
              f"{running.url}/dags/sms_campaign/runs/{escape(run_id)}", soft_wrap=True, highlight=False)
    return run_id


def in_bucket(spec: str, bucket: Path) -> str:
    """The spec's path relative to the bucket (how the DAG reads `spec_path`), given relative to the bucket or as a
    path to the file (from here, or absolute)."""
    given = Path(spec)
    if not given.is_absolute() and (bucket / given).is_file():
        return given.as_posix()
    found = given.resolve()
    if found.is_file() and found.is_relative_to(bucket):
        return found.relative_to(bucket).as_posix()
    raise ValueError(f"no campaign spec {spec} in the bucket {bucket} (give its path relative to the bucket, "
                     f"e.g. specs/soldes-vip.yaml)")


def stop_airflow(out: Console) -> None:
    """`smsflow airflow --stop`: the running `smsflow airflow` stops as on Ctrl-C; whatever it left (killed
    with SIGKILL, say) is stopped too."""
    from pipelines.demo.processes import stop_recorded

    home = airflow_home()
    record, count = stop_recorded(home)
    if record is None:
        out.print(f"Nothing to stop: no `smsflow airflow` recorded in {home}", soft_wrap=True, highlight=False)
        return
    running = "1 process was" if count == 1 else f"{count} processes were"
    out.print(f"Stopped Airflow ({record.url}), the SMSC simulator, the short-link service ({record.links}) and "
              f"the console: {running} still running, none is left.",
              soft_wrap=True, highlight=False)
