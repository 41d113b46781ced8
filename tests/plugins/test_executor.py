"""The standalone stack's executor (smsflow_provider.executors.local): the campaign library preloaded before the
workers fork, so each task starts with it in memory and still runs Polars and DuckDB safely after the fork."""

from __future__ import annotations

import subprocess
import sys

FORKED_TASK = """
import os, sys
from smsflow_provider.executors.local import PRELOAD, preload
loaded = preload()
assert loaded == list(PRELOAD), loaded
pid = os.fork()
if pid == 0:  # as a LocalExecutor worker forks a task: the modules are there, and their thread pools start anew
    imported_already = all(name in sys.modules for name in PRELOAD)
    import duckdb
    import polars as pl
    groups = pl.DataFrame({"a": range(200_000)}).group_by(pl.col("a") % 7).agg(pl.len()).height
    answer = duckdb.sql("SELECT count(*) FROM range(100000)").fetchone()[0]
    os._exit(0 if (imported_already, groups, answer) == (True, 7, 100000) else 1)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
"""


def test_house_executor_preloads_the_campaign_library_and_a_forked_task_uses_polars_and_duckdb():
    result = subprocess.run([sys.executable, "-c", FORKED_TASK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.split()[-2:] == ["child", "0"], result.stderr[-2000:]


def test_house_executor_preload_is_configurable_and_a_missing_module_is_said_not_raised():
    code = ("import logging, os; logging.basicConfig(level=logging.INFO)\n"
            "os.environ['SMSFLOW_PRELOAD'] = 'json no_such_module_here'\n"
            "from smsflow_provider.executors.local import preload\n"
            "print(preload()); os.environ['SMSFLOW_PRELOAD'] = ''; print(preload())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-2:] == ["['json']", "[]"]
    assert "not preloaded no_such_module_here" in result.stdout + result.stderr  # Airflow's logging: stdout


def test_house_the_executor_preloads_before_it_forks_its_workers():
    code = ("import smsflow_provider.executors.local as local\n"
            "from airflow.executors.local_executor import LocalExecutor\n"
            "calls = []\n"
            "local.preload = lambda: calls.append('preload') or []\n"
            "LocalExecutor.start = lambda self: calls.append('workers forked')\n"
            "local.SettledLocalExecutor(parallelism=1).start()\n"
            "print(calls)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "['preload', 'workers forked']"
