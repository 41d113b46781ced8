"""Shared fixtures: a temporary bucket folder, and a throwaway Airflow home for DAG tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

TESTS = ROOT / "tests"

# The kind of a test follows its folder: `pytest -m unit` is the fast part (no process, no socket, no Airflow).
_KINDS = {"unit": ("unit",), "integration": ("integration",), "e2e": ("e2e", "slow"), "dags": ("airflow", "slow"),
          "plugins": ("airflow",), "test_layout.py": ("integration",),
          "test_stack.py": ("airflow",)}
_SUBPROCESS_FIXTURES = {"smsc", "migrated_airflow_env"}


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
def migrated_airflow_env(tmp_path_factory) -> Path:
    """A throwaway AIRFLOW_HOME with a migrated metadata database, exported into this process's environment."""
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


@pytest.fixture
def smsc(tmp_path: Path):
    """Start a simulator with given settings: `smsc(tps_per_bind=100, ...)`; stopped after the test."""
    from pipelines.smpp.simulator import SimulatorProcess

    running = []

    def start(**settings) -> SimulatorProcess:
        # receipts in 50 ms unless a test says otherwise: tests wait for them, not for a realistic SMSC
        running.append(SimulatorProcess(tmp_path / f"smsc-{len(running)}", {"receipt_delay": 0.05, **settings}))
        stops.callback(running[-1].stop)
        return running[-1]

    with contextlib.ExitStack() as stops:  # every simulator stopped, even if stopping another one raised
        yield start
