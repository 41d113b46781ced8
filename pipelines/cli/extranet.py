"""`smsflow console`: the web extranet (issue 14) on the account store, for the people who write and send campaigns."""

from __future__ import annotations

import typer

from pipelines.cli.app import app, console, store_option


@app.command("console")
def console_command(
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on; 0.0.0.0 opens it to other "
                                                         "machines (then put it behind HTTPS: --https)."),
    port: int = typer.Option(8070, "--port", help="The port (the short links take 8090)."),
    store: str = store_option(),
    airflow: str = typer.Option(None, "--airflow", envvar="SMSFLOW_AIRFLOW_URL", show_envvar=False,
                                help="Airflow's REST API (default: $SMSFLOW_AIRFLOW_URL), to start campaigns and "
                                     "answer their approval; its user and password come from "
                                     "$SMSFLOW_AIRFLOW_USER and $SMSFLOW_AIRFLOW_PASSWORD."),
    https: bool = typer.Option(False, "--https", help="Served behind HTTPS: cookies are marked Secure."),
) -> None:
    """The web extranet: log in, create and send campaigns, see their reports, manage users (admins)."""
    import uvicorn

    from pipelines.console import ConsoleSettings, create_app

    settings = ConsoleSettings.from_env(store_url=store, airflow_url=airflow, https=https or None)
    application = create_app(settings)
    console.print(f"smsflow console on http://{host}:{port} (Ctrl-C stops it); users: `smsflow users add`",
                  highlight=False, soft_wrap=True)
    uvicorn.run(application, host=host, port=port, log_level="warning", proxy_headers=https,
                server_header=False)
