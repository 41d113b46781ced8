"""`make stack` for real (issue 13 §3): the whole production stack started in a temporary folder on free ports
(PostgreSQL: the machine's, with databases of the test's own; a Redis of its own, so no other stack's worker takes
its tasks), then used as a person would: the REST API with the FAB users, a CRM export dropped on S3, a worker
killed in the middle of a dispatch; `make stack-down` leaves nothing running.

The tests of this file share one stack and run in order (the last one stops it), all in `make test`: the
stack's own checks, a 200k-row export dropped on S3 run on both workers, and a second drop (SMSFLOW_STACK_KILL_ROWS,
40,000 rows; `make soak`: 100,000) with a worker killed in the middle of its dispatch. SMSFLOW_STACK_KEEP=FOLDER runs the stack there
and leaves it running (its logs), and uses it again while it runs.
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
def stack():
    import tempfile

    kept = os.environ.get("SMSFLOW_STACK_KEEP")  # a folder: the stack runs there and is left running (its logs)
    # Not under pytest's basetemp: another pytest session on the machine may prune it while the stack runs.
    home = Path(kept) if kept else Path(tempfile.mkdtemp(prefix="smsflow-stack-test-"))
    said: list[str] = []
    if kept and read_record(home):  # a kept stack still running: used again
        record = read_record(home)
    else:
        record = up(home, own_redis=True, prefix=f"smsflow_stack_test_{uuid.uuid4().hex[:8]}", api_port=free_port(),
                    say=said.append)
    try:
        yield Stack(home, record, said)
    finally:
        if kept:  # stop it with `python -m pipelines.stack --home HOME down --purge`
            print(f"The stack is left running from {home}")
        else:  # the record up returned: every process is stopped even if the folder was removed meanwhile
            down(home, purge=True, say=lambda *_: None, record=record)


def test_stack_runs_every_service_and_two_workers_with_nothing_shared_on_disk(stack):
    names = [process["name"] for process in stack.record["processes"]]
    assert set(names) >= {"redis", "moto", "api-server", "scheduler", "dag-processor", "triggerer", *WORKERS, "smsc",
                          "receiver", "links", "console"}
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
    passwords = {user: password for user, password in stack.credentials().items() if user in ("admin", "operator")}
    assert len({*passwords.values()}) == 2 and all(len(password) >= 16 for password in passwords.values())
    assert sum(passwords["admin"] in line for line in stack.said) == 1  # printed once, at the first start
    for private in (CREDENTIALS, SECRETS_FILE, ENV_FILE):
        assert stat.S_IMODE((stack.home / private).stat().st_mode) == 0o600


def test_stack_console_lets_its_first_admin_log_in_and_nobody_without_a_password(stack):
    """Issue 14: the stack's extranet answers on 127.0.0.1; its first login (a superadmin made by init with a
    generated USER-1 password, printed once) gets in, a wrong password does not."""
    import re

    import httpx

    from pipelines.stack.services import CONSOLE_ADMIN

    password = stack.credentials()[CONSOLE_ADMIN]
    assert sum(password in line for line in stack.said) == 1
    base = f"http://127.0.0.1:{stack.places['console_port']}"
    for given, expected in (("Wrong-password-1", 401), (password, 303)):
        with httpx.Client(base_url=base, follow_redirects=False) as browser:
            token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
            answer = browser.post("/login", data={"login": CONSOLE_ADMIN, "password": given, "csrf_token": token})
            assert answer.status_code == expected, answer.text[:300]
            assert browser.get("/", follow_redirects=False).status_code == (200 if expected == 303 else 303)


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


KILLED_ROWS = int(os.environ.get("SMSFLOW_STACK_KILL_ROWS", "40000"))  # the second drop: several batches a worker

SPEC = """name: VIP
type: notification
message: "Bonjour ${Prénom}, -20 % pour vous à ${Ville}"
options: {in_flight: hold}
"""


@pytest.fixture(scope="module")
def drops(stack, tmp_path_factory):
    """The stack's settings with a drop rule on incoming/vip/ (`smsflow drops add`, approval auto) and its spec."""
    from campaigns import cli, put

    settings = stack.environment()
    put(settings, "specs/vip.yaml", SPEC.encode())
    if "incoming/vip/" not in cli(settings, "drops", "list", "--json").stdout:  # a kept stack has it already
        cli(settings, "drops", "add", "incoming/vip/", "--spec", "specs/vip.yaml", "--mode", "auto")
    return settings, tmp_path_factory.mktemp("exports")


def test_stack_a_200k_drop_runs_a_campaign_on_both_workers_report_on_s3_rows_in_the_lake(stack, drops):
    """DROP-1 on the stack: the export lands in s3://…/incoming/vip/, S3 tells SQS, sms_drops' watcher starts
    one campaign; its dispatch batches run on worker-1 and worker-2 (the task instances' host names), the report
    (REP-2) and stats.json (REP-1) are on S3, the lake holds every row."""
    from campaigns import campaign_runs, cli, get_json, keys, put, sample_export, task_instances, wait_for_end, \
        wait_for_new_run

    from pipelines.layout import campaign_folder_name

    settings, exports = drops
    api = stack.api()
    known = set(campaign_runs(api))
    put(settings, "incoming/vip/export-200k.csv", sample_export(exports, 200_000, seed=1))
    run_id = wait_for_new_run(api, known, timeout=120)
    run = wait_for_end(api, run_id, timeout=600)
    assert run["state"] == "success", [f"{ti['task_id']}: {ti['state']}" for ti in task_instances(api, run_id)]
    dispatched = [ti for ti in task_instances(api, run_id) if ti["task_id"] == "dispatch"]
    assert len(dispatched) >= 2
    assert {ti["hostname"] for ti in dispatched} == set(WORKERS), [(ti["map_index"], ti["hostname"])
                                                                   for ti in dispatched]
    campaign = campaign_folder_name(run_id)
    report = keys(settings, f"campaigns/{campaign}/report/")
    assert f"campaigns/{campaign}/report/{campaign}.csv" in report and f"campaigns/{campaign}/report/stats.json" in \
        report
    stats = get_json(settings, f"campaigns/{campaign}/report/stats.json")
    summary = get_json(settings, f"campaigns/{campaign}/plan/summary.json")
    assert stats["rows"] == summary["rows"] == 200_000
    assert stats["sent"] == summary["sendable"] > 150_000 and stats["held"] == 0
    lake = json.loads(cli(settings, "stats", run_id, "--json").stdout)  # the lake (SMSFLOW_WAREHOUSE), on S3
    assert (lake["rows"], lake["sent"]) == (stats["rows"], stats["sent"])


def test_stack_a_worker_killed_mid_dispatch_loses_nothing_and_sends_nothing_twice(stack, drops):
    """Issue 13, SEND-7: a second drop; in the middle of its dispatch one worker's whole process group gets
    SIGKILL. The scheduler fails the killed attempts once their heartbeat is older than the timeout, the retries run
    on the other worker and resume from the ledger in the store: the run ends, each part reached the handsets at
    most once, and sent + held (in flight at the kill, not resent) = sendable."""
    from campaigns import campaign_runs, get_json, handset_parts, put, sample_export, task_instances, wait_for_end, \
        wait_for_new_run

    from pipelines.layout import campaign_folder_name
    from pipelines.smpp.simulator.log import read_records

    settings, exports = drops
    api = stack.api()
    log = stack.home / "smsc" / "smsc" / "smsc.jsonl"
    before = len(read_records(log, "part"))
    known = set(campaign_runs(api))
    put(settings, "incoming/vip/export-kill.csv", sample_export(exports, KILLED_ROWS, seed=2))
    run_id = wait_for_new_run(api, known, timeout=120)
    deadline = time.monotonic() + 300
    while not (running := [ti for ti in task_instances(api, run_id)
                           if ti["task_id"] == "dispatch" and ti["state"] == "running" and ti["hostname"]]):
        assert time.monotonic() < deadline, "no dispatch batch ever ran"
        time.sleep(0.5)
    victim = running[0]["hostname"]
    time.sleep(1)  # a few parts on their way
    os.killpg(stack.process(victim)["pid"], signal.SIGKILL)
    run = wait_for_end(api, run_id, timeout=600)
    assert run["state"] == "success", [f"{ti['task_id']}[{ti['map_index']}]: {ti['state']} on {ti['hostname']}"
                                       for ti in task_instances(api, run_id)]
    parts = handset_parts(log, before)
    assert max(parts.values()) == 1, [part for part, count in parts.items() if count > 1][:5]
    campaign = campaign_folder_name(run_id)
    stats = get_json(settings, f"campaigns/{campaign}/report/stats.json")
    summary = get_json(settings, f"campaigns/{campaign}/plan/summary.json")
    assert stats["sent"] + stats["held"] == summary["sendable"], (stats, summary)
    retried = [ti for ti in task_instances(api, run_id) if ti["task_id"] == "dispatch" and ti["try_number"] > 1]
    assert retried and all(ti["hostname"] != victim for ti in retried)


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
    for port in (api_port, record["places"]["smsc_port"], record["places"]["links_port"],
                 record["places"]["console_port"]):
        assert not answers("127.0.0.1", port), port
    assert answers("127.0.0.1", 5432) == machine_postgres
    assert not stack.home.exists()
