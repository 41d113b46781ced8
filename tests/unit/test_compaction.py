"""PLUS-4, issue 11: the shared events folder's old micro-batches merged into one file per day, nothing lost,
nothing merged before it was handed on, and an announced batch compacted since still loaded."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from pipelines.compaction import compact_events
from pipelines.dispatch.receiver import BatchTracker
from pipelines.dlr import EventWriter, read_events
from pipelines.events import batch_files

DAY = datetime(2026, 11, 20, 10, tzinfo=timezone.utc).timestamp()


def _batch(folder: Path, number: int, written: float) -> Path:
    """A receiver's micro-batch of one receipt and one reply, written at `written` (its mtime)."""
    writer = EventWriter(folder, "receiver-1")
    writer.add(kind="receipt", message_id=f"id-{number}", stat="DELIVRD")
    writer.add(kind="reply", handset=f"3361111{number:04d}", text="STOP")
    path = writer.flush()
    os.utime(path, (written, written))
    return path


def _events(folder: Path) -> list[tuple]:
    return sorted(read_events(folder).select("kind", "message_id", "handset").rows(), key=str)


def test_plus4_old_batches_merge_into_their_day_file_the_pending_and_the_recent_stay(tmp_path):
    folder = tmp_path / "events"
    old = [_batch(folder, n, DAY + n) for n in range(5)]
    next_day = _batch(folder, 5, DAY + 86_400)
    pending = _batch(folder, 6, DAY + 7)  # old, but not handed on yet (a load that failed)
    recent = _batch(folder, 7, time.time())
    before = _events(folder)

    done = compact_events(folder, older_than=3600, pending=[pending.name])
    assert sorted(path.name for path in done.written) == ["compacted-20261120.parquet", "compacted-20261121.parquet"]
    assert sorted(done.removed) == sorted(path.name for path in [*old, next_day])
    assert sorted(path.name for path in folder.glob("*.parquet")) == sorted(
        ["compacted-20261120.parquet", "compacted-20261121.parquet", pending.name, recent.name])
    assert _events(folder) == before  # every event once, none lost

    later = _batch(folder, 8, DAY + 60)  # a batch of the same day, compacted later: merged into the day's file
    compact_events(folder, older_than=3600, pending=[pending.name])
    assert not later.exists() and len(list(folder.glob("compacted-20261120*"))) == 1
    assert len(_events(folder)) == len(before) + 2


def test_plus4_a_compaction_redone_after_a_crash_before_its_deletes_keeps_each_event_once(tmp_path):
    folder = tmp_path / "events"
    batches = {path: path.read_bytes() for path in (_batch(folder, n, DAY + n) for n in range(3))}
    compact_events(folder, older_than=3600)
    for path, data in batches.items():  # the crash: the day file renamed into place, its batches not deleted yet
        path.write_bytes(data)
        os.utime(path, (DAY, DAY))
    assert len(read_events(folder)) == 12  # read twice meanwhile: the derivation takes each event once
    compact_events(folder, older_than=3600)
    assert not any(path.exists() for path in batches) and len(read_events(folder)) == 6


def test_plus4_the_receiver_s_checkpoint_forgets_merged_batches_and_holds_the_day_files(tmp_path):
    folder = tmp_path / "events"
    batches = [_batch(folder, n, DAY + n) for n in range(3)]
    tracker = BatchTracker(folder)
    tracker.handled(tracker.new() or batches)
    tracker.compacted(compact_events(folder, older_than=3600))
    assert tracker.new() == [] and BatchTracker(folder).done == {"compacted-20261120.parquet"}
    fresh = _batch(folder, 9, time.time())
    assert tracker.new() == [fresh]


def test_plus4_an_announced_batch_compacted_before_its_run_loads_the_whole_folder(tmp_path):
    bucket = tmp_path / "bucket"
    batch = _batch(bucket / "events", 1, DAY)
    name = str(batch.relative_to(bucket))
    assert batch_files(bucket, [name]) == [batch]
    compact_events(bucket / "events", older_than=3600)
    assert batch_files(bucket, [name]) is None  # None: the whole folder, where the compacted events are
    with pytest.raises(FileNotFoundError, match="SMSFLOW_BUCKET"):  # a worker that does not see the bucket fails
        batch_files(tmp_path / "elsewhere", [name])


def test_plus8_no_compaction_while_an_erasure_holds_the_folder_and_none_twice_at_once(tmp_path):
    from pipelines.compaction import paused

    folder = tmp_path / "events"
    batches = [_batch(folder, n, DAY + n) for n in range(2)]
    with paused(folder) as held:  # an erasure rewriting the folder (or another receiver's compaction)
        assert held
        assert compact_events(folder, older_than=3600).removed == ()  # its turn skipped, nothing touched
        assert all(path.exists() for path in batches)
    assert len(compact_events(folder, older_than=3600).removed) == 2


def test_plus4_a_batch_compacted_while_a_load_reads_the_folder_is_read_from_its_day_file(tmp_path, monkeypatch):
    folder = tmp_path / "events"
    [_batch(folder, n, DAY + n) for n in range(3)]
    before = _events(folder)
    real = pl.read_parquet
    compacted = []

    def read_during_a_compaction(path, *args, **kwargs):  # the first read finds its file just merged away
        monkeypatch.setattr(pl, "read_parquet", real)
        compacted.append(compact_events(folder, older_than=3600))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pl, "read_parquet", read_during_a_compaction)
    assert _events(folder) == before and compacted[0].removed
