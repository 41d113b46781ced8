"""What the browser tests drive (issue 14 §3): Debian's chromium through Playwright (a browser cannot be downloaded
here: `make test` installs the package when it is missing), and the stack `make airflow` runs (Airflow, the SMSC
simulator, the short links and the extranet) started on the test's own bucket and store, stopped at the end."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import smsflow_here, start_smsflow, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]
AIRFLOW_CFG = "[workers]\nexecution_api_timeout = 60\n"
SCREENSHOTS = Path(__file__).with_name("screenshots")  # gitignored: the main pages as the last run saw them


@dataclass(frozen=True)
class Stack:
    """`smsflow airflow` as the test started it: its addresses, bucket, AIRFLOW_HOME and what it printed."""

    console: str
    airflow: str
    bucket: Path
    home: Path
    printed: Path
    started_in: float  # seconds until everything answered

    def log(self, name: str) -> str:
        path = self.home / name
        return path.read_text(encoding="utf-8", errors="replace")[-4000:] if path.exists() else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def airflow_stack(tmp_path):
    """`smsflow airflow` (what `make airflow` runs) on the test's bucket and store (SMSFLOW_DB, set by the root
    conftest), with the console; `smsflow airflow --stop` at the end, every process gone."""
    bucket, home = tmp_path / "bucket", tmp_path / "airflow_home"
    chosen = {"SMSFLOW_AIRFLOW_HOME": str(home)}
    home.mkdir()
    # On a loaded 2-core machine Airflow's API server on SQLite was seen silent for ~50 s while the first run
    # started: its task supervisor (5 s timeout, a few retries) then killed the task. Give it a minute.
    (home / "airflow.cfg").write_text(AIRFLOW_CFG, encoding="utf-8")
    printed = tmp_path / "smsflow-airflow.out"
    began = time.monotonic()
    with printed.open("w", encoding="utf-8") as sink:
        server = start_smsflow("airflow", "--bucket", str(bucket), "--port", str(free_port()), "--rows", "50",
                               "--console-port", str(free_port()), env={**os.environ, **chosen}, stdout=sink,
                               stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "Stop everything" in printed.read_text(encoding="utf-8") or server.poll() is not None,
                   timeout=600, what="smsflow airflow to start")
        said = printed.read_text(encoding="utf-8")
        assert server.poll() is None, said
        console = re.search(r"Console \(the extranet, smsflow console\): (http://127\.0\.0\.1:\d+)", said)
        airflow = re.search(r"Airflow is up in \d+ s: (http://\S+)", said)
        assert console and airflow, said
        yield Stack(console.group(1), airflow.group(1), bucket, home, printed, time.monotonic() - began)
    finally:
        stopped = smsflow_here("airflow", "--stop", env=chosen)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert server.wait(timeout=120) == 0, printed.read_text(encoding="utf-8")[-3000:]


@pytest.fixture
def page(tmp_path):
    """A Chromium page (French, 1280×900) that records what the browser refused (CSP) or failed to run."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "no /usr/bin/chromium: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                          viewport={"width": 1280, "height": 900})
            opened = context.new_page()
            opened.set_default_timeout(30_000)
            opened.complaints = []
            opened.on("console", lambda message: message.type == "error" and opened.complaints.append(message.text))
            opened.on("pageerror", lambda error: opened.complaints.append(str(error)))
            yield opened
        finally:
            browser.close()


@pytest.fixture
def screenshot():
    """Save the page's screenshot as tests/browser/screenshots/<name>.png; returns the file."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    take.folder = SCREENSHOTS
    return take
