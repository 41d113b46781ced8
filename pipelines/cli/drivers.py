"""Commands that start things: the SMSC simulator. The demo and a local Airflow join the command line through
the `smsflow.commands` entry point (pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from pipelines.cli.app import app, console


@app.command()
def smsc(
    host: str = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", min=0, max=65_535, help="TCP port (default 2775; 0 = any free port)."),
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
        from pipelines.failures import explain

        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()) if isinstance(
            error, ValidationError) else explain(error).message
        console.print(f"[bold red]Refused[/]: {escape(problems)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    run(settings)
