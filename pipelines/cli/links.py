"""`smsflow links serve`: the short-link redirect service (URL-3, URL-4, URL-5)."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines.cli.app import app, console, plural

group = typer.Typer(help="Tracked short links (URL-1..5): the redirect and preview service.", no_args_is_help=True)
app.add_typer(group, name="links")


@group.command("serve")
def serve_command(
    bucket: Path = typer.Option(Path("bucket"), "--bucket", envvar="SMSFLOW_BUCKET", show_envvar=False,
                                help="The bucket whose planned campaigns are served (bucket/campaigns/*/plan)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 behind a proxy only)."),
    port: int = typer.Option(8090, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (one core each)."),
    lifetime_days: float = typer.Option(None, "--lifetime-days", min=0,
                                        help="Links older than this many days after their plan answer 410 "
                                             "(default: only each link's own expires_at)."),
    poll: float = typer.Option(2.0, "--poll", min=0.1, help="Seconds between two looks for new or re-planned "
                                                             "campaigns (their plan markers)."),
    roll: float = typer.Option(5.0, "--roll", min=0.1, help="Seconds between two rolls of the click log into "
                                                             "bucket/events/links/*.parquet."),
    server: str = typer.Option("granian", "--server", help="HTTP server: granian (Rust HTTP layer, the faster, "
                                                          "bench/links.py) or uvicorn."),
) -> None:
    """Serve `GET /<token>` for every campaign planned under the bucket: a person gets a 302 to the link's
    target, a preview crawler (WhatsApp, iMessage, Android Messages, ...) the OpenGraph page; each answer is
    recorded (bucket/links/log, rolled to bucket/events/links). New campaigns are served without a restart."""
    from pipelines.links.serve import SERVERS, planned_links, serve

    if server not in SERVERS:
        raise typer.BadParameter(f"one of {', '.join(SERVERS)}", param_hint="--server")

    links, campaigns = planned_links(bucket)
    console.print(f"Short links: serving {plural(links, 'link')} of {plural(campaigns, 'campaign')} from "
                  f"{bucket}/campaigns on http://{host}:{port} ({plural(workers, 'worker')} on {server}; new plans are "
                  f"picked up every {poll:g} s)", highlight=False, soft_wrap=True)
    serve(bucket, host=host, port=port, workers=workers, lifetime_days=lifetime_days, poll=poll,
          roll_seconds=roll, server=server)
