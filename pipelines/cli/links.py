"""`smsflow links serve`: the short-link redirect service (URL-3, URL-4, URL-5). With the bucket on S3 (issue 13)
it serves from its local working copy, kept in step by a thread: campaigns and tombstones pulled, rolled click
batches pushed, every few seconds and once more on the way out."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import typer

from pipelines.cli.app import app, console, plural

group = typer.Typer(help="Tracked short links (URL-1..5): the redirect and preview service.", no_args_is_help=True)
app.add_typer(group, name="links")


@group.command("serve")
def serve_command(
    bucket: str = typer.Option("bucket", "--bucket", envvar="SMSFLOW_BUCKET", show_envvar=False,
                               help="The bucket whose planned campaigns are served (bucket/campaigns/*/plan): a "
                                    "folder or s3://bucket/prefix."),
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
    from pipelines.storage import working_root

    if server not in SERVERS:
        raise typer.BadParameter(f"one of {', '.join(SERVERS)}", param_hint="--server")

    given, bucket = bucket, working_root(bucket)
    with _synced_with_s3(bucket, poll):
        links, campaigns = planned_links(bucket)
        console.print(f"Short links: serving {plural(links, 'link')} of {plural(campaigns, 'campaign')} from "
                      f"{given}/campaigns on http://{host}:{port} ({plural(workers, 'worker')} on {server}; new plans "
                      f"are picked up every {poll:g} s)", highlight=False, soft_wrap=True)
        serve(bucket, host=host, port=port, workers=workers, lifetime_days=lifetime_days, poll=poll,
              roll_seconds=roll, server=server)


# what the service reads: each plan's links, preview and marker (not its recipients), the erased links' tombstones
PULLED = {"campaigns": r"^campaigns/[^/]+/plan/(links\.parquet|preview\.(jpg|png)|\.smsflow-plan)$",
          "links/erased.parquet": None}
PUSHED = ("events/links",)  # the rolled click batches, for the lake's loads (URL-3)


@contextlib.contextmanager
def _synced_with_s3(root: Path, every: float):
    """A working copy of an s3:// bucket kept in step while the service runs (nothing for a local bucket)."""
    from pipelines.storage import pull, push, remote_of

    if remote_of(root) is None:
        yield
        return

    def sync() -> None:
        for prefix, only in PULLED.items():
            pull(root, prefix, only=only)
        for prefix in PUSHED:
            push(root, prefix)

    sync()
    stopped = threading.Event()

    def loop() -> None:
        while not stopped.wait(every):
            try:
                sync()
            except OSError as error:  # S3 unreachable for a moment: said, and tried again at the next turn
                console.print(f"[yellow]Sync with S3 failed[/]: {error}", highlight=False, soft_wrap=True)

    thread = threading.Thread(target=loop, name="smsflow-links-s3", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join(timeout=60)
        sync()  # the last batches the workers rolled on their way out
