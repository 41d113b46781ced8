"""The `smsflow` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import write_list, write_spec

SMSFLOW = [sys.executable, "-m", "pipelines.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SMSFLOW, *args], capture_output=True, text=True, timeout=120)


def test_cli_plan_json_prints_the_summary(bucket: Path):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0611111111;Ann\n")
    result = run("plan", str(write_spec(bucket, lists=["a.csv"])), "--out", str(bucket / "plan"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status_counts"] == {"0": 1, "4": 1}
    assert (bucket / "plan" / "recipients.parquet").is_file()
    assert json.loads((bucket / "plan" / "summary.json").read_text(encoding="utf-8")) == summary


def test_cli_plan_prints_a_readable_summary(bucket: Path):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\nabc;Zoé\n")
    result = run("plan", str(write_spec(bucket, lists=["a.csv"])), "--out", str(bucket / "plan"))
    assert result.returncode == 0, result.stderr
    for words in ("Recipients", "Sendable", "Invalid numbers", "Numéro mal formaté", "Destinations by country"):
        assert words in result.stdout


def test_cli_refused_spec_exits_2_naming_every_problem(bucket: Path):
    spec = write_spec(bucket, lists=["a.csv"], type="marketing", sender="BOUTIQUÉ", message="Promo")
    result = run("plan", str(spec), "--out", str(bucket / "plan"))
    assert result.returncode == 2
    assert "MSG-1" in result.stderr and "MSG-2" in result.stderr and "sender" in result.stderr
    assert not (bucket / "plan").exists()


def test_cli_unreadable_list_names_file_and_line(bucket: Path):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0611111112\n")
    result = run("plan", str(write_spec(bucket, lists=["a.csv"])), "--out", str(bucket / "plan"))
    assert result.returncode == 2
    assert "a.csv" in result.stderr and "line 3" in result.stderr and "LIST-1" in result.stderr
