"""Clicks and previews into the warehouse (URL-3, URL-4, REP-1, REP-2): the links service's Parquet micro-batches
(`<bucket>/events/links/*.parquet`, pipelines.links.clicks.roll) loaded into the `clicks` table.

Each row keeps the name of the file it came from (`batch`), and a file is loaded by deleting its rows and inserting
them again in one transaction: loading a file twice changes nothing. The table is its own checkpoint: the files
whose name it does not hold yet are the new ones, recorded by the very transaction that loads them (no side file
to lose or to get ahead of the lake). Callers: `pipelines.events.load_event_batches` (`smsflow receive --load`, the
`sms_events` DAG) for every new file of the bucket, and `smsflow load` for one campaign's clicks from all of them.
DuckDB reads the files itself (read_parquet): no row passes through Python.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from pipelines.links.clicks import events_folder
from pipelines.queries import queries

log = logging.getLogger(__name__)
LOCK = ".load.lock"  # in events/links: one click load at a time per bucket (see _one_at_a_time)


@contextlib.contextmanager
def _one_at_a_time(bucket: Path):
    """An exclusive flock on the bucket's click folder for the load: DuckLake lets two transactions append to one
    table side by side, so the receiver loading a new file while `smsflow load` re-loads its campaign would both
    insert its rows (neither saw the other's); taking turns, each deletes what the other inserted first."""
    import fcntl

    folder = events_folder(bucket)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK).open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class ClickLoad:
    """What a load of click batches did: events (clicks and previews) loaded, files, the campaigns they concern."""

    events: int = 0
    batches: int = 0
    campaigns: tuple[str, ...] = ()


def batch_files(bucket: Path) -> list[Path]:
    """The bucket's rolled micro-batches, oldest first (their names start with the segment's worker, pid, time)."""
    folder = events_folder(bucket)
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def load_click_batches(database, bucket: Path, files: list[Path] | None = None) -> ClickLoad:
    """The micro-batches of `bucket` the warehouse does not hold yet (or `files`, loaded again whatever it holds)
    into its `clicks` table, in one transaction; what was loaded. No file: the warehouse is not even opened. Run as
    background work, as every load (pipelines.warehouse.in_background: SMSFLOW_LOAD_NICE)."""
    from pipelines.warehouse import in_background

    return in_background(lambda: _load_click_batches(database, bucket, files))


def _load_click_batches(database, bucket: Path, files: list[Path] | None) -> ClickLoad:
    from pipelines.warehouse import _write, connect

    given = files is not None
    files = [Path(file) for file in (files if given else batch_files(bucket)) if Path(file).is_file()]
    if not files:
        return ClickLoad()
    sql = queries("links.sql")
    with _one_at_a_time(bucket), connect(database) as connection:
        if not given:
            loaded = {row[0] for row in connection.execute(sql["loaded_batches"]).fetchall()}
            files = [file for file in files if file.name not in loaded]
        if not files:
            return ClickLoad()
        names, paths = [file.name for file in files], [str(file) for file in files]
        counted: list[int] = []

        def body(connection) -> None:
            counted.clear()
            connection.execute(sql["delete_batches"], {"batches": names})
            counted.append(connection.execute(sql["insert_batches"], {"files": paths}).fetchone()[0])

        _write(connection, body)
        campaigns = tuple(row[0] for row in connection.execute(sql["batch_campaigns"], {"batches": names}).fetchall())
    log.info("%d click(s) and preview(s) from %d micro-batch(es) loaded: campaign(s) %s [URL-3, URL-4]",
             counted[0], len(files), ", ".join(campaigns) or "none")
    return ClickLoad(counted[0], len(files), campaigns)


def load_campaign_clicks(database, bucket: Path, campaign_id: str) -> int:
    """A campaign's clicks and previews, from every micro-batch of `bucket`, replacing those the warehouse held
    (idempotent, one transaction, as background work); how many."""
    from pipelines.warehouse import in_background

    return in_background(lambda: _load_campaign_clicks(database, bucket, campaign_id))


def _load_campaign_clicks(database, bucket: Path, campaign_id: str) -> int:
    from pipelines.warehouse import _write, connect

    paths = [str(file) for file in batch_files(bucket)]
    sql = queries("links.sql")
    counted = [0]

    def body(connection) -> None:
        connection.execute(sql["delete_campaign"], {"campaign_id": campaign_id})
        if paths:
            counted[0] = connection.execute(sql["insert_campaign"],
                                            {"files": paths, "campaign_id": campaign_id}).fetchone()[0]

    with _one_at_a_time(bucket), connect(database) as connection:
        _write(connection, body)
    return counted[0]
