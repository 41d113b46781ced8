"""PLUS-4, REP-3 (issue 13): receipts and replies with the bucket on S3 (a real moto_server, the real SMSC simulator,
the lake's catalog in PostgreSQL as the stack's, its data on S3). The long-lived receiver uploads each micro-batch
as soon as written; its compaction's deletes reach S3; a loader in another working folder (another worker) pulls
what it needs and loads a late receipt into the lake."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import polars as pl
import pytest
from helpers import smsflow_here, write_list, write_spec

from pipelines import lake, storage
from pipelines.storage import ObjectUrl, mirror

CONTACTS = "Mobile;Texte\n0611111111;Bonjour Ann\n0622222222;Bonjour Bob\n0633333333;Bonjour Eve\n"


def _events_objects(url: str) -> list[str]:
    return sorted(str(item.name) for item in storage.listing(ObjectUrl.parse(url + "/events/")))


@pytest.fixture
def shared_lake(postgres_server, monkeypatch):
    """The stack's lake: a PostgreSQL catalog (a database of its own) in SMSFLOW_WAREHOUSE, the data in the S3
    bucket's warehouse/ (SMSFLOW_BUCKET)."""
    import psycopg

    base = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    name = f"smsflow_lake_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("SMSFLOW_WAREHOUSE", f"{base}/{name}")
    monkeypatch.delenv("SMSFLOW_WAREHOUSE_DATA", raising=False)
    lake.close_all()
    try:
        yield f"{base}/{name}"
    finally:
        lake.close_all()
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _working_copy(tmp_path: Path, monkeypatch, url: str, name: str) -> Path:
    monkeypatch.setenv("SMSFLOW_WORKDIR", str(tmp_path / name))
    return mirror.working_root(url)


@pytest.mark.parametrize("ledger", ["store", "files"])
def test_plus4_a_late_receipt_received_on_one_host_is_loaded_by_a_worker_of_another(ledger, smsc, s3_server,
                                                                                     shared_lake, tmp_path,
                                                                                     monkeypatch):
    """A campaign sent from worker 1's working copy (pushed to S3), gone before its receipts; the receiver, in a
    working copy of its own, writes them and each micro-batch is on S3 at once; its --load pulls the campaign from
    S3 and loads it; a loader in a third working copy (the sms_events DAG's task on another worker) pulls events/
    and the campaign and loads the same receipts again, unchanged, and writes the report back to S3. With the send
    ledger in the account store, a loader pulls only the folders of the campaigns the batches concern; with file
    ledgers (in the folders), every campaign folder."""
    from pipelines.dispatch import SmscSettings, receive
    from pipelines.events import LedgerIndex, load_event_batches
    from pipelines.events_s3 import load_announced, synced_loads
    from pipelines.report import campaign_stats, export_csv
    from pipelines.warehouse import load_plan

    url = s3_server.url("tenant").rstrip("/")
    monkeypatch.setenv("SMSFLOW_BUCKET", url)
    monkeypatch.setenv("SMSFLOW_LEDGER", ledger)
    monkeypatch.setenv("SMSFLOW_DB", f"sqlite:///{tmp_path / 'smsflow.db'}")  # the shared account store
    simulator = smsc(receipt_delay=1.5)
    worker = _working_copy(tmp_path, monkeypatch, url, "worker-1")
    write_list(worker / "inbox" / "list.csv", CONTACTS)
    spec = write_spec(worker / "inbox", lists=["list.csv"], message="${Texte}")
    plan_dir = worker / "campaigns" / "c1" / "plan"
    for command in (("plan", str(spec), "--out", str(plan_dir), "--no-contracts"),
                    ("send", str(plan_dir), "--smsc", simulator.url(linger=0.0))):  # gone before any receipt
        result = smsflow_here(*command)
        assert result.returncode == 0, (command, result.stderr)
    (worker / "campaigns" / "c1" / "report").mkdir(exist_ok=True)  # as the finish step: a report to write again
    (worker / "campaigns" / "c1" / "report" / "c1.csv").write_text("old")
    (worker / "campaigns" / "c0" / "plan").mkdir(parents=True)  # another campaign, which the receipts do not concern
    (worker / "campaigns" / "c0" / "plan" / "summary.json").write_text("{}")
    mirror.push(worker, "campaigns")
    database = worker / "warehouse.duckdb"  # any location: SMSFLOW_WAREHOUSE names the lake
    load_plan(database, "c1", plan_dir)  # the campaign's finish step, on worker 1

    receiver_root = _working_copy(tmp_path, monkeypatch, url, "receiver")
    index, loads = LedgerIndex(receiver_root), []

    def load(files):  # `smsflow receive --load`
        loads.append(load_event_batches(receiver_root, files, index=index))

    report = receive(SmscSettings.from_url(simulator.url()), receiver_root / "events", seconds=30,
                     until=lambda bound: bound.receipts >= 3, batches=synced_loads(receiver_root, index, load),
                     batches_every=0.5)
    assert report.receipts == 3
    written = sorted(path.name for path in (receiver_root / "events").glob("*.parquet"))
    assert written and set(written) <= set(_events_objects(url))  # every micro-batch on S3
    assert any("c1" in loaded.campaigns for loaded in loads), loads  # the receiver's own load pulled the campaign
    assert (receiver_root / "campaigns" / "c0").exists() == (ledger == "files")
    assert campaign_stats(database, "c1")["delivered"] == 3

    loader = _working_copy(tmp_path, monkeypatch, url, "worker-2")
    assert not (loader / "events").exists()
    loaded, _ = load_announced(loader, [])  # the sms_events task, run with no conf: the whole folder
    assert loaded.campaigns == ("c1",) and loaded.events == 3
    assert (loader / "campaigns" / "c0").exists() == (ledger == "files")
    assert campaign_stats(loader / "warehouse.duckdb", "c1")["delivered"] == 3
    assert export_csv(database, "c1", tmp_path / "c1.csv") == 3
    on_s3 = storage.read_bytes(ObjectUrl.parse(url + "/campaigns/c1/report/c1.csv"))
    assert on_s3 == (tmp_path / "c1.csv").read_bytes()  # the report written again, pushed back
    data = ObjectUrl.parse(url + "/warehouse")  # one lake: its catalog in PostgreSQL, its data on S3
    assert {lake.locate(where).data for where in (database, receiver_root / "warehouse.sqlite", loader / "x.duckdb")} == {data}
    with lake.connect(database) as connection:
        lake.flush_inlined(connection)  # three rows live in the catalog until written out
    assert any(str(item).endswith(".parquet") for item in storage.listing(ObjectUrl.parse(url + "/warehouse/")))


def test_plus4_a_compaction_on_s3_uploads_the_day_file_before_it_deletes_the_batches(s3_server, tmp_path,
                                                                                     monkeypatch):
    """The receiver's old micro-batches merged into the day file: the day file is on S3 and the merged batches'
    objects are gone; a loader's working copy pulled after holds every event once, in the day file."""
    from pipelines.compaction import compact_events
    from pipelines.dlr import EventWriter
    from pipelines.storage.uploads import BatchUploads

    url = s3_server.url("tenant").rstrip("/")
    root = _working_copy(tmp_path, monkeypatch, url, "receiver")
    uploads = BatchUploads(root / "events")
    writer = EventWriter(root / "events", "receiver-1")
    for number in range(3):
        writer.add(kind="receipt", message_id=f"m-{number}", stat="DELIVRD", handset="", text="", err="",
                   done_date="", service="36184")
        uploads.written(writer.flush())
    assert len(_events_objects(url)) == 3
    young = writer.directory / "receiver-1-young.parquet"
    pl.read_parquet(next(writer.directory.glob("*.parquet"))).write_parquet(young)
    uploads.written(young)
    old = time.time() - 7200
    for path in writer.directory.glob("*.parquet"):
        if path != young:
            os.utime(path, (old, old))
    done = compact_events(root / "events", older_than=3600, remote=uploads.remote)
    assert len(done.removed) == 3
    assert _events_objects(url) == sorted([done.written[0].name, young.name])
    loader = _working_copy(tmp_path, monkeypatch, url, "worker-2")
    mirror.pull(loader, "events")
    merged = pl.read_parquet(loader / "events" / done.written[0].name)
    assert sorted(merged.get_column("message_id").to_list()) == ["m-0", "m-1", "m-2"]


def test_plus4_a_batch_not_sent_is_sent_before_it_is_handed_on(s3_server, tmp_path, monkeypatch):
    """S3 not answering when a batch is written: the receiver keeps it and sends it before it hands it on; a batch
    a stopped run did not send is sent by the next run."""
    from pipelines.dlr import EventWriter
    from pipelines.storage.uploads import BatchUploads

    url = s3_server.url("tenant").rstrip("/")
    root = _working_copy(tmp_path, monkeypatch, url, "receiver")
    uploads = BatchUploads(root / "events")
    writer = EventWriter(root / "events", "receiver-1")
    writer.add(kind="reply", message_id="", stat="", handset="33611111111", text="STOP", err="", done_date="",
               service="36184")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    storage.forget_clients()
    path = writer.flush()
    uploads.written(path)
    assert uploads.pending == [path]
    with pytest.raises(OSError):
        uploads.send_pending()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    storage.forget_clients()
    uploads.send_pending()
    assert uploads.pending == [] and _events_objects(url) == [path.name]
    writer.add(kind="reply", message_id="", stat="", handset="33622222222", text="STOP", err="", done_date="",
               service="36184")
    unsent = writer.flush()  # written by a run that stopped before S3 took it
    again = BatchUploads(root / "events")  # the next run
    assert again.resume(root / "events") == 1 and again.pending == [unsent]
    again.written(None)
    assert _events_objects(url) == sorted([path.name, unsent.name])


def test_plus4_a_campaigns_wait_for_receipts_counts_those_the_receiver_of_another_host_took(smsc, s3_server,
                                                                                           tmp_path, monkeypatch):
    """The stack's long-lived receiver, on another host, takes the campaign's receipts (the SMSC gives each to one
    bind): the campaign's receipts step, in its worker's working copy, pulls the receiver's micro-batches from S3
    each turn and ends as soon as every part has its final receipt, not at the end of its wait."""
    from pipelines.receipts_wait import receipts_step
    from pipelines.dispatch import SmscSettings, receive

    url = s3_server.url("tenant").rstrip("/")
    monkeypatch.setenv("SMSFLOW_BUCKET", url)
    monkeypatch.setenv("SMSFLOW_DB", f"sqlite:///{tmp_path / 'smsflow.db'}")
    monkeypatch.setenv("SMSFLOW_LEDGER", "store")
    simulator = smsc(receipt_delay=0.5)
    worker = _working_copy(tmp_path, monkeypatch, url, "worker-1")
    write_list(worker / "inbox" / "list.csv", CONTACTS)
    spec = write_spec(worker / "inbox", lists=["list.csv"], message="${Texte}")
    plan_dir = worker / "campaigns" / "c1" / "plan"
    for command in (("plan", str(spec), "--out", str(plan_dir), "--no-contracts"),
                    ("send", str(plan_dir), "--smsc", simulator.url(linger=0.0))):  # gone before any receipt
        result = smsflow_here(*command)
        assert result.returncode == 0, (command, result.stderr)
    receiver_root = _working_copy(tmp_path, monkeypatch, url, "receiver")
    taken = receive(SmscSettings.from_url(simulator.url()), receiver_root / "events", seconds=30,
                    until=lambda bound: bound.receipts >= 3)
    assert taken.receipts == 3  # every receipt went to the receiver, none is left for the campaign's own bind
    storage_names = _events_objects(url)
    assert storage_names and not (worker / "events").exists()
    began = time.monotonic()
    waited = receipts_step(plan_dir, SmscSettings.from_url(simulator.url()), timeout=60, poll=0.5)
    assert waited == {"waiting": 0, "recipients": 3}
    assert time.monotonic() - began < 30  # ended by the receipts, not by the 60 s wait
    assert sorted(path.name for path in (worker / "events").glob("*.parquet")) == storage_names
