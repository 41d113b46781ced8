"""Issue 10: README.md's "Run a campaign of your own", run as written, in a fresh folder, by bash.

Its spec blocks are written where their first line says, its bash blocks run in order as one script from a folder
holding nothing but `.venv` (the checkout's, as `make install` leaves it), with none of the tests' environment:
the store, the bucket and the simulator are the README's defaults. If this fails, the README lies to a newcomer.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess

from helpers import ROOT
from readme import WALKTHROUGH, file_blocks, script, section

from pipelines import warehouse

_OURS = ("SMSFLOW_", "AIRFLOW", "COLUMNS")  # the suite's own settings, which a newcomer's shell does not have


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_house_readme_walkthrough_runs_as_written(tmp_path):
    assert _port_free(2775), "127.0.0.1:2775, the simulator's port in the README, is taken by another process"
    text = section(WALKTHROUGH)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    for path, body in file_blocks(text).items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if not key.startswith(_OURS)}
    process = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script(text)], cwd=tmp_path, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the script's own background jobs, if it failed half-way
    assert process.returncode == 0, f"the README's walkthrough failed:\n{output[-6000:]}"
    assert "Traceback" not in output, output[-6000:]
    bucket = tmp_path / "bucket"
    assert (bucket / "campaigns" / "soldes" / "plan" / "recipients.parquet").is_file()
    assert (bucket / "campaigns" / "soldes" / "plan" / "quarantine.csv").is_file()
    with warehouse.connect(warehouse.in_bucket(bucket), read_only=True) as connection:
        delivered = connection.execute("SELECT count(*) FROM message_status WHERE campaign_id = 'soldes' "
                                       "AND status_code = 16").fetchone()[0]
    assert delivered > 0, output[-6000:]
    assert list((bucket / "campaigns" / "soldes").rglob("*.csv")), "the report CSV the README promises is missing"
    assert _port_free(2775), "the README's walkthrough left its simulator running"
