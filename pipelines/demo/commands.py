"""The `demo` and `airflow` commands, added to `smsflow` through the `smsflow.commands` entry point so that the
command line (the core) never imports the demo."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console


def demo(
    bucket: str = typer.Option("bucket", "--bucket", envvar="SMSFLOW_BUCKET", show_envvar=False,
                               help="The bucket: a folder, or s3://bucket/prefix (the run's files on S3, worked on "
                                    "through a local working copy; default: $SMSFLOW_BUCKET, else ./bucket)."),
    rows: int = typer.Option(10_000, "--rows", help="Contacts in the sample CRM export (written anew each run)."),
    direct: bool = typer.Option(False, "--direct", help="Drive the campaign from pipelines, without Airflow."),
    port: int = typer.Option(8080, "--port", help="Airflow's port on 127.0.0.1 (when `smsflow airflow` runs, the "
                                                  "demo runs on it instead)."),
) -> None:
    """The main job on embedded defaults: a sample CRM export in the bucket, a whole campaign run by Airflow
    against the SMSC simulator, approved through the REST API, its statistics, report and DuckDB file (on the
    Airflow `smsflow airflow` keeps running, if any, else on one of its own, stopped at the end)."""
    from pipelines.storage import is_url

    if direct:
        if is_url(bucket):
            raise ValueError(f"--direct runs in one process on a local bucket folder, not {bucket}: leave out "
                             "--direct to run the campaign through Airflow on S3")
        from pipelines.demo.direct import run_demo

        run_demo(Path(bucket), rows, _console())
        return
    from pipelines.demo.standalone import run_airflow_demo

    run_airflow_demo(bucket if is_url(bucket) else Path(bucket), rows, port, _console())


def airflow(
    bucket: Path = typer.Option(Path("bucket"), "--bucket", help="The local bucket folder."),
    port: int = typer.Option(8080, "--port", help="Airflow's port."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="The address Airflow listens on; 0.0.0.0 opens it to other machines."),
    rows: int = typer.Option(1_000, "--rows", help="Contacts in the sample export, when there is none yet."),
    console_port: int = typer.Option(8081, "--console-port",
                                     help="The web extranet's port (smsflow console, on 127.0.0.1; a free one "
                                          "when taken)."),
    stop: bool = typer.Option(False, "--stop", help="Stop the running `smsflow airflow` and all it started."),
    trigger: str = typer.Option(None, "--trigger", metavar="SPEC", show_default=False,
                                help="Trigger a campaign on the running Airflow: a spec in its bucket, "
                                     "e.g. specs/soldes-vip.yaml."),
) -> None:
    """Airflow (standalone, SQLite), the SMSC simulator and the web extranet (smsflow console), left running for
    the trigger form, approvals and campaigns run from a browser: on 127.0.0.1 with new admin passwords at each
    start, until Ctrl-C or `smsflow airflow --stop`."""
    if stop:
        from pipelines.demo.serve import stop_airflow

        stop_airflow(_console())
        return
    if trigger is not None:
        from pipelines.demo.serve import trigger as trigger_run

        trigger_run(trigger, _console())
        return
    from pipelines.demo.serve import serve_airflow

    serve_airflow(bucket, port, _console(), host=host, rows=rows, console_port=console_port)


def _console() -> Console:
    """Output for a person: wrapped to a terminal's width, never hard-wrapped into a pipe or file (paths and URLs
    stay whole for the next command)."""
    return Console(soft_wrap=not sys.stdout.isatty())


def register(app: typer.Typer) -> None:
    """Entry point `smsflow.commands`: add the demo's commands to the `smsflow` application."""
    app.command()(demo)
    app.command()(airflow)
