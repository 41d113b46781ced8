"""Shared fixtures: a temporary bucket folder, and a throwaway Airflow home for DAG tests."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

os.environ.setdefault("COLUMNS", "200")  # the CLI's tables, run in this process (helpers.smsflow_here), unwrapped
# One Fernet key for every Airflow process a test starts on one metadata database (dag.test() runs one after the
# other): Airflow encrypts the sms_drops watchers' trigger kwargs with it, and a key made per process (its unit-test
# configuration has none) cannot read the previous process's (cryptography.fernet.InvalidToken at the next parse).
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", base64.urlsafe_b64encode(b"smsflow-tests-fernet-key-32bytes").decode())
# Passwords hashed with Argon2id at its minimum cost in the tests and the processes they start (the console, the
# CLI): the production profile costs ~60-200 ms a hash, and the extranet's tests log in thousands of times.
# tests/unit/store/test_users.py checks the production profile itself.
os.environ.setdefault("SMSFLOW_PASSWORD_HASH", "cheapest")

TESTS = ROOT / "tests"
pytest_plugins = ["s3"]  # s3_server: a real moto_server (tests/s3.py, issue 13)

# The kind of a test follows its folder: `pytest -m unit` is the fast part (no process, no socket, no Airflow).
_KINDS = {"unit": ("unit",), "integration": ("integration",), "e2e": ("e2e", "slow"), "dags": ("airflow", "slow"),
          "plugins": ("airflow",), "test_layout.py": ("integration",),
          "test_stack.py": ("airflow",), "stack": ("stack", "slow"), "console": ("integration",),
          "browser": ("e2e", "browser", "slow")}
_SUBPROCESS_FIXTURES = {"smsc", "migrated_airflow_env", "postgres_server", "s3_server", "moto_endpoint"}
STORE_BACKENDS = ("sqlite", "postgresql")  # every account-store test runs on both (issue 9)


def _store_backend(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("store_url") if callspec is not None else None


# Whole Airflow stacks first: with `--dist loadfile` a file runs on one worker, and the longest ones started last
# would leave one core idle at the end (longest first).
LONGEST_FIRST = ("stack/test_production_stack.py", "e2e/test_demo.py", "browser/test_extranet.py", "e2e/test_demo_s3.py",
                 "dags/test_approval_race.py", "dags/test_campaign_run.py",
                 "dags/test_lifecycle.py", "dags/test_settlement_mark_failed.py")


def pytest_collection_modifyitems(config, items):
    order = {name: rank for rank, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: order.get(Path(str(item.path)).relative_to(TESTS).as_posix(), len(order)))
    for item in items:
        folder = Path(str(item.path)).relative_to(TESTS).parts[0]
        kinds = _KINDS.get(folder, ("unit",))
        if kinds == ("unit",) and item.get_closest_marker("integration"):  # it says it starts processes
            kinds = ()
        if kinds == ("unit",) and _SUBPROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            kinds = ("integration",)
        if kinds == ("unit",) and _store_backend(item) == "postgresql":  # TCP to a PostgreSQL server
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


def _answers(host: str, port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A PostgreSQL server's base URL: the machine's on 127.0.0.1:5432 (trust auth) when it answers, else a
    throwaway cluster started from the installed binaries (pg_ctl), stopped at the end. Never skipped."""
    import glob
    import shutil
    import socket

    if _answers("127.0.0.1", 5432):
        yield "postgresql+psycopg://postgres@127.0.0.1:5432"
        return
    from pytest_postgresql.executors.proc import PostgreSQLExecutor

    pg_ctl = shutil.which("pg_ctl") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))), None)
    if pg_ctl is None:
        raise RuntimeError("no PostgreSQL answers on 127.0.0.1:5432 and no pg_ctl is installed to start one: "
                           "install PostgreSQL (Debian: apt-get install postgresql) to run the store tests")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("postgresql")
    server = PostgreSQLExecutor(pg_ctl, "127.0.0.1", port, str(folder / "data"), str(folder), str(folder / "log"),
                                "-w", "postgres", user="postgres")
    with server:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request, tmp_path: Path) -> str:
    """An empty account store's URL, on SQLite (a file in the test's folder) and on PostgreSQL (a database of its
    own, dropped afterwards): the same code and migrations run on both (issue 9)."""
    import uuid

    from pipelines.store import dispose_all

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'smsflow.db'}"
        dispose_all()
        return
    import psycopg

    base = request.getfixturevalue("postgres_server")
    name = f"smsflow_test_{uuid.uuid4().hex[:12]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        dispose_all()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(store_url: str):
    """The account store's engine on `store_url`, migrated."""
    from pipelines.store import open_store

    return open_store(store_url)


@pytest.fixture(autouse=True)
def _own_account_store(request, tmp_path: Path, monkeypatch):
    """Every test has an account store of its own (SMSFLOW_DB, inherited by the processes it starts): the
    `store_url` one when the test asks for it, else a SQLite file in its folder; never the checkout's bucket."""
    if "store_url" in request.fixturenames:
        url = request.getfixturevalue("store_url")
    else:
        url = f"sqlite:///{tmp_path / 'own-store' / 'smsflow.db'}"
    monkeypatch.setenv("SMSFLOW_DB", url)
    yield url


@pytest.fixture(scope="session")
def airflow_db_template(tmp_path_factory) -> Path:
    """An Airflow metadata database migrated once per test process (`airflow db migrate` costs ~30 s): the DAG
    run tests copy it into each AIRFLOW_HOME of theirs (`helpers.airflow_home_from`)."""
    home = tmp_path_factory.mktemp("airflow_template")
    environment = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                   "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env=environment)
    return home / "airflow.db"

