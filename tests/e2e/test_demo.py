"""`make demo` runs the main job on embedded defaults: plan, DuckDB, simulator, test send, send, statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_a_campaign_end_to_end(tmp_path):
    bucket = tmp_path / "bucket"
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "demo", "--bucket", str(bucket), "--rows", "2000"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for words in ("Sendable", "Destinations by country", "Test sent to", "parts accepted", "Délivré"):
        assert words in result.stdout
    (campaign,) = (bucket / "campaigns").iterdir()
    assert (campaign / "plan" / "recipients.parquet").is_file()
    assert list((campaign / "events").glob("*.parquet")) and list((campaign / "dispatch" / "ledger").glob("*.jsonl"))
    with duckdb.connect(str(bucket / "warehouse.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM plan_recipients").fetchone()[0] == 2001
    assert (bucket / "blacklists" / "own.txt").read_text(encoding="utf-8").count("+33") == 2
