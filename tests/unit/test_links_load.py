"""URL-3, URL-4: the links service's micro-batches loaded into the warehouse's `clicks` table, and its views."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from pipelines.events import load_event_batches
from pipelines.links.clicks import CLICKS_SCHEMA, events_folder
from pipelines.links.load import load_campaign_clicks, load_click_batches
from pipelines.warehouse import connect, in_bucket

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def batch(bucket: Path, name: str, rows: list[tuple]) -> Path:
    """A rolled micro-batch: (campaign, id_line, link, kind, bot, seconds after T0) per event."""
    folder = events_folder(bucket)
    folder.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame({
        "token": [f"T{c}{line}{link}" for c, line, link, *_ in rows], "campaign_id": [r[0] for r in rows],
        "ref_list": ["crm.csv"] * len(rows), "id_line": [r[1] for r in rows], "link": [r[2] for r in rows],
        "kind": [r[3] for r in rows], "at": [T0 + timedelta(seconds=r[5]) for r in rows],
        "agent_class": ["crawler:whatsapp" if r[4] else "person" for r in rows], "bot": [r[4] for r in rows],
        "ip_prefix": ["192.0.2.0/24"] * len(rows), "user_agent": ["UA"] * len(rows)}, schema=CLICKS_SCHEMA)
    frame.write_parquet(folder / name)
    return folder / name


def test_url3_new_batches_load_once_and_the_views_count_people_and_previews_apart(tmp_path):
    bucket = tmp_path / "bucket"
    database = in_bucket(bucket)
    batch(bucket, "w-1-1.parquet", [("soldes", 1, 1, "click", False, 0), ("soldes", 1, 1, "click", False, 5),
                                    ("soldes", 1, 2, "click", False, 9), ("soldes", 2, 1, "preview", True, 1),
                                    ("soldes", 2, 1, "preview", False, 3)])  # a HEAD: a preview, not a click
    first = load_click_batches(database, bucket)
    assert (first.events, first.batches, first.campaigns) == (5, 1, ("soldes",))
    assert load_click_batches(database, bucket).events == 0  # the table is the checkpoint
    batch(bucket, "w-1-2.parquet", [("soldes", 2, 1, "click", False, 20), ("autre", 7, 1, "click", False, 2)])
    second = load_click_batches(database, bucket)
    assert (second.events, second.campaigns) == (2, ("autre", "soldes"))
    again = load_click_batches(database, bucket, sorted(events_folder(bucket).glob("*.parquet")))
    assert again.events == 7  # loaded again on purpose: each file's rows replaced, never doubled
    assert load_campaign_clicks(database, bucket, "soldes") == 6  # smsflow load: one campaign, idempotent
    with connect(database, read_only=True) as connection:
        assert connection.sql("SELECT count(*), count(DISTINCT batch) FROM clicks").fetchone() == (7, 2)
        clicks = connection.sql("SELECT id_line, link, first_click, clicks FROM link_clicks "
                                "WHERE campaign_id = 'soldes' ORDER BY ALL").fetchall()
        previews = connection.sql("SELECT id_line, first_preview, previews FROM recipient_previews "
                                  "WHERE campaign_id = 'soldes'").fetchall()
    assert clicks == [(1, 1, T0, 2), (1, 2, T0 + timedelta(seconds=9), 1), (2, 1, T0 + timedelta(seconds=20), 1)]
    assert previews == [(2, T0 + timedelta(seconds=1), 2)]


def test_url3_the_receivers_loader_loads_clicks_without_any_receipt(tmp_path):
    """`smsflow receive --load` and the sms_events DAG call load_event_batches: the clicks come on their own."""
    bucket = tmp_path / "bucket"
    batch(bucket, "w-9-1.parquet", [("soldes", 3, 1, "click", False, 0)])
    loaded = load_event_batches(bucket, [])
    assert (loaded.events, loaded.clicks, loaded.campaigns) == (0, 1, ("soldes",))
    assert "1 click or preview" in loaded.describe()
    assert load_event_batches(bucket, []).clicks == 0


def test_url3_a_single_file_warehouse_takes_clicks_too(tmp_path):
    bucket = tmp_path / "bucket"
    batch(bucket, "w-2-1.parquet", [("soldes", 1, 1, "click", False, 0), ("soldes", 1, 1, "preview", True, 1)])
    database = tmp_path / "warehouse.duckdb"
    assert load_click_batches(database, bucket).events == 2
    assert load_campaign_clicks(database, bucket, "soldes") == 2
    with connect(database, read_only=True) as connection:
        assert connection.sql("SELECT count(*) FROM clicks").fetchone() == (2,)


def test_url3_announced_click_batches_start_a_run_that_loads_them_with_the_receipts(tmp_path):
    """`smsflow receive --announce`: a new click batch is announced as an event of the Asset smsflow://events (the
    Airflow REST call itself is replaced here: tests/dags/test_sms_events.py runs the real one); the sms_events DAG
    hands the announced files to load_event_batches, which loads clicks from them, never as receipts."""
    from pipelines.events import AirflowAnnouncer

    bucket = tmp_path / "bucket"
    batch(bucket, "w-1-1.parquet", [("soldes", 1, 1, "click", False, 0)])  # there before the receiver started
    announcer = AirflowAnnouncer("http://admin:secret@127.0.0.1:9", bucket)
    posted: list[list[str]] = []
    announcer._post = posted.append
    assert announcer([]) == 0
    batch(bucket, "w-1-2.parquet", [("soldes", 2, 1, "click", False, 1)])
    assert announcer([]) == 1 and posted == [["events/links/w-1-2.parquet"]]
    assert announcer([]) == 0  # announced once
    loaded = load_event_batches(bucket, [bucket / name for name in posted[0]])
    assert (loaded.events, loaded.clicks, loaded.campaigns) == (0, 2, ("soldes",))  # every click file not loaded yet


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a priority is a thread's on Linux only")
def test_issue11_click_loads_are_background_work_like_every_load(tmp_path, monkeypatch):
    """URL-3 with issue 11: a click load runs SMSFLOW_LOAD_NICE steps below its caller, as plan and dispatch
    loads do, so an analyst's query keeps the cores."""
    import os
    import threading

    import pipelines.warehouse as warehouse

    priority = lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # noqa: E731
    seen, real = [], warehouse._write
    monkeypatch.setattr(warehouse, "_write", lambda *args, **kwargs: (seen.append(priority()),
                                                                      real(*args, **kwargs))[1])
    monkeypatch.setenv("SMSFLOW_LOAD_NICE", "5")
    bucket = tmp_path / "bucket"
    batch(bucket, "w-1-1.parquet", [("soldes", 1, 1, "click", False, 0)])
    before = priority()
    assert load_click_batches(in_bucket(bucket), bucket).events == 1
    assert load_campaign_clicks(in_bucket(bucket), bucket, "soldes") == 1
    assert seen == [min(before + 5, 19)] * 2 and priority() == before
