"""Run the short-link service (URL-3..5): the app of pipelines.links.app on granian through its RSGI protocol
(default: a bare 302 costs granian's Rust HTTP layer ~16-19 µs of CPU through RSGI against ~21-23 µs through its
ASGI and ~27 µs on uvicorn, bench/links.py) or on uvicorn through ASGI, one process per worker, each with its own
index (memory-mapped, shared pages), its own click log segment (named by its pid) and its own plan poll thread
(the app's startup, which both servers run in every worker before it accepts: RSGI's __rsgi_init__, ASGI's
lifespan)."""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

SERVERS = ("granian", "uvicorn")
DEFAULT_SERVER = "granian"
# granian's settings for one worker a core (bench/links.py): a single-threaded Rust runtime (st; its I/O thread
# still hands each request to the Python thread: ~3 context switches a redirect on one core), at most this many requests in the
# Python app at once (granian's default, backlog / workers, lets 1,024 queue in the event loop: latency), and its
# Rust task implementation (Python 3.11: each request's coroutine is run by granian's scheduler, no asyncio Task;
# ~10 % less CPU time a redirect than asyncio's tasks, 3 alternating runs; granian calls it experimental and
# says so at start; SMSFLOW_GRANIAN_TASK_IMPL=asyncio goes back)
GRANIAN_RUNTIME_MODE = os.environ.get("SMSFLOW_GRANIAN_RUNTIME_MODE", "st")
GRANIAN_BACKPRESSURE = int(os.environ.get("SMSFLOW_GRANIAN_BACKPRESSURE", "64"))
GRANIAN_TASK_IMPL = os.environ.get("SMSFLOW_GRANIAN_TASK_IMPL", "rust")
GRANIAN_INTERFACE = os.environ.get("SMSFLOW_GRANIAN_INTERFACE", "rsgi")  # asgi: for bench/links.py's links-asgi


def planned_links(bucket: Path) -> tuple[int, int]:
    """(links, campaigns) the service will serve, read from the plans' Parquet footers (no data read)."""
    import pyarrow.parquet as pq

    from pipelines.links.index import LINKS_FILE, planned_campaigns

    campaigns = planned_campaigns(Path(bucket))
    links = 0
    for plan_dir, _ in campaigns.values():
        try:
            links += pq.ParquetFile(plan_dir / LINKS_FILE).metadata.num_rows
        except Exception:  # noqa: BLE001 - an unreadable plan is said by the server when it skips it
            continue
    return links, len(campaigns)


def _die_with_parent() -> None:
    """Linux: this worker process gets SIGKILL when the process that started it dies. granian's workers are
    child processes of its supervisor; without this a supervisor killed with SIGKILL would leave them serving
    (and holding their click segments' flocks) behind it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: nothing to do
        return
    if os.getppid() == 1:  # the parent died before the prctl
        os.kill(os.getpid(), signal.SIGKILL)


def create_worker_app():
    """The factory each granian worker calls: the app of pipelines.links.app, in a worker bound to its parent."""
    from pipelines.links.app import create_app

    _die_with_parent()
    return create_app()


def serve(bucket: Path, host: str = "127.0.0.1", port: int = 8090, workers: int = 1,
          lifetime_days: float | None = None, poll: float = 2.0, roll_seconds: float = 5.0,
          server: str = DEFAULT_SERVER) -> None:
    """Serve until interrupted (SIGINT/SIGTERM: each worker's lifespan shutdown closes its click segment)."""
    os.environ["SMSFLOW_BUCKET"] = str(Path(bucket).resolve())
    os.environ["SMSFLOW_LINKS_POLL"] = str(poll)
    os.environ["SMSFLOW_LINKS_ROLL"] = str(roll_seconds)
    if lifetime_days is not None:
        os.environ["SMSFLOW_LINKS_LIFETIME_DAYS"] = str(lifetime_days)
    else:
        os.environ.pop("SMSFLOW_LINKS_LIFETIME_DAYS", None)
    if server == "uvicorn":
        import uvicorn

        # uvloop and httptools: the fastest pair uvicorn offers (bench/links.py)
        uvicorn.run("pipelines.links.app:create_app", factory=True, host=host, port=port, workers=workers,
                    loop="uvloop", http="httptools", lifespan="on", access_log=False, log_level="warning",
                    server_header=False, date_header=False, timeout_graceful_shutdown=5)
        return
    if server != "granian":
        raise ValueError(f"unknown server {server!r}: one of {', '.join(SERVERS)}")
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops, RuntimeModes, TaskImpl
    from granian.log import LogLevels

    # RSGI: granian calls the app's __rsgi_init__ (index, poll thread, click log) in each worker process before
    # that worker accepts a connection, and answers only when the app hands it the response (response_empty /
    # response_bytes), after the click's os.write: the event reaches the kernel first, as through ASGI's send.
    Granian("pipelines.links.serve:create_worker_app", factory=True, address=host, port=port,
            interface=Interfaces(GRANIAN_INTERFACE), workers=workers, http=HTTPModes.http1, websockets=False,
            loop=Loops.uvloop, runtime_mode=RuntimeModes(GRANIAN_RUNTIME_MODE), backpressure=GRANIAN_BACKPRESSURE,
            task_impl=TaskImpl(GRANIAN_TASK_IMPL), log_access=False, log_level=LogLevels.warning,
            workers_kill_timeout=5).serve()
