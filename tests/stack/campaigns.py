"""A campaign on the running stack as a person drives it: the CLI with stack.env's settings, objects put in the S3
bucket, Airflow's REST API, the simulator's log (what the handsets received)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from helpers import ROOT

TERMINAL = ("success", "failed")


def cli(settings: dict[str, str], *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    """`smsflow ARGS` with the stack's settings (as after `source .stack/stack.env`); fails on a non-zero exit."""
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **settings})
    assert done.returncode == 0 or not check, f"smsflow {' '.join(args)}: {done.stderr[-3000:]}"
    return done


def s3_client(settings: dict[str, str]):
    import boto3

    return boto3.client("s3", endpoint_url=settings["AWS_ENDPOINT_URL"], region_name=settings["AWS_DEFAULT_REGION"],
                        aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"])


def put(settings: dict[str, str], key: str, body: bytes) -> str:
    """An object at `key` under the stack's bucket prefix; returns its s3:// URL."""
    bucket, _, prefix = settings["SMSFLOW_BUCKET"].removeprefix("s3://").partition("/")
    full = f"{prefix.rstrip('/')}/{key}" if prefix else key
    s3_client(settings).put_object(Bucket=bucket, Key=full, Body=body)
    return f"s3://{bucket}/{full}"


def keys(settings: dict[str, str], under: str) -> list[str]:
    """The keys under `under` (relative to the bucket's prefix)."""
    bucket, _, prefix = settings["SMSFLOW_BUCKET"].removeprefix("s3://").partition("/")
    full = f"{prefix.rstrip('/')}/{under}" if prefix else under
    found = []
    for page in s3_client(settings).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=full):
        found += [item["Key"].removeprefix(f"{prefix.rstrip('/')}/") for item in page.get("Contents", [])]
    return found


def get_json(settings: dict[str, str], key: str) -> dict:
    bucket, _, prefix = settings["SMSFLOW_BUCKET"].removeprefix("s3://").partition("/")
    body = s3_client(settings).get_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{key}")["Body"].read()
    return json.loads(body)


def sample_export(folder: Path, rows: int, seed: int) -> bytes:
    """A CRM export of `rows` contacts (`smsflow sample`: names with accents, numbers in every format, a few invalid
    numbers and duplicates)."""
    path = folder / f"export-{seed}.csv"
    subprocess.run([sys.executable, "-m", "pipelines.cli", "sample", str(path), "--rows", str(rows), "--seed",
                    str(seed)], check=True, capture_output=True, cwd=ROOT, timeout=120)
    return path.read_bytes()


def campaign_runs(api) -> dict[str, dict]:
    status, answer = api.call("GET", "/api/v2/dags/sms_campaign/dagRuns?limit=100")
    return {run["dag_run_id"]: run for run in (answer or {}).get("dag_runs", [])} if status == 200 else {}


def wait_for_new_run(api, known: set[str], timeout: float) -> str:
    """The id of the first sms_campaign run not in `known` (started by a drop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(campaign_runs(api)) - known
        if new:
            return sorted(new)[0]
        time.sleep(1)
    raise AssertionError(f"no sms_campaign run started within {timeout:.0f} s of the drop (sms_drops runs: "
                         f"{api.call('GET', '/api/v2/dags/sms_drops/dagRuns')[1]})")


def task_instances(api, run_id: str) -> list[dict]:
    status, answer = api.call("GET", f"/api/v2/dags/sms_campaign/dagRuns/{run_id}/taskInstances?limit=500")
    assert status == 200, answer
    return answer["task_instances"]


def wait_for_end(api, run_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while (run := campaign_runs(api).get(run_id, {})).get("state") not in TERMINAL:
        if time.monotonic() > deadline:
            states = Counter(f"{ti['task_id']}:{ti['state']}" for ti in task_instances(api, run_id))
            raise AssertionError(f"run {run_id} not ended within {timeout:.0f} s: {dict(states)}")
        time.sleep(2)
    return run


def handset_parts(log: Path, offset: int = 0) -> Counter:
    """How many times each part reached a handset (destination, concatenation reference, sequence), from line
    `offset` of the simulator's log on."""
    from pipelines.smpp.simulator.log import read_records

    return Counter((part["destination"], part["ref"], part["seq"], part["text"])
                   for part in read_records(log, "part")[offset:])
