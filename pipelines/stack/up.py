"""Start the stack, record what was started in its state folder, stop exactly that.

The state folder ($STACK_HOME, else .stack/ in the checkout) holds `stack.json` (each process by pid and start time,
the throwaway PostgreSQL's data folder when one was made), `secrets.json` and `credentials.json` (mode 0600), the
`stack.env` a person sources to use the CLI on the stack, and a folder per service: its working directory, its
AIRFLOW_HOME, its SMSFLOW_WORKDIR (the local working copy of the S3 bucket) and its log. Every process starts in a
session of its own, so `down` (or a test) stops a whole service, task processes included, by its process group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from pipelines.stack.infra import LOOPBACK, answers, free_port, start_moto, start_postgres, start_redis, \
    stop_postgres, wait_for
from pipelines.stack.processes import Started, session_members, started, terminate
from pipelines.stack.services import CONSOLE_ADMIN, CONSOLE_PASSWORD, DATABASES, PASSWORDS, Places, Service, \
    console_password, local_command, new_secrets, services, shared_environment

ROOT = Path(__file__).resolve().parents[2]
RECORD, SECRETS_FILE, CREDENTIALS, ENV_FILE = "stack.json", "secrets.json", "credentials.json", "stack.env"
PREFIX = "smsflow_stack"  # the databases: smsflow_stack_airflow, _store, _lake
API_PORT = 8080
FIRST_STOPPED = ("receiver", "links")


def stack_home() -> Path:
    return Path(os.environ.get("STACK_HOME") or ROOT / ".stack").resolve()


def _private(path: Path, text: str) -> Path:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")
    return path


def read_record(home: Path) -> dict | None:
    try:
        return json.loads((home / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_record(home: Path, record: dict) -> None:
    (home / RECORD).write_text(json.dumps(record, indent=1), encoding="utf-8")


def _secrets(home: Path) -> tuple[dict[str, str], bool]:
    """The stack's secrets (Fernet key, JWT secret, session key, the users' passwords): kept in the state folder
    across restarts (the metadata database holds what the Fernet key encrypted); True when made now."""
    path = home / SECRETS_FILE
    if path.is_file():
        kept = json.loads(path.read_text(encoding="utf-8"))
        if CONSOLE_PASSWORD in kept:
            return kept, False
        made = {**kept, CONSOLE_PASSWORD: console_password()}  # a stack made before the console had one
    else:
        made = new_secrets()
    _private(path, json.dumps(made))
    _private(home / CREDENTIALS, json.dumps({**{user: made[setting] for user, setting in PASSWORDS.items()},
                                             CONSOLE_ADMIN: made[CONSOLE_PASSWORD]}))
    return made, True


def running(home: Path) -> list:
    """The recorded processes still running (each session's members: task processes included)."""
    record = read_record(home) or {}
    found = {}
    for process in record.get("processes", []):
        for member in session_members(Started(process["pid"], process["started"])):
            found[member.pid] = member
    return list(found.values())


def environment(home: Path, places: Places, extra: dict[str, str]) -> dict[str, str]:
    """The calling shell's settings without its Airflow ones, the stack's shared settings, `extra` (init's)."""
    return {**{name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")},
            **shared_environment(places), **extra,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "AIRFLOW_HOME": str(home / "cli"), "PYTHONPATH": str(ROOT)}


def _service_environment(home: Path, shared: dict[str, str], service: Service) -> tuple[Path, dict[str, str]]:
    folder = home / service.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder, {**shared, **service.environment, "AIRFLOW_HOME": str(folder / "airflow"),
                    "SMSFLOW_WORKDIR": str(folder / "bucket")}


def start_service(home: Path, shared: dict[str, str], service: Service) -> subprocess.Popen:
    folder, env = _service_environment(home, shared, service)
    with (folder / f"{service.name}.log").open("ab") as log:
        return subprocess.Popen(local_command(service.command), env=env, cwd=folder, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def up(home: Path, *, own: bool = False, own_redis: bool = False, prefix: str = PREFIX, api_port: int | None = None,
       say=print) -> dict:
    """Start the whole stack (see the package); returns its record. Refused while a stack runs from `home`. With
    `own`, a PostgreSQL and a Redis of its own even when the machine's answer; with `own_redis`, a Redis of its own
    (a Celery broker shared by two stacks would hand one's tasks to the other's workers)."""
    if running(home):
        raise RuntimeError(f"a stack already runs from {home}: `make stack-down` first")
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitignore").write_text("*\n", encoding="utf-8")
    record = {"home": str(home), "processes": [], "postgres_data": None}
    began = time.monotonic()
    try:
        return _start(home, record, own, own or own_redis, prefix, api_port, say, began)
    except BaseException:
        _write_record(home, record)
        down(home, say=lambda *_: None)
        raise


def _remember(home: Path, record: dict, name: str, pid: int) -> None:
    record["processes"].append({"name": name, **asdict(started(pid))})
    _write_record(home, record)


def _start(home: Path, record: dict, own: bool, own_redis: bool, prefix: str, api_port: int | None, say,
           began: float) -> dict:
    if not own and answers(LOOPBACK, 5432):
        postgres, auth = f"{LOOPBACK}:5432", "postgres"
        say(f"PostgreSQL: the machine's, on {postgres}")
    else:
        postgres, data = start_postgres(home / "postgres")
        auth, record["postgres_data"] = "postgres", str(data)
        _write_record(home, record)
        say(f"PostgreSQL: a throwaway cluster on {postgres} ({data})")
    if not own_redis and answers(LOOPBACK, 6379):
        redis = f"{LOOPBACK}:6379"
        say(f"Redis: the machine's, on {redis}")
    else:
        process, redis = start_redis(home / "redis")
        _remember(home, record, "redis", process.pid)
        say(f"Redis: redis-server on {redis}")
    moto, endpoint = start_moto(home / "moto")
    _remember(home, record, "moto", moto.pid)
    say(f"S3 and SQS: moto_server on {endpoint}")
    made, new = _secrets(home)
    port = api_port or (API_PORT if not answers(LOOPBACK, API_PORT) else free_port())
    smsc_port = free_port()
    places = Places(postgres=postgres, postgres_auth=auth, database_prefix=prefix, redis=f"{redis}/0", s3=endpoint,
                    bucket=f"s3://{prefix.replace('_', '-')}/smsflow", api=f"http://{LOOPBACK}:{port}",
                    api_port=port, smsc=f"{LOOPBACK}:{smsc_port}", smsc_port=smsc_port, links_port=free_port(),
                    console_port=free_port(),
                    bind=LOOPBACK, dags=str(ROOT / "dags"), secrets=made)
    record["places"] = {name: value for name, value in asdict(places).items() if name != "secrets"}
    shared = environment(home, places, {})
    every = services(places)
    init = every[0]
    folder, env = _service_environment(home, shared, init)
    say("Init: databases, the bucket, Airflow's and FAB's tables, pools, connections, users …")
    done = subprocess.run(local_command(init.command), env=env, cwd=folder, capture_output=True, text=True)
    (folder / "init.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise RuntimeError(f"the stack's init failed (see {folder / 'init.log'}): {done.stderr[-2000:]}")
    extra = json.loads(done.stdout.strip().splitlines()[-1])
    shared = environment(home, places, extra)
    record["extra"] = extra
    for service in every[1:]:
        _remember(home, record, service.name, start_service(home, shared, service).pid)
    _write_env_file(home, shared)
    wait_ready(home, places, say)
    say(f"The stack is up in {time.monotonic() - began:.0f} s: Airflow on {places.api}, the console (extranet) on "
        f"http://{LOOPBACK}:{places.console_port}")
    credentials = {user: made[setting] for user, setting in PASSWORDS.items()}
    if new:
        say("Airflow users (printed once; kept in " + str(home / CREDENTIALS) + ", mode 0600): "
            + ", ".join(f"{user} / {password}" for user, password in credentials.items())
            + f"; console: {CONSOLE_ADMIN} / {made[CONSOLE_PASSWORD]}")
    else:
        say(f"Users: admin and operator (Airflow), {CONSOLE_ADMIN} (console): their passwords in "
            f"{home / CREDENTIALS}")
    say(f"Use the CLI on it: source {home / ENV_FILE}; stop it: make stack-down")
    return record


def _write_env_file(home: Path, shared: dict[str, str]) -> None:
    import shlex

    wanted = {name: value for name, value in shared.items()
              if name.startswith(("SMSFLOW_", "AWS_", "AIRFLOW__")) or name == "AIRFLOW_HOME"}
    _private(home / ENV_FILE, "".join(f"export {name}={shlex.quote(value)}\n" for name, value in sorted(wanted.items())))


def celery_workers(broker: str, timeout: float = 2.0) -> list[str]:
    """The Celery workers answering a ping on `broker` (their node names, `worker-1@host`)."""
    from celery import Celery

    app = Celery(broker=broker)
    try:
        return sorted(name for answer in app.control.ping(timeout=timeout) or [] for name in answer)
    finally:
        app.close()


def wait_ready(home: Path, places: Places, say, timeout: float = 420) -> None:
    """Until the API server says every component is healthy, the admin can log in and both workers answer."""
    from pipelines.airflow_rest import AirflowApi
    from pipelines.stack.services import WORKERS

    api = AirflowApi(places.api)
    log = home / "api-server" / "api-server.log"
    wait_for(api.healthy, "Airflow (API server, scheduler, triggerer, DAG processor)", log, timeout=timeout)
    api.login("admin", places.secrets[PASSWORDS["admin"]])
    broker = f"redis://{places.redis}"
    wait_for(lambda: len(celery_workers(broker)) >= len(WORKERS), "the Celery workers",
             home / WORKERS[-1] / f"{WORKERS[-1]}.log", timeout=timeout)
    say(f"Celery workers: {', '.join(celery_workers(broker))}")
    console = f"http://{LOOPBACK}:{places.console_port}/login"
    wait_for(lambda: _answers_http(console), "the console", home / "console" / "console.log", timeout=timeout)


def _answers_http(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def down(home: Path, *, purge: bool = False, say=print, record: dict | None = None) -> int:
    """Stop every process `up` recorded (each whole session), the throwaway PostgreSQL if it made one; with
    `purge`, drop the stack's databases and its state folder. Returns how many processes were running. `record`
    (what `up` returned) stands in for the state folder's when that one is gone (a temporary folder removed)."""
    record = read_record(home) or record
    if record is None:
        say(f"No stack recorded in {home}")
        return 0
    count = 0
    # The receiver and links first (the receiver announces what it holds while Airflow still runs), then the rest
    # at once: Airflow and the workers (SIGTERM: a warm shutdown), the simulator, moto and Redis.
    for wave in (FIRST_STOPPED, None):
        members = [member for process in record.get("processes", [])
                   if (process["name"] in FIRST_STOPPED) == (wave is not None)
                   for member in session_members(Started(process["pid"], process["started"]))]
        count += terminate(members, timeout=20)
    if purge and (places := record.get("places")):
        _drop_databases(places)
    if record.get("postgres_data"):
        stop_postgres(Path(record["postgres_data"]))
    (home / RECORD).unlink(missing_ok=True)
    if purge:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    say(f"Stopped the stack of {home} ({count} processes)")
    return count


def _drop_databases(places: dict) -> None:
    import psycopg

    admin = f"postgresql://{places['postgres_auth']}@{places['postgres']}/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            for name in DATABASES:
                connection.execute(f'DROP DATABASE IF EXISTS "{places["database_prefix"]}_{name}" WITH (FORCE)')
    except psycopg.OperationalError:
        pass  # its server is gone (a throwaway cluster stopped): nothing to drop


def status(home: Path, say=print) -> int:
    """Each recorded service and whether it runs, the Celery workers that answer; 0 when every one runs."""
    record = read_record(home)
    if record is None:
        say(f"No stack recorded in {home}")
        return 1
    down_ = 0
    for process in record["processes"]:
        alive = bool(session_members(Started(process["pid"], process["started"])))
        down_ += not alive
        say(f"{process['name']:>14}  {'running' if alive else 'STOPPED'}  (pid {process['pid']})")
    places = record.get("places") or {}
    if places:
        say(f"Airflow: {places['api']}; Celery workers: {', '.join(celery_workers('redis://' + places['redis']))}")
    return 1 if down_ else 0
