"""`make airflow`, `make trigger`, `make airflow-stop`: the local Airflow and the SMSC simulator left running for a
person (the trigger form, the approval page), a campaign triggered on it, and everything stopped again.

The running stack is written down in its AIRFLOW_HOME (`processes`), which is how `--trigger` finds its address
and bucket and `--stop` finds every process, from another terminal.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from pipelines.demo.bucket import prepare_bucket
from pipelines.demo.standalone import ADMIN, LOOPBACK, admin_password, airflow_home, check_port_free, \
    running_stack


def _prefix() -> str:
    """What a command printed for another terminal needs in front: the AIRFLOW_HOME, when it is not the default."""
    chosen = os.environ.get("SMSFLOW_AIRFLOW_HOME")
    return f"SMSFLOW_AIRFLOW_HOME={chosen} " if chosen else ""


def serve_airflow(bucket: Path, port: int, out: Console, host: str = LOOPBACK, rows: int = 1000) -> None:
    """The stack stays up until Ctrl-C, a plain `kill` or `smsflow airflow --stop`; the sample export and spec
    are written only when absent."""
    from pipelines.demo.processes import live_record

    bucket, home = bucket.resolve(), airflow_home()
    if (running := live_record(home)) is not None:
        raise ValueError(f"`smsflow airflow` already runs from {home} ({running.url}); stop it first with "
                         f"`{_prefix()}make airflow-stop`")
    check_port_free(host, port)  # before anything is written or started
    spec_path, repliers = prepare_bucket(bucket, rows, out, keep=True)
    spec = spec_path.relative_to(bucket)
    try:
        with running_stack(bucket, port, out, repliers, host=host, receiver=True) as api:
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
    out.print(f"Stopped Airflow ({record.url}), the SMSC simulator and the short-link service ({record.links}): "
              f"{running} still running, none is left.",
              soft_wrap=True, highlight=False)
