"""Commands that start things: the SMSC simulator, the demo, a local Airflow."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.cli.app import app, console


@app.command()
def demo(
    bucket: Path = typer.Option(Path("bucket"), "--bucket", help="The local bucket folder."),
    rows: int = typer.Option(10_000, "--rows"),
    direct: bool = typer.Option(False, "--direct", help="Drive the campaign from pipelines, without Airflow."),
    port: int = typer.Option(8080, "--port", help="Airflow's port on 127.0.0.1."),
) -> None:
    """The main job on embedded defaults: a sample CRM export in the bucket, a whole campaign run by Airflow
    against the SMSC simulator, approved through the REST API, its statistics, report and DuckDB file."""
    console_out = Console()
    if direct:
        from pipelines.demo import run_demo

        run_demo(bucket, rows, console_out)
        return
    from pipelines.airflow_demo import run_airflow_demo

    run_airflow_demo(bucket, rows, port, console_out)


@app.command()
def airflow(
    bucket: Path = typer.Option(Path("bucket"), "--bucket"),
    port: int = typer.Option(8080, "--port"),
) -> None:
    """Airflow (standalone, SQLite) and the SMSC simulator, left running for the trigger form and approvals."""
    from pipelines.airflow_demo import serve_airflow

    serve_airflow(bucket, port, Console())


@app.command()
def smsc(
    host: str = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="TCP port (default 2775; 0 = any free port)."),
    config: Path = typer.Option(None, "--config", help="YAML or TOML file of simulator settings."),
    log: Path = typer.Option(None, "--log", help="JSON-lines log of every part, message, receipt and reply."),
    users: list[str] = typer.Option(None, "--user", help="system_id:password (repeatable)."),
    id_format: str = typer.Option(None, "--id-format", help="decimal or hex message ids."),
    tps: int = typer.Option(None, "--tps", help="submit_sm per second per bind before ESME_RTHROTTLED."),
    receipt_delay: float = typer.Option(None, "--receipt-delay", help="Seconds before the final receipt."),
    receipts: str = typer.Option(None, "--receipts", help="stored (kept for the next bind, default) or session "
                                                         "(only the submitting session; lost if it dies)."),
    bind_delay: float = typer.Option(None, "--bind-delay", help="Seconds before answering a bind (WAN SMSC)."),
) -> None:
    """Run the SMPP 3.4 SMSC simulator (receipts, replies, throttling; see pipelines/smpp/simulator/)."""
    from pydantic import ValidationError

    from pipelines.smpp.simulator import SmscConfig, run

    try:
        overrides = {"host": host, "port": port, "log": log, "message_id_format": id_format, "tps_per_bind": tps,
                     "receipt_delay": receipt_delay, "receipts": receipts, "bind_delay": bind_delay,
                     "users": dict(user.split(":", 1) for user in users) if users else None}
        settings = SmscConfig.from_file(config, **overrides) if config else SmscConfig.model_validate(
            {key: value for key, value in overrides.items() if value is not None})
    except (ValueError, OSError) as error:  # field and message only: pydantic's text would echo the passwords
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()) if isinstance(
            error, ValidationError) else str(error)
        console.print(f"[bold red]Refused[/]: {escape(problems)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    run(settings)
