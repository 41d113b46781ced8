"""Shared fixtures: a temporary bucket folder, and a throwaway Airflow home for DAG tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

# The kind of a test follows its folder: `pytest -m unit` is the fast part (no process, no socket, no Airflow).
_KINDS = {"unit": ("unit",), "integration": ("integration",), "e2e": ("e2e", "slow"), "dags": ("airflow", "slow"),
          "plugins": ("airflow",), "test_layout.py": ("integration",)}
_SUBPROCESS_FIXTURES = {"smsc", "airflow_home"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        folder = Path(str(item.path)).relative_to(TESTS).parts[0]
        kinds = _KINDS.get(folder, ("unit",))
        if kinds == ("unit",) and _SUBPROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            kinds = ("integration",)
        for kind in kinds:
            item.add_marker(kind)
        if item.get_closest_marker("xdist_group") and "slow" not in kinds:
            item.add_marker("slow")


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    folder = tmp_path / "bucket"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    })
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ)
    return home


class RunningSmsc:
    """A `smsflow smsc` process on a free 127.0.0.1 port, and its JSON-lines log."""

    def __init__(self, folder: Path, settings: dict, start_timeout: float = 60.0):
        import selectors

        import yaml

        self.log = folder / "smsc.jsonl"
        self.stderr = folder / "smsc.stderr"  # a file, not a pipe nobody reads: a full pipe would block it
        config = folder / "smsc.yaml"
        config.write_text(yaml.safe_dump({"port": 0, "receipt_delay": 0.05, **settings, "log": str(self.log)}),
                          encoding="utf-8")
        with self.stderr.open("w", encoding="utf-8") as stderr:
            self.process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "smsc", "--config", str(config)],
                                            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT)
        with selectors.DefaultSelector() as selector:  # a simulator that hangs before its line fails the test
            selector.register(self.process.stdout, selectors.EVENT_READ)
            line = self.process.stdout.readline() if selector.select(start_timeout) else ""
        if "listening on" not in line:
            self.stop(timeout=5)
            raise RuntimeError(f"simulator did not start: {line!r} {self.stderr.read_text(encoding='utf-8')}")
        self.host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
        self.port = int(port)

    def url(self, **query) -> str:
        text = "&".join(f"{key}={value}" for key, value in query.items())
        return f"smpp://smsflow:smsflow@{self.host}:{self.port}" + (f"?{text}" if text else "")

    def records(self, event: str | None = None) -> list[dict]:
        import json

        if not self.log.exists():
            return []
        # the simulator may be writing: a last line without its newline is not complete yet
        complete = self.log.read_text(encoding="utf-8").split("\n")[:-1]
        records = [json.loads(line) for line in complete if line.strip()]
        return [record for record in records if event is None or record["event"] == event]

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `timeout` seconds; always waits, so no process outlives the test."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        return self.process.returncode


@pytest.fixture
def smsc(tmp_path: Path):
    """Start a simulator with given settings: `smsc(tps_per_bind=100, ...)`; stopped after the test."""
    running = []

    def start(**settings) -> RunningSmsc:
        folder = tmp_path / f"smsc-{len(running)}"
        folder.mkdir()
        running.append(RunningSmsc(folder, settings))
        stops.callback(running[-1].stop)
        return running[-1]

    with contextlib.ExitStack() as stops:  # every simulator stopped, even if stopping another one raised
        yield start
