"""The `demo` and `airflow` commands, added to `smsflow` through the `smsflow.commands` entry point so that the
command line (the core) never imports the demo."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def demo(
    bucket: Path = typer.Option(Path("bucket"), "--bucket", help="The local bucket folder."),
    rows: int = typer.Option(10_000, "--rows"),
    direct: bool = typer.Option(False, "--direct", help="Drive the campaign from pipelines, without Airflow."),
    port: int = typer.Option(8080, "--port", help="Airflow's port on 127.0.0.1."),
) -> None:
    """The main job on embedded defaults: a sample CRM export in the bucket, a whole campaign run by Airflow
    against the SMSC simulator, approved through the REST API, its statistics, report and DuckDB file."""
    if direct:
        from pipelines.demo.direct import run_demo

        run_demo(bucket, rows, Console())
        return
    from pipelines.demo.standalone import run_airflow_demo

    run_airflow_demo(bucket, rows, port, Console())


def airflow(
    bucket: Path = typer.Option(Path("bucket"), "--bucket"),
    port: int = typer.Option(8080, "--port"),
) -> None:
    """Airflow (standalone, SQLite) and the SMSC simulator, left running for the trigger form and approvals."""
    from pipelines.demo.standalone import serve_airflow

    serve_airflow(bucket, port, Console())


def register(app: typer.Typer) -> None:
    """Entry point `smsflow.commands`: add the demo's commands to the `smsflow` application."""
    app.command()(demo)
    app.command()(airflow)
