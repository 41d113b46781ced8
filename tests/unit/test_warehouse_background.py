"""Issue 11 (fast): loads are background work, so an analyst's query keeps the cores while they run — a lower CPU
priority for the load's thread (SMSFLOW_LOAD_NICE), fewer DuckDB threads for write connections if asked
(SMSFLOW_LOAD_THREADS); both validated when read."""

from __future__ import annotations

import os
import sys
import threading

import duckdb
import pytest

from pipelines import lake
from pipelines.warehouse import connect, in_background

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a priority is a thread's on Linux only")


def _priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux
def test_a_load_runs_at_a_lower_priority_and_its_caller_keeps_its_own(monkeypatch):
    monkeypatch.delenv(lake.LOAD_NICE, raising=False)
    before = _priority()
    assert in_background(_priority) == min(before + 10, 19)  # the default: 10 steps below the caller
    assert _priority() == before
    monkeypatch.setenv(lake.LOAD_NICE, "3")
    assert in_background(_priority) == min(before + 3, 19)
    monkeypatch.setenv(lake.LOAD_NICE, "0")  # off: the load runs in the caller's thread, as it is
    assert in_background(threading.get_native_id) == threading.get_native_id()


def test_a_load_hands_back_its_result_and_its_error():
    assert in_background(lambda: (1, 2)) == (1, 2)
    with pytest.raises(ValueError, match="two lists"):
        in_background(lambda: (_ for _ in ()).throw(ValueError("two lists are both named a.csv")))


@pytest.mark.parametrize(("name", "value"), [(lake.LOAD_NICE, "20"), (lake.LOAD_NICE, "-1"), (lake.LOAD_NICE, "low"),
                                             (lake.LOAD_THREADS, "0"), (lake.LOAD_THREADS, "two")])
def test_load_settings_are_validated_when_read(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}='{value}'"):
        lake.load_priority()


def test_write_connections_use_the_threads_asked_and_read_ones_all(tmp_path, monkeypatch):
    monkeypatch.setenv(lake.LOAD_THREADS, "1")
    location = tmp_path / "bucket" / "warehouse.sqlite"
    try:
        with connect(location) as connection:
            assert connection.execute("SELECT current_setting('threads')").fetchone()[0] == 1
        with connect(location, read_only=True) as connection:
            default = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()[0]
            assert connection.execute("SELECT current_setting('threads')").fetchone()[0] == default
    finally:
        lake.close_all()
