"""docker-compose.yml and the Dockerfile say the same as `make stack` (issue 13 §3).

No Docker engine runs here (nor in CI), so these checks read the files against the stack's own description
(pipelines/stack/services.py), which `make stack` runs for real (tests/stack/).
"""

from __future__ import annotations

import re

import pytest
import yaml
from helpers import ROOT

from pipelines.stack.services import AIRFLOW_SERVICES, INFRASTRUCTURE, PASSWORDS, SECRETS, WORKERS, compose_places, \
    connections, services, shared_environment


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]


def test_compose_has_the_stacks_services_and_no_other(compose):
    described = [service.name for service in services(compose_places())]
    assert set(compose) == set(described) | set(INFRASTRUCTURE)
    for name, image in INFRASTRUCTURE.items():
        assert compose[name]["image"] == image


@pytest.mark.parametrize("service", services(compose_places()), ids=lambda service: service.name)
def test_compose_runs_each_service_with_the_stacks_command_and_settings(compose, service):
    """Same command, same settings (the shared ones, and the service's own), value for value."""
    written = compose[service.name]
    assert tuple(written["command"]) == service.command
    assert written["environment"] == {**shared_environment(compose_places()), **service.environment}
    if service.name != "init":  # everything else starts once init has made the databases, users and pools
        assert written["depends_on"] == {"init": {"condition": "service_completed_successfully"}}


def test_compose_secrets_come_from_dotenv_and_are_required(compose):
    """One Fernet key and one JWT secret for every Airflow process, from .env (`python -m pipelines.stack
    secrets`), never written in the file; compose refuses to start without them."""
    for name in (*SECRETS, *PASSWORDS.values(), "POSTGRES_PASSWORD"):
        assert f"${{{name}:?" in (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for service in AIRFLOW_SERVICES:
        assert compose[service]["environment"]["AIRFLOW__CORE__FERNET_KEY"].startswith("${AIRFLOW__CORE__FERNET_KEY:?")


def test_compose_fixes_the_issues_problems(compose):
    """Issue 13: FAB auth (no Simple auth manager setting), init makes pools/connections/users, the receiver's SMSC
    is a service of the file, the bucket on S3 (no bucket volume), the ledger in the store, two workers on their
    own host names."""
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "SIMPLE_AUTH_MANAGER" not in text and "admin/admin" not in text
    environment = compose["scheduler"]["environment"]
    assert environment["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
    assert environment["SMSFLOW_BUCKET"].startswith("s3://") and environment["SMSFLOW_LEDGER"] == "store"
    assert environment["AWS_ENDPOINT_URL"] == "http://s3:5000"
    assert set(compose_volumes := yaml.safe_load(text).get("volumes", {})) == {"postgres"}, compose_volumes
    assert all(":/bucket" not in str(service.get("volumes", "")) for service in compose.values())
    assert compose["init"]["command"] == ["python", "-m", "pipelines.stack", "init"]
    smsc = re.search(r"@([\w-]+):(\d+)", compose["receiver"]["command"][compose["receiver"]["command"].index("--smsc")
                                                                         + 1])
    assert smsc.group(1) in compose and smsc.group(2) in compose[smsc.group(1)]["command"]
    assert connections("smsc:2775", "http://api-server:8080", "", "x")["smsc_default"].startswith("smpp://")
    assert {compose[name]["hostname"] for name in WORKERS} == set(WORKERS)
    assert {compose[name]["environment"]["SMSFLOW_HOSTNAME"] for name in WORKERS} == set(WORKERS)


def test_house_compose_executor_is_celery_with_the_stale_success_fix(compose):
    import importlib

    from airflow.providers.celery.executors.celery_executor import CeleryExecutor
    from smsflow_provider.executors.local import SettledEventsMixin

    executor = compose["worker-1"]["environment"]["AIRFLOW__CORE__EXECUTOR"]
    module, _, name = executor.rpartition(".")
    settled = getattr(importlib.import_module(module), name)  # the stale-success fix (#71580) on Celery too
    assert issubclass(settled, CeleryExecutor) and issubclass(settled, SettledEventsMixin)


def test_worker_hostname_is_the_workers_own_name(monkeypatch):
    """Two workers on one machine record different host names in their task instances (SMSFLOW_HOSTNAME)."""
    import socket

    from smsflow_provider.executors.hostname import worker_hostname

    monkeypatch.setenv("SMSFLOW_HOSTNAME", "worker-2")
    assert worker_hostname() == "worker-2"
    monkeypatch.delenv("SMSFLOW_HOSTNAME")
    assert worker_hostname() == socket.getfqdn()


def test_house_dockerfile_installs_the_provider_from_its_sources():
    """Issue 13: every source is copied before the sync that installs the project and its workspace member (the
    provider), and the build fails when the provider is not registered with Airflow."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = dockerfile.splitlines()
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    syncs = [number for number, line in enumerate(lines) if "uv sync --frozen" in line]
    copies = [number for number, line in enumerate(lines) if line.startswith("COPY plugins ")]
    assert copies and syncs[-1] > copies[0] and "--no-install" not in lines[syncs[-1]]
    assert "apache_airflow_provider" in dockerfile


POOL_TASK = '''
import billiard, multiprocessing, os, sys
def task(_):
    if sys.argv[1] == "fixed":
        from smsflow_provider.executors.celery_config import allow_children
        allow_children()  # what Celery's worker_process_init signal runs in each pool process
    child = os.fork()  # the task process Airflow's supervisor forks
    if child == 0:
        try:
            from concurrent.futures import ProcessPoolExecutor
            with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as binds:
                print("binds", list(binds.map(abs, [-1, -2])), flush=True)
        except Exception as error:
            print("refused", type(error).__name__, error, flush=True)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
if __name__ == "__main__":
    with billiard.Pool(1) as pool:
        pool.map(task, [0])
'''


@pytest.mark.parametrize("pool", ["plain", "fixed"])
def test_a_task_in_celerys_prefork_pool_may_start_its_bind_processes(pool):
    """A dispatch batch on two binds starts a process per bind from a task that Celery's pool (billiard) runs: refused
    in a plain pool process, allowed in one the stack's Celery config prepared (celery_config.allow_children)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", POOL_TASK, pool], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    if pool == "plain":
        assert "refused AssertionError daemonic processes are not allowed to have children" in done.stdout
    else:
        assert "binds [1, 2]" in done.stdout, done.stdout + done.stderr
    from pipelines.stack.services import CELERY_CONFIG

    assert compose_environment_of("worker-1")["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == CELERY_CONFIG


def compose_environment_of(service: str) -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"][service]["environment"]


def test_stack_down_stops_what_up_recorded_even_when_its_folder_is_gone(tmp_path):
    """`down` stops each recorded process's whole session (a child included), never another process; the record
    `up` returned stands in for the state folder's when that folder was removed meanwhile."""
    import subprocess
    import sys
    import time
    from dataclasses import asdict

    import psutil

    from pipelines.stack.processes import started
    from pipelines.stack.up import down

    service = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                                "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
                                "time.sleep(120)"], start_new_session=True)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not psutil.Process(service.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = psutil.Process(service.pid).children()[0]
        record = {"home": str(tmp_path / "gone"), "processes": [{"name": "svc", **asdict(started(service.pid))}],
                  "postgres_data": None}
        assert down(tmp_path / "gone", say=lambda *_: None, record=record) == 2
        assert service.wait(timeout=10) is not None and not child.is_running()
        assert stranger.poll() is None
    finally:
        for process in (service, stranger):
            process.kill()
            process.wait()


def test_house_compose_publishes_ports_on_this_host_only():
    """As `make stack`, which binds 127.0.0.1: the compose file's published ports are the host's loopback only (a
    proxy in front opens them), never every interface."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    published = [port for service in compose["services"].values() for port in service.get("ports", [])]
    assert published and all(str(port).startswith("127.0.0.1:") for port in published), published
