"""pipelines.storage.replace_durably: the one way smsflow replaces a local file whole (compaction's day files, the
links service's click batches and tombstones, erased link files)."""

from __future__ import annotations

import pytest

from pipelines.storage import replace_durably


def test_a_replacement_is_whole_keeps_the_mode_when_asked_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "day.parquet"
    path.write_bytes(b"old")
    path.chmod(0o600)
    replace_durably(path, lambda temporary: temporary.write_bytes(b"new"), keep_mode=True)
    assert path.read_bytes() == b"new" and path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day.parquet"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "day.parquet"
    path.write_bytes(b"old")

    def torn(temporary):
        temporary.write_bytes(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_durably(path, torn)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["day.parquet"]
