"""REP-3 (issue 11): the warehouse as a DuckLake that analysts and loads share. Real processes, a real SQLite
catalog and a real PostgreSQL one: three campaigns load at once with nothing lost and no lock error; an analyst's
open read-only session neither blocks a load nor sees half of one; an earlier snapshot reproduces a report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from helpers import write_list, write_spec

from pipelines.plan import plan_file
from pipelines.report import campaign_report, campaign_stats, export_csv, write_csv
from pipelines.warehouse import connect, load_dispatch, load_plan, snapshot_version

CAMPAIGNS = ("c1", "c2", "c3")


def _campaign(bucket: Path, campaign: str, receipts: dict[int, str]) -> tuple[Path, Path, Path]:
    """A planned campaign of three recipients, all submitted (a send ledger), with these receipts (line → STAT)."""
    import polars as pl

    from pipelines.dispatch import campaign_dirs
    from pipelines.dlr import EventWriter, keyed_rows, part_key

    write_list(bucket / campaign / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Bob\n0633333333;Eve\n")
    plan_dir = plan_file(write_spec(bucket / campaign, lists=["a.csv"]), bucket / campaign / "c" / "plan").out_dir
    keys = dict(keyed_rows(pl.read_parquet(plan_dir / "recipients.parquet")).select("ID_LINE", "MESSAGE_KEY")
                .iter_rows())
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    ledger_dir.mkdir(parents=True, exist_ok=True)
    (ledger_dir / "batch-1.jsonl").write_text("".join(
        json.dumps({"key": part_key(keys[line], 1), "event": "accepted", "status": 0,
                    "message_id": f"{campaign}-{line}", "ts": 1_790_000_000 + line}) + "\n"
        for line in (1, 2, 3)), "utf-8")
    writer = EventWriter(events_dir)
    for line, stat in receipts.items():
        writer.add(kind="receipt", message_id=f"{campaign}-{line}", stat=stat, handset="", text="", err="",
                   done_date="", service="36184")
    writer.flush()
    return plan_dir, ledger_dir, events_dir


@pytest.fixture(params=["sqlite", "postgres"])
def lake_location(request, tmp_path: Path, monkeypatch) -> str:
    """A new lake: a SQLite catalog in the test's bucket, or a PostgreSQL database of its own (dropped after)."""
    if request.param == "sqlite":
        yield str(tmp_path / "bucket" / "warehouse.sqlite")
        return
    import psycopg

    base = request.getfixturevalue("postgres_server").replace("postgresql+psycopg://", "postgresql://")
    name = f"smsflow_lake_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("SMSFLOW_WAREHOUSE_DATA", str(tmp_path / "bucket" / "warehouse"))
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _loader(location: str, campaign: str, folders: tuple[Path, Path, Path], go: Path) -> subprocess.Popen:
    """Another process that loads one campaign (plan, then ledger and events) once `go` exists."""
    plan_dir, ledger_dir, events_dir = folders
    code = textwrap.dedent(f"""
        import pathlib, time
        from pipelines.warehouse import load_dispatch, load_plan
        print("ready", flush=True)
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.01)
        load_plan({location!r}, {campaign!r}, pathlib.Path({str(plan_dir)!r}))
        print(tuple(load_dispatch({location!r}, {campaign!r}, pathlib.Path({str(ledger_dir)!r}),
                                  pathlib.Path({str(events_dir)!r}))), flush=True)
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))


def _counts(location: str) -> list[tuple]:
    with connect(location, read_only=True) as connection:
        return connection.execute(
            "SELECT campaign_id, (SELECT count(*) FROM plan_recipients r WHERE r.campaign_id = s.campaign_id), "
            "(SELECT count(*) FROM parts p WHERE p.campaign_id = s.campaign_id), delivered "
            "FROM campaign_stats s ORDER BY campaign_id").fetchall()


def test_rep3_three_campaigns_load_at_once_with_nothing_lost(bucket, lake_location):
    """Three processes load three campaigns into one lake at the same moment: no lock error, every row there;
    loading them all again changes nothing."""
    folders = {campaign: _campaign(bucket, campaign, {1: "DELIVRD", 2: "UNDELIV"}) for campaign in CAMPAIGNS}
    connect(lake_location).close()  # the lake exists, as it does once a first campaign has loaded
    go = bucket / "go"
    loaders = [_loader(lake_location, campaign, folders[campaign], go) for campaign in CAMPAIGNS]
    for loader in loaders:
        assert loader.stdout.readline().strip() == "ready"
    go.touch()
    for loader in loaders:
        out, err = loader.communicate(timeout=300)
        assert loader.returncode == 0, err
        assert out.strip() == "(3, 2)"
        assert "lock" not in err.lower()
    expected = [(campaign, 3, 3, 1) for campaign in CAMPAIGNS]
    assert _counts(lake_location) == expected
    load_plan(lake_location, "c2", folders["c2"][0])  # loading a campaign again changes nothing
    load_dispatch(lake_location, "c2", *folders["c2"][1:])
    assert _counts(lake_location) == expected


def test_rep3_an_open_analyst_session_neither_blocks_a_load_nor_sees_half_of_it(bucket):
    """An analyst's read-only session, in the middle of a transaction, while another process loads a campaign:
    the load completes, the analyst keeps the snapshot it started from, and sees the load once it starts anew.
    A report kept from an earlier snapshot comes back the same (time travel)."""
    location = str(bucket / "warehouse.sqlite")
    plan_dir, ledger_dir, events_dir = _campaign(bucket, "c1", {1: "DELIVRD"})
    load_plan(location, "c1", plan_dir)
    load_dispatch(location, "c1", ledger_dir, events_dir)
    before, report_before = snapshot_version(location), campaign_report(location, "c1")
    assert campaign_stats(location, "c1")["delivered"] == 1

    analyst = connect(location, read_only=True)
    analyst.begin()
    assert analyst.execute("SELECT delivered FROM campaign_stats").fetchall() == [(1,)]
    c2 = _campaign(bucket, "c2", {1: "DELIVRD", 2: "DELIVRD"})
    _campaign(bucket, "c1", {2: "DELIVRD", 3: "UNDELIV"})  # late receipts for c1 (a second events file)
    go = bucket / "go"
    go.touch()
    loader = _loader(location, "c2", c2, go)  # another process
    load_plan(location, "c1", plan_dir)  # and this one, beside the analyst's session
    load_dispatch(location, "c1", ledger_dir, events_dir)
    out, err = loader.communicate(timeout=300)
    assert loader.returncode == 0, err
    assert analyst.execute("SELECT campaign_id, delivered FROM campaign_stats").fetchall() == [("c1", 1)]
    analyst.commit()
    assert analyst.execute("SELECT campaign_id, delivered FROM campaign_stats ORDER BY 1").fetchall() == [
        ("c1", 2), ("c2", 2)]
    analyst.close()

    assert not campaign_report(location, "c1").equals(report_before)
    assert campaign_report(location, "c1", snapshot=before).equals(report_before)
    assert campaign_stats(location, "c1", snapshot=before)["delivered"] == 1


def test_plus8_an_erased_number_stays_in_no_file_of_the_lake(bucket):
    """PLUS-8 on a lake: the number is replaced by its hash in the lake's tables (loads inlined in the catalog
    included), and no Parquet file, snapshot or free page of the SQLite catalog keeps it; the figures hold."""
    from pipelines.erase import erase_number
    from pipelines.store import open_store

    location = bucket / "warehouse.sqlite"
    plan_dir, ledger_dir, events_dir = _campaign(bucket, "c1", {1: "DELIVRD", 2: "DELIVRD"})
    load_plan(location, "c1", plan_dir)
    load_dispatch(location, "c1", ledger_dir, events_dir)
    load_plan(location, "c1", plan_dir)  # an earlier snapshot holds it too
    needles = [b"33622222222", b"0622222222"]

    def holding() -> list[str]:
        return sorted(str(path.relative_to(bucket)) for path in bucket.rglob("*")
                      if path.is_file() and any(needle in path.read_bytes() for needle in needles))

    assert "warehouse.sqlite" in holding()
    report = erase_number(open_store(bucket=bucket), "06 22 22 22 22", bucket=bucket)
    assert holding() == []
    assert report.warehouse and all(key.startswith("warehouse.sqlite:") for key in report.warehouse)
    assert campaign_stats(location, "c1")["delivered"] == 2
    with connect(location, read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM plan_recipients WHERE int_mobile = ?",
                                  [report.number_hash]).fetchone() == (1,)
        # REP-2's stored cells (formatted at plan load) written again from the erased row: the hash in them, and
        # the CSV export that joins them has the bytes of the rows' own formatting.
        assert connection.execute("SELECT count(*) FROM plan_recipients WHERE starts_with(report_head, ?)",
                                  [f"a.csv;2;{report.number_hash}"]).fetchone() == (1,)
    expected = write_csv(campaign_report(location, "c1"), bucket.parent / "rows.csv").read_bytes()
    assert export_csv(location, "c1", bucket.parent / "cells.csv") == 3
    assert (bucket.parent / "cells.csv").read_bytes() == expected


def test_rep3_the_demos_printed_query_works_while_another_campaign_loads(bucket):
    """The command both demos print at the end (`smsflow sql` on the bucket's lake), run as printed in a shell,
    while another process loads another campaign again and again: it answers every time, with the campaign's
    figures, and at least one run starts and ends inside the loads."""
    from pipelines.demo.bucket import query_command

    root = Path(__file__).resolve().parents[2]  # the checkout: the command names .venv/bin/smsflow
    location = bucket / "warehouse.sqlite"
    plan_dir, ledger_dir, events_dir = _campaign(bucket, "c1", {1: "DELIVRD", 2: "DELIVRD", 3: "UNDELIV"})
    load_plan(location, "c1", plan_dir)
    load_dispatch(location, "c1", ledger_dir, events_dir)
    c2 = _campaign(bucket, "c2", {1: "DELIVRD"})
    code = textwrap.dedent(f"""
        import pathlib, sys
        from pipelines.warehouse import load_dispatch, load_plan
        print("ready", flush=True)
        for _ in range(6):
            load_plan({str(location)!r}, "c2", pathlib.Path({str(c2[0])!r}))
            load_dispatch({str(location)!r}, "c2", pathlib.Path({str(c2[1])!r}), pathlib.Path({str(c2[2])!r}))
    """)
    loader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ))
    assert loader.stdout.readline().strip() == "ready"
    command, inside = query_command(location, "c1"), 0
    try:
        while loader.poll() is None:
            run = subprocess.run(["bash", "-c", command], cwd=root, capture_output=True, text=True, timeout=120)
            inside += loader.poll() is None  # the loads were running before it started and still are
            assert run.returncode == 0, run.stderr
            rows = [line.split() for line in run.stdout.splitlines() if any(ch.isdigit() for ch in line)]
            assert [[cell for cell in row if cell.isdigit()] for row in rows] == [["16", "2"], ["20", "1"]]
    finally:
        out, err = loader.communicate(timeout=300)
    assert loader.returncode == 0, err
    assert inside >= 1
