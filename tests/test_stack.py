"""docker-compose.yml and the Dockerfile describe a stack made of what this repository holds.

No Docker engine runs here (nor in CI), so these checks read the files; `make demo` runs the same code on
embedded defaults for real.
"""

from __future__ import annotations

import yaml
from helpers import ROOT


def test_house_compose_is_a_celery_stack_with_several_workers():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "redis", "api-server", "scheduler", "dag-processor", "triggerer", "worker"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] >= 2
    executor = services["worker"]["environment"]["AIRFLOW__CORE__EXECUTOR"]
    module, _, name = executor.rpartition(".")
    import importlib

    from airflow.providers.celery.executors.celery_executor import CeleryExecutor
    from smsflow_provider.executors.local import SettledEventsMixin

    settled = getattr(importlib.import_module(module), name)  # the stale-success fix (#71580) on Celery too
    assert issubclass(settled, CeleryExecutor) and issubclass(settled, SettledEventsMixin)
    assert services["scheduler"]["environment"]["SMSFLOW_BUCKET"] == "/bucket"


def test_house_dockerfile_copies_existing_folders_and_installs_from_the_lock():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert "uv sync --frozen" in dockerfile
