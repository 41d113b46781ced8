"""Run the short-link service (URL-3..5): uvicorn with the plain ASGI app of pipelines.links.app, one process
per worker, each with its own index (memory-mapped, shared pages) and its own click log."""

from __future__ import annotations

import os
from pathlib import Path


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


def serve(bucket: Path, host: str = "127.0.0.1", port: int = 8090, workers: int = 1,
          lifetime_days: float | None = None, poll: float = 2.0, roll_seconds: float = 5.0) -> None:
    """Serve until interrupted. uvloop and httptools: the fastest pair uvicorn offers (bench/links.py)."""
    import uvicorn

    os.environ["SMSFLOW_BUCKET"] = str(Path(bucket).resolve())
    os.environ["SMSFLOW_LINKS_POLL"] = str(poll)
    os.environ["SMSFLOW_LINKS_ROLL"] = str(roll_seconds)
    if lifetime_days is not None:
        os.environ["SMSFLOW_LINKS_LIFETIME_DAYS"] = str(lifetime_days)
    else:
        os.environ.pop("SMSFLOW_LINKS_LIFETIME_DAYS", None)
    uvicorn.run("pipelines.links.app:create_app", factory=True, host=host, port=port, workers=workers,
                loop="uvloop", http="httptools", lifespan="on", access_log=False, log_level="warning",
                server_header=False, date_header=False, timeout_graceful_shutdown=5)
