"""REP-3, PLUS-8 (issue 13): the lake with its Parquet files on S3 (a real moto_server), its catalog in SQLite (the
working copy's warehouse.sqlite, one machine) or PostgreSQL (a test database on 127.0.0.1:5432, shared by every
worker in the stack). A campaign loads, is queried (stats, the REP-2 CSV, `smsflow sql`, an earlier snapshot, an
analyst's read-only session), its data files are S3 objects, a reload changes nothing; an erasure leaves the number
in no S3 object and expires the files of the snapshots before it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from helpers import write_list, write_spec

from pipelines import lake, storage
from pipelines.plan import plan_file
from pipelines.report import campaign_stats, export_csv
from pipelines.storage import ObjectUrl
from pipelines.warehouse import connect, load_dispatch, load_plan, snapshot_version

RECIPIENTS = 400  # enough rows that a load writes Parquet files (DuckLake inlines the smallest in its catalog)
TARGET = "0600000007"  # the recipient an erasure test erases: +33600000007


def _campaign(folder: Path, delivered: int, campaign: str = "c") -> tuple[Path, Path, Path]:
    """A planned campaign of RECIPIENTS recipients, all submitted (a send ledger), the first `delivered` delivered."""
    import polars as pl

    from pipelines.dispatch import campaign_dirs
    from pipelines.dlr import EventWriter, keyed_rows, part_key

    rows = "".join(f"06{line:08d};P{line}\n" for line in range(1, RECIPIENTS + 1))
    write_list(folder / "a.csv", "Mobile;Prénom\n" + rows)
    plan_dir = plan_file(write_spec(folder, lists=["a.csv"]), folder / campaign / "plan").out_dir
    keys = dict(keyed_rows(pl.read_parquet(plan_dir / "recipients.parquet")).select("ID_LINE", "MESSAGE_KEY")
                .iter_rows())
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    ledger_dir.mkdir(parents=True, exist_ok=True)
    (ledger_dir / "batch-1.jsonl").write_text("".join(
        json.dumps({"key": part_key(keys[line], 1), "event": "accepted", "status": 0, "message_id": f"m-{line}",
                    "ts": 1_790_000_000 + line}) + "\n" for line in keys), "utf-8")
    writer = EventWriter(events_dir)
    for line in range(1, delivered + 1):
        writer.add(kind="receipt", message_id=f"m-{line}", stat="DELIVRD", handset="", text="", err="",
                   done_date="", service="36184")
    writer.flush()
    return plan_dir, ledger_dir, events_dir


@pytest.fixture(params=["sqlite", "postgres"])
def s3_lake(request, s3_server, tmp_path: Path, monkeypatch) -> tuple[str, ObjectUrl, Path]:
    """(location, the S3 prefix of its data, a local folder for the campaigns). SQLite: the catalog in the working
    copy of s3://<bucket>/tenant (pipelines.storage.mirror), its data in that bucket's warehouse/. PostgreSQL: a
    database of its own, SMSFLOW_WAREHOUSE_DATA=s3://<bucket>/tenant/warehouse."""
    monkeypatch.delenv("SMSFLOW_WAREHOUSE", raising=False)
    monkeypatch.delenv("SMSFLOW_WAREHOUSE_DATA", raising=False)
    data = ObjectUrl.parse(s3_server.url("tenant/warehouse"))
    lake.close_all()
    if request.param == "sqlite":
        from pipelines.storage import mirror

        monkeypatch.setenv("SMSFLOW_WORKDIR", str(tmp_path / "work"))
        root = mirror.working_root(s3_server.url("tenant"))
        yield str(root / "warehouse.sqlite"), data, root
        lake.close_all()
        return
    import psycopg

    base = request.getfixturevalue("postgres_server").replace("postgresql+psycopg://", "postgresql://")
    name = f"smsflow_lake_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("SMSFLOW_WAREHOUSE_DATA", str(data))
    try:
        yield f"{base}/{name}", data, tmp_path / "campaigns"
    finally:
        lake.close_all()
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _objects(data: ObjectUrl) -> list[str]:
    return sorted(str(url) for url in storage.listing(ObjectUrl(data.bucket, data.key + "/")))


def test_rep3_a_lake_with_its_data_on_s3_loads_answers_and_reloads_unchanged(s3_lake, tmp_path):
    location, data, folder = s3_lake
    assert lake.locate(location).data == data
    plan_dir, ledger_dir, events_dir = _campaign(folder / "c1", delivered=150)
    assert load_plan(location, "c1", plan_dir) == RECIPIENTS
    assert tuple(load_dispatch(location, "c1", ledger_dir, events_dir)) == (RECIPIENTS, 150)
    objects = _objects(data)
    assert objects and all(name.endswith(".parquet") for name in objects)
    assert any("/plan_recipients/" in name for name in objects), objects
    local = Path(location).with_suffix("") if not location.startswith("postgres") else None
    assert local is None or not local.exists()  # nothing written beside the catalog
    with connect(location, read_only=True) as analyst:  # an analyst's read-only session
        assert analyst.execute("SELECT count(*) FROM plan_recipients").fetchone() == (RECIPIENTS,)
        files = analyst.execute("SELECT data_file FROM ducklake_list_files('lake', 'plan_recipients')").fetchall()
        assert files and all(file.startswith(f"{data}/") for (file,) in files)
    stats = campaign_stats(location, "c1")
    assert (stats["delivered"], stats["rows"], stats["sent"]) == (150, RECIPIENTS, RECIPIENTS)
    assert export_csv(location, "c1", tmp_path / "c1.csv") == RECIPIENTS  # REP-2, read from S3
    assert "+33600000001" in (tmp_path / "c1.csv").read_text("utf-8-sig")
    before = snapshot_version(location)

    load_plan(location, "c1", plan_dir)  # idempotent: the same rows, newer files
    load_dispatch(location, "c1", ledger_dir, events_dir)
    assert campaign_stats(location, "c1") == stats
    assert campaign_stats(location, "c1", snapshot=before) == stats  # time travel reads the older files
    environment = dict(os.environ)
    if location.startswith("postgres"):  # as the stack names its lake: the catalog in SMSFLOW_WAREHOUSE
        environment["SMSFLOW_WAREHOUSE"], location = location, str(tmp_path / "warehouse.duckdb")
    command = [str(Path(sys.executable).with_name("smsflow")), "sql", "--db", location, "--csv",
               "SELECT campaign_id, delivered FROM campaign_stats"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180, env=environment)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["campaign_id,delivered", "c1,150"]


def test_plus8_an_erasure_leaves_the_number_in_no_s3_object_of_the_lake(s3_lake):
    from pipelines.erase_warehouse import erase_in_warehouse
    from pipelines.store import open_store
    from pipelines.store.erase import number_forms

    location, data, folder = s3_lake
    plan_dir, ledger_dir, events_dir = _campaign(folder / "c1", delivered=10)
    load_plan(location, "c1", plan_dir)
    load_dispatch(location, "c1", ledger_dir, events_dir)
    load_plan(location, "c1", plan_dir)  # an earlier snapshot's files hold it too

    def holding() -> list[str]:  # the objects whose rows hold the number (Parquet pages are compressed)
        import io

        import polars as pl

        found = []
        for name in _objects(data):
            frame = pl.read_parquet(io.BytesIO(storage.read_bytes(name)))
            if any(frame[column].str.contains("33600000007|0600000007").any()
                   for column in frame.select(pl.col(pl.String)).columns):
                found.append(name)
        return found

    before = set(_objects(data))
    assert len(holding()) >= 2
    foreign = data / "main" / "plan_recipients" / "ducklake-of-another-catalog.parquet"
    storage.write_bytes(foreign, storage.read_bytes(next(name for name in before if "/plan_recipients/" in name)))
    forms = number_forms(open_store(bucket=folder), TARGET)
    changed = erase_in_warehouse(location, forms)
    assert changed.get("plan_recipients.int_mobile") == 1
    # A SQLite catalog (one working copy's) leaves the files it does not know alone: another's may share the
    # prefix. The PostgreSQL catalog, the one of every worker, deletes them as orphans.
    assert storage.exists(foreign) == location.endswith(".sqlite")
    if storage.exists(foreign):
        storage.delete(foreign)
    assert holding() == []
    assert not before & set(_objects(data))  # every file of the earlier snapshots expired and deleted
    with connect(location, read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM lake.snapshots()").fetchone() == (1,)
        assert connection.execute("SELECT count(*) FROM plan_recipients WHERE int_mobile = ?",
                                  [forms.hash]).fetchone() == (1,)
    assert campaign_stats(location, "c1")["delivered"] == 10


def test_rep3_the_s3_secret_comes_from_the_aws_settings(monkeypatch):
    """httpfs reaches the bucket as the storage layer does: a custom endpoint by path, TLS as its URL says."""
    from pipelines.lake_data import secret_parameters

    for name in ("AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5123")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    url = ObjectUrl.parse("s3://lake-bucket/tenant/warehouse")
    assert secret_parameters(url) == {
        "scope": "s3://lake-bucket", "key_id": "id", "secret": "secret", "session_token": "", "region": "eu-west-3",
        "endpoint": "127.0.0.1:5123", "url_style": "path", "use_ssl": False}
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://minio.example:9000/")
    assert secret_parameters(url)["session_token"] == "token"
    assert (secret_parameters(url)["endpoint"], secret_parameters(url)["use_ssl"]) == ("minio.example:9000", True)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert (secret_parameters(url)["endpoint"], secret_parameters(url)["url_style"]) == ("s3.amazonaws.com", "vhost")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "127.0.0.1:5123")
    with pytest.raises(ValueError, match="AWS_ENDPOINT_URL='127.0.0.1:5123'.*REP-3"):
        secret_parameters(url)


def test_rep3_where_a_lakes_data_is_when_the_bucket_is_on_s3(tmp_path, monkeypatch):
    """An s3:// SMSFLOW_WAREHOUSE_DATA is a SQLite lake's data too (a local one stays the PostgreSQL catalog's); a
    PostgreSQL catalog named by URL keeps its data in an s3:// SMSFLOW_BUCKET's warehouse/."""
    monkeypatch.delenv("SMSFLOW_WAREHOUSE", raising=False)
    monkeypatch.delenv("SMSFLOW_BUCKET", raising=False)
    monkeypatch.setenv("SMSFLOW_WAREHOUSE_DATA", str(tmp_path / "elsewhere"))
    assert lake.locate(tmp_path / "warehouse.sqlite").data == tmp_path / "warehouse"
    monkeypatch.setenv("SMSFLOW_WAREHOUSE_DATA", "s3://lake-bucket/tenant/warehouse/")
    assert lake.locate(tmp_path / "warehouse.sqlite").data == ObjectUrl.parse("s3://lake-bucket/tenant/warehouse")
    data, catalog = lake.owned_files(tmp_path / "warehouse.sqlite")  # PLUS-8: what an erasure leaves to the lake
    assert (data, catalog[0]) == (ObjectUrl.parse("s3://lake-bucket/tenant/warehouse"), tmp_path / "warehouse.sqlite")
    monkeypatch.delenv("SMSFLOW_WAREHOUSE_DATA")
    monkeypatch.setenv("SMSFLOW_BUCKET", "s3://lake-bucket/tenant")
    assert lake.locate("postgresql://smsflow@db/lake").data == ObjectUrl.parse("s3://lake-bucket/tenant/warehouse")


def test_rep3_the_commands_on_an_s3_bucket_load_and_report_from_another_working_copy(s3_server, tmp_path,
                                                                                       monkeypatch):
    """SMSFLOW_BUCKET=s3://…: `smsflow load c1` in a working copy that never saw the campaign pulls its folder from
    S3 and loads it into the working copy's lake (data on S3); stats, sql and report read it; the report lands on
    S3."""
    from helpers import smsflow_here

    from pipelines.storage import mirror

    url = s3_server.url("tenant").rstrip("/")
    for name in ("SMSFLOW_WAREHOUSE", "SMSFLOW_WAREHOUSE_DATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMSFLOW_BUCKET", url)
    monkeypatch.setenv("SMSFLOW_DB", f"sqlite:///{tmp_path / 'smsflow.db'}")
    monkeypatch.setenv("SMSFLOW_WORKDIR", str(tmp_path / "worker-1"))
    first = mirror.working_root(url)
    _campaign(first / "campaigns", delivered=120, campaign="c1")
    mirror.push(first, "campaigns/c1")
    monkeypatch.setenv("SMSFLOW_WORKDIR", str(tmp_path / "worker-2"))
    lake.close_all()
    result = smsflow_here("load", "c1")
    assert result.returncode == 0, result.stderr
    second = tmp_path / "worker-2"
    assert (second / "warehouse.sqlite").is_file() and not (second / "warehouse").exists()
    result = smsflow_here("stats", "c1", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["delivered"] == 120
    result = smsflow_here("sql", "--csv", "SELECT count(*) AS n FROM plan_recipients")
    assert (result.returncode, result.stdout.split()) == (0, ["n", str(RECIPIENTS)]), result.stderr
    result = smsflow_here("report", "c1")
    assert result.returncode == 0, result.stderr
    written = second / "campaigns" / "c1" / "report" / "c1.csv"
    assert storage.read_bytes(ObjectUrl.parse(f"{url}/campaigns/c1/report/c1.csv")) == written.read_bytes()
    assert any("/plan_recipients/" in name for name in _objects(ObjectUrl.parse(f"{url}/warehouse")))
