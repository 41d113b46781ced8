"""A real S3-compatible server for the tests (issue 13): moto's `moto_server` process on 127.0.0.1, a free port.

`s3_server` starts one per test session and gives each test an empty bucket of its own, with the usual AWS
settings (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION) set for the test:
smsflow reads its endpoint and credentials from them, never from a spec. Loaded by tests/conftest.py
(`pytest_plugins`); bench/storage.py starts its server with `moto_server` too.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REGION = "eu-west-3"
# moto accepts any key; these say in a log that they are the tests' own, not a real account's.
ACCESS_KEY, SECRET_KEY = "smsflow-test", "smsflow-test-secret"


@dataclass(frozen=True)
class S3Server:
    """A running moto_server: its endpoint, and the bucket this test may use."""

    endpoint: str
    bucket: str

    def url(self, key: str = "") -> str:
        """`s3://<bucket>/<key>`."""
        return f"s3://{self.bucket}/{key}"

    def environment(self) -> dict[str, str]:
        """The AWS settings that point a client (and a `smsflow` process) at this server."""
        return aws_environment(self.endpoint)


def aws_environment(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


def _moto_command() -> list[str]:
    """moto_server beside this Python (the venv's), else on PATH; an error that says how to install it."""
    beside = Path(sys.executable).with_name("moto_server")
    found = str(beside) if beside.is_file() else shutil.which("moto_server")
    if found is None:
        raise RuntimeError("moto_server is not installed, so the S3 tests cannot run: it comes with the dev "
                           "dependency group (moto[server]): run `make install`")
    return [found]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def moto_server(log: Path, timeout: float = 30.0) -> Iterator[str]:
    """Start moto_server on 127.0.0.1 (a free port), wait until it answers, yield its endpoint; stopped after."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen([*_moto_command(), "-H", "127.0.0.1", "-p", str(port)], stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited ({process.returncode}) before answering: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not answer on {endpoint} within {timeout:.0f} s")
            time.sleep(0.05)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_bucket(endpoint: str, name: str) -> None:
    """A new bucket on the server (boto3, as an operator would create it)."""
    import boto3

    environment = aws_environment(endpoint)
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"])
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory) -> Iterator[str]:
    """One moto_server for the test session (it starts in ~1 s; each test gets its own bucket)."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto_server.log") as endpoint:
        yield endpoint


@pytest.fixture
def s3_server(moto_endpoint: str, monkeypatch) -> S3Server:
    """The session's moto_server with a new empty bucket, and the AWS settings pointing at it for this test."""
    for name, value in aws_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"smsflow-{uuid.uuid4().hex[:12]}"
    create_bucket(moto_endpoint, bucket)
    from pipelines import storage

    storage.forget_clients()  # a client made for another test's settings is not reused
    return S3Server(moto_endpoint, bucket)
