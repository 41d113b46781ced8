"""pipelines.storage.mirror on a real moto_server (issue 13): a bucket on S3 worked on through a local working copy,
two copies (two workers) kept in step through S3 only, deletions carried both ways, a local bucket untouched."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pipelines import storage
from pipelines.storage import ObjectUrl, mirror


@pytest.fixture
def bucket(s3_server) -> str:
    return s3_server.url("tenant")


def _copy(tmp_path: Path, monkeypatch, bucket: str, name: str) -> Path:
    monkeypatch.setenv("SMSFLOW_WORKDIR", str(tmp_path / name))
    return mirror.working_root(bucket)


def test_working_root_of_a_local_bucket_is_the_folder(tmp_path):
    assert mirror.working_root(tmp_path / "bucket") == tmp_path / "bucket"
    assert mirror.remote_of(tmp_path) is None
    with mirror.synced(tmp_path, "campaigns/c1") as folder:
        assert folder == tmp_path / "campaigns" / "c1"
    assert not (tmp_path / mirror.MARKER).exists()


def test_working_root_of_s3_is_marked_with_its_url(tmp_path, monkeypatch, bucket):
    monkeypatch.delenv("SMSFLOW_WORKDIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = mirror.working_root(bucket + "/")
    assert root.parent == tmp_path / "cache" / "smsflow" and root.name.startswith(bucket[5:].replace("/", "-"))
    assert mirror.remote_of(root) == ObjectUrl.parse(bucket)
    assert mirror.remote_of(root / "campaigns" / "c1") == ObjectUrl.parse(bucket + "/campaigns/c1")
    monkeypatch.setenv("SMSFLOW_WORKDIR", str(root))
    with pytest.raises(mirror.MirrorError, match="working copy of"):
        mirror.working_root(bucket + "-other")
    monkeypatch.setenv("SMSFLOW_BUCKET", bucket)
    assert mirror.local_bucket() == root


def test_two_working_copies_meet_through_s3_only(tmp_path, monkeypatch, bucket):
    first = _copy(tmp_path, monkeypatch, bucket, "worker-1")
    (first / "campaigns" / "c1" / "plan").mkdir(parents=True)
    (first / "campaigns" / "c1" / "plan" / "summary.json").write_text('{"rows": 2}')
    (first / "campaigns" / "c1" / "dispatch" / "ledger").mkdir(parents=True)
    (first / "campaigns" / "c1" / "dispatch" / "ledger" / "b0.jsonl").write_text("intent\n")
    (first / "campaigns" / "c1" / "dispatch" / "sender.lock").write_text("")  # a host's lock: never synced
    (first / "campaigns" / "c1" / ".x.tmp").write_text("half")
    (first / "campaigns" / "c10").mkdir()
    (first / "campaigns" / "c10" / "other").write_text("another campaign")
    assert mirror.push(first, "campaigns/c1") == mirror.SyncCount(2, 0)
    keys = {str(url) for url in storage.listing(ObjectUrl.parse(bucket))}
    assert keys == {f"{bucket}/campaigns/c1/plan/summary.json", f"{bucket}/campaigns/c1/dispatch/ledger/b0.jsonl"}
    assert mirror.push(first, "campaigns/c1") == mirror.SyncCount(0, 0)  # nothing changed: nothing sent

    second = _copy(tmp_path, monkeypatch, bucket, "worker-2")
    assert mirror.pull(second, "campaigns/c1") == mirror.SyncCount(2, 0)
    assert (second / "campaigns" / "c1" / "plan" / "summary.json").read_text() == '{"rows": 2}'
    assert not (second / "campaigns" / "c10").exists()
    # worker 2 changes a file and deletes another; worker 1 sees both after its pull
    (second / "campaigns" / "c1" / "plan" / "summary.json").write_text('{"rows": 3}')
    (second / "campaigns" / "c1" / "dispatch" / "ledger" / "b0.jsonl").unlink()
    assert mirror.push(second, "campaigns/c1") == mirror.SyncCount(1, 1)
    assert mirror.pull(first, "campaigns/c1") == mirror.SyncCount(1, 1)
    assert (first / "campaigns" / "c1" / "plan" / "summary.json").read_text() == '{"rows": 3}'
    assert not (first / "campaigns" / "c1" / "dispatch" / "ledger" / "b0.jsonl").exists()
    assert (first / "campaigns" / "c1" / "dispatch" / "sender.lock").exists()  # a local file pull never knew


def test_a_push_never_sends_back_what_s3_deleted_and_a_pull_keeps_a_new_local_file(tmp_path, monkeypatch, bucket):
    root = _copy(tmp_path, monkeypatch, bucket, "worker")
    (root / "campaigns" / "c1").mkdir(parents=True)
    (root / "campaigns" / "c1" / "a.txt").write_text("a")
    mirror.push(root, "campaigns/c1")
    storage.delete(ObjectUrl.parse(f"{bucket}/campaigns/c1/a.txt"))  # another worker removed it
    assert mirror.push(root, "campaigns/c1") == mirror.SyncCount(0, 0)
    assert not storage.exists(f"{bucket}/campaigns/c1/a.txt")
    (root / "campaigns" / "c1" / "new.txt").write_text("mine, not yet sent")
    assert mirror.pull(root, "campaigns/c1") == mirror.SyncCount(0, 1)
    assert not (root / "campaigns" / "c1" / "a.txt").exists()
    assert (root / "campaigns" / "c1" / "new.txt").read_text() == "mine, not yet sent"


def test_a_single_object_prefix_and_a_failed_work_still_pushed(tmp_path, monkeypatch, bucket):
    storage.write_bytes(f"{bucket}/specs/vip.yaml", b"campaign: {}\n")
    storage.write_bytes(f"{bucket}/specs/vip.yaml.old", b"old")
    root = _copy(tmp_path, monkeypatch, bucket, "worker")
    with pytest.raises(RuntimeError, match="batch failed"):
        with mirror.synced(bucket, "campaigns/c1", also=["specs/vip.yaml"]) as folder:
            assert (root / "specs" / "vip.yaml").read_text() == "campaign: {}\n"
            assert not (root / "specs" / "vip.yaml.old").exists()
            (root / "specs" / "vip.yaml").write_text("changed here")
            folder.mkdir(parents=True)
            (folder / "ledger.jsonl").write_text("sent\n")
            raise RuntimeError("batch failed")
    assert storage.read_bytes(f"{bucket}/campaigns/c1/ledger.jsonl") == b"sent\n"  # the ledger reached S3 anyway
    assert storage.read_bytes(f"{bucket}/specs/vip.yaml") == b"campaign: {}\n"  # `also` is read only
    assert json.loads((root / mirror.STATE).read_text())["files"]["specs/vip.yaml"]["size"] == 13


def test_a_changed_file_of_the_same_size_is_sent(tmp_path, monkeypatch, bucket):
    root = _copy(tmp_path, monkeypatch, bucket, "worker")
    (root / "c").mkdir()
    (root / "c" / "x").write_text("1")
    mirror.push(root, "c")
    time.sleep(0.01)
    (root / "c" / "x").write_text("2")
    os.utime(root / "c" / "x", ns=(time.time_ns(), time.time_ns()))
    assert mirror.push(root, "c") == mirror.SyncCount(1, 0)
    assert storage.read_bytes(f"{bucket}/c/x") == b"2"


def test_syncs_of_one_working_copy_at_once_keep_each_other_s_state(tmp_path, monkeypatch, bucket):
    """Two tasks of one host (two batches of a campaign) push at the same time: the root's flock keeps their state
    updates apart, so neither push forgets what the other sent (a later push would send it again, or worse, a
    pull would take it for a file deleted on S3)."""
    from concurrent.futures import ThreadPoolExecutor

    root = _copy(tmp_path, monkeypatch, bucket, "worker")
    for batch in range(8):
        (root / "campaigns" / "c1" / f"b{batch}").mkdir(parents=True)
        for part in range(20):
            (root / "campaigns" / "c1" / f"b{batch}" / f"{part}.jsonl").write_text(f"{batch}-{part}\n")
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda batch: mirror.push(root, f"campaigns/c1/b{batch}"), range(8)))
    assert counts == [mirror.SyncCount(20, 0)] * 8
    assert len(json.loads((root / mirror.STATE).read_text())["files"]) == 160
    assert mirror.push(root, "campaigns") == mirror.SyncCount(0, 0)


def test_a_host_s_own_store_catalog_and_lake_data_never_go_to_s3(tmp_path, monkeypatch, bucket):
    root = _copy(tmp_path, monkeypatch, bucket, "worker")
    for name in ("smsflow.db", "smsflow.db-journal", "warehouse.sqlite", "warehouse/main/t/x.parquet",
                 "campaigns/c1/spec.yaml", "campaigns/c1/warehouse.sqlite"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    assert mirror.push(root) == mirror.SyncCount(2, 0)
    assert {str(url)[len(bucket) + 1:] for url in storage.listing(ObjectUrl.parse(bucket))} == {
        "campaigns/c1/spec.yaml", "campaigns/c1/warehouse.sqlite"}  # only the bucket's top holds host files


def test_a_pull_of_only_some_files_leaves_the_others_alone(tmp_path, monkeypatch, bucket):
    for key in ("campaigns/c1/plan/links.parquet", "campaigns/c1/plan/recipients.parquet", "campaigns/c1/x.txt"):
        storage.write_bytes(f"{bucket}/{key}", b"x")
    root = _copy(tmp_path, monkeypatch, bucket, "links-host")
    only = r"^campaigns/[^/]+/plan/links\.parquet$"
    assert mirror.pull(root, "campaigns", only=only) == mirror.SyncCount(1, 0)
    assert not (root / "campaigns" / "c1" / "plan" / "recipients.parquet").exists()
    assert mirror.pull(root, "campaigns") == mirror.SyncCount(2, 0)  # the rest, when asked
    assert mirror.pull(root, "campaigns", only=only) == mirror.SyncCount(0, 0)  # the others kept, not deleted
    assert (root / "campaigns" / "c1" / "x.txt").is_file()
