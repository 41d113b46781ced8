"""The `smsflow` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from helpers import smsflow, write_list, write_spec


def test_plus2_cli_plan_json_prints_the_summary(bucket: Path):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0611111111;Ann\n")
    result = smsflow("plan", str(write_spec(bucket, lists=["a.csv"])), "--out", str(bucket / "plan"), "--json",
                     "--no-contracts")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status_counts"] == {"0": 1, "4": 1}
    assert (bucket / "plan" / "recipients.parquet").is_file()
    assert json.loads((bucket / "plan" / "summary.json").read_text(encoding="utf-8")) == summary


def test_plus2_cli_plan_prints_a_readable_summary(bucket: Path):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\nabc;Zoé\n")
    result = smsflow("plan", str(write_spec(bucket, lists=["a.csv"])), "--out", str(bucket / "plan"),
                     "--no-contracts")
    assert result.returncode == 0, result.stderr
    for words in ("Recipients", "Sendable", "Invalid numbers", "Numéro mal formaté", "Destinations by country"):
        assert words in result.stdout


def test_camp2_cli_refused_spec_exits_2_naming_every_problem(bucket: Path):
    spec = write_spec(bucket, lists=["a.csv"], type="marketing", sender="BOUTIQUÉ", message="Promo")
    result = smsflow("plan", str(spec), "--out", str(bucket / "plan"))
    assert result.returncode == 2
    assert "MSG-1" in result.stderr and "MSG-2" in result.stderr and "sender" in result.stderr
    assert not (bucket / "plan").exists()


def test_list1_cli_unreadable_list_names_file_and_line(bucket: Path):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0611111112\n")
    result = smsflow("plan", str(write_spec(bucket, lists=["a.csv"])), "--out", str(bucket / "plan"))
    assert result.returncode == 2
    assert "a.csv" in result.stderr and "line 3" in result.stderr and "LIST-1" in result.stderr


def _no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


def test_send7_cli_malformed_smsc_url_is_refused_without_echoing_the_password(bucket: Path):
    for url in ("http://smsflow:s3cr3tpw@127.0.0.1:2775", "smpp://smsflow:s3cr3tpw@127.0.0.1:port"):
        result = smsflow("send", str(bucket / "plan"), "--smsc", url)
        assert result.returncode == 2, result.stderr
        _no_traceback(result)
        assert "Refused" in result.stderr and "s3cr3tpw" not in result.stderr + result.stdout


def test_plus2_cli_unwritable_output_folder_is_one_line_naming_it(bucket: Path, tmp_path: Path):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = smsflow("plan", str(write_spec(bucket, lists=["a.csv"])), "--out", str(blocker / "plan"))
    assert result.returncode != 0
    _no_traceback(result)
    assert "a-file" in result.stderr


def test_rep3_cli_unknown_warehouse_is_one_line():
    result = smsflow("stats", "no-such-campaign", "--db", "/nonexistent/warehouse.duckdb")
    assert result.returncode != 0
    _no_traceback(result)
    assert "warehouse.duckdb" in result.stderr


def test_list2_second_mobile_column_warning_reaches_the_summary_and_the_screen(bucket: Path):
    write_list(bucket / "a.csv", "Mobile;Prénom;Portable\n0611111111;Ann;0622222222\n")
    result = smsflow("plan", str(write_spec(bucket, lists=["a.csv"])), "--out", str(bucket / "plan"),
                     "--no-contracts")
    assert result.returncode == 0, result.stderr
    summary = json.loads((bucket / "plan" / "summary.json").read_text(encoding="utf-8"))
    (warning,) = summary["lists"][0]["warnings"]
    assert "'Mobile' is used" in warning and "LIST-2" in warning
    assert "Warnings" in result.stdout and "'Mobile' is used" in " ".join(result.stdout.split())
