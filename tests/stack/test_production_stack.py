"""`make stack` for real (issue 13 §3): the whole production stack started in a temporary folder on free ports
(PostgreSQL: the machine's, with databases of the test's own; a Redis of its own, so no other stack's worker takes
its tasks), then used as a person would: the REST API with the FAB users, a CRM export dropped on S3, a worker
killed in the middle of a dispatch; `make stack-down` leaves nothing running.

The tests of this file share one stack and run in order (the last one stops it).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.airflow_rest import AirflowApi
from pipelines.stack.infra import answers, free_port
from pipelines.stack.processes import Started, session_members
from pipelines.stack.services import POOLS, WORKERS
from pipelines.stack.up import CREDENTIALS, ENV_FILE, SECRETS_FILE, celery_workers, down, read_record, up


@dataclass
class Stack:
    home: Path
    record: dict
    said: list[str]

    @property
    def places(self) -> dict:
        return self.record["places"]

    def api(self, user: str = "admin") -> AirflowApi:
        api = AirflowApi(self.places["api"])
        api.login(user, self.credentials()[user])
        return api

    def credentials(self) -> dict[str, str]:
        return json.loads((self.home / CREDENTIALS).read_text(encoding="utf-8"))

    def process(self, name: str) -> dict:
        return next(process for process in self.record["processes"] if process["name"] == name)

    def environment(self) -> dict[str, str]:
        """The settings a person gets by sourcing stack.env."""
        found = {}
        for line in (self.home / ENV_FILE).read_text(encoding="utf-8").splitlines():
            import shlex

            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = shlex.split(value)[0] if value else ""
        return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("stack")
    said: list[str] = []
    record = up(home, own_redis=True, prefix=f"smsflow_stack_test_{uuid.uuid4().hex[:8]}", api_port=free_port(),
                say=said.append)
    try:
        yield Stack(home, record, said)
    finally:
        down(home, purge=True, say=lambda *_: None)


def test_stack_runs_every_service_and_two_workers_with_nothing_shared_on_disk(stack):
    names = [process["name"] for process in stack.record["processes"]]
    assert set(names) >= {"redis", "moto", "api-server", "scheduler", "dag-processor", "triggerer", *WORKERS, "smsc",
                          "receiver", "links"}
    for process in stack.record["processes"]:
        assert session_members(Started(process["pid"], process["started"])), f"{process['name']} is not running"
    workers = celery_workers(f"redis://{stack.places['redis']}")
    assert [name.split("@")[0] for name in workers] == list(WORKERS)
    import psutil

    folders = []
    for name in WORKERS:
        worker = psutil.Process(stack.process(name)["pid"])
        assert os.getpgid(worker.pid) == worker.pid  # its own process group: killed whole by the test below
        folder = Path(worker.cwd())
        assert folder == stack.home / name and (folder / "airflow").is_dir()  # its AIRFLOW_HOME, its logs
        folders.append(folder)
    assert folders[0] != folders[1]


def test_stack_users_are_fab_users_with_generated_passwords_printed_once(stack):
    admin = stack.api("admin")
    assert admin.call("GET", "/api/v2/dags")[0] == 200
    operator = stack.api("operator")
    assert operator.call("GET", "/api/v2/dags")[0] == 200
    assert operator.call("POST", "/api/v2/pools", {"name": "intruder", "slots": 1})[0] == 403  # not an admin
    refused = AirflowApi(stack.places["api"])
    with pytest.raises(RuntimeError, match="login failed"):
        refused.login("admin", "admin")
    passwords = stack.credentials()
    assert len({*passwords.values()}) == 2 and all(len(password) >= 16 for password in passwords.values())
    assert sum(passwords["admin"] in line for line in stack.said) == 1  # printed once, at the first start
    for private in (CREDENTIALS, SECRETS_FILE, ENV_FILE):
        assert stat.S_IMODE((stack.home / private).stat().st_mode) == 0o600


def test_stack_init_made_pools_and_connections(stack):
    admin = stack.api()
    status, pools = admin.call("GET", "/api/v2/pools")
    assert status == 200
    assert {pool["name"]: pool["slots"] for pool in pools["pools"] if pool["name"] in POOLS} == POOLS
    for conn_id in ("smsc_default", "smsflow_db", "airflow_api", "aws_default"):
        status, connection = admin.call("GET", f"/api/v2/connections/{conn_id}")
        assert status == 200, conn_id
    status, smsc = admin.call("GET", "/api/v2/connections/smsc_default")
    assert smsc["conn_type"] == "smpp" and smsc["port"] == int(stack.places["smsc"].rsplit(":", 1)[1])


def test_stack_env_file_points_the_cli_at_the_stack(stack):
    import subprocess
    import sys

    settings = stack.environment()
    assert settings["SMSFLOW_DB"].endswith(f"{stack.places['database_prefix']}_store")
    assert settings["SMSFLOW_BUCKET"] == stack.places["bucket"] and settings["SMSFLOW_LEDGER"] == "store"
    listed = subprocess.run(["bash", "-c", f"source {stack.home / ENV_FILE} && {sys.executable} -m pipelines.cli "
                                           f"account list --json"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr


def test_stack_down_stops_exactly_what_it_started(stack):
    """`make stack-down`: every recorded process (each whole session) is gone, its ports are closed; the
    machine's own PostgreSQL still answers."""
    record = read_record(stack.home)
    machine_postgres = answers("127.0.0.1", 5432)
    count = down(stack.home, purge=True, say=lambda *_: None)
    assert count >= len(record["processes"])
    for process in record["processes"]:
        assert session_members(Started(process["pid"], process["started"])) == [], process["name"]
    api_port = int(record["places"]["api"].rsplit(":", 1)[1])
    for port in (api_port, record["places"]["smsc_port"], record["places"]["links_port"]):
        assert not answers("127.0.0.1", port), port
    assert answers("127.0.0.1", 5432) == machine_postgres
    assert not stack.home.exists()
