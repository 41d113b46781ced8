"""REP-3: two processes on one warehouse file — the second waits for the first instead of failing (two Airflow runs
planned a few seconds apart failed with DuckDB's 'Could not set lock on file', issue 10)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest

from pipelines.warehouse import connect


def _holder(database, seconds: float) -> subprocess.Popen:
    """Another process that holds the warehouse for `seconds`, and says when it has it."""
    code = textwrap.dedent(f"""
        import time
        import duckdb
        with duckdb.connect({str(database)!r}) as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS held (n INTEGER)")
            print("held", flush=True)
            time.sleep({seconds})
            connection.execute("INSERT INTO held VALUES (1)")
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_rep3_a_writer_waits_for_the_process_holding_the_warehouse_then_sees_its_writes(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    holder = _holder(database, 1.5)
    with connect(database) as connection:  # would raise "Could not set lock on file" without the wait
        assert connection.execute("SELECT count(*) FROM held").fetchone()[0] == 1
    assert holder.wait(timeout=30) == 0


def test_rep3_the_wait_is_bounded_and_the_error_says_why(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    holder = _holder(database, 2)
    try:
        with pytest.raises(duckdb.IOException, match="(?i)lock"):
            connect(database, wait=0.3)
    finally:
        holder.wait(timeout=30)
