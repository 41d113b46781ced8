"""The production stack as data: its services, their commands and their settings, in one place.

`make stack` (pipelines.stack.up) starts these on this machine; docker-compose.yml says the same with service names
for addresses (tests/test_stack.py compares the two). A command is written as a person types it (`airflow …`,
`smsflow …`, `moto_server …`); `local_command` turns it into this checkout's interpreter.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

EXECUTOR = "smsflow_provider.executors.celery.SettledCeleryExecutor"
AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
HOSTNAME_CALLABLE = "smsflow_provider.executors.hostname.worker_hostname"
CELERY_CONFIG = "smsflow_provider.executors.celery_config.CELERY_CONFIG"  # a task may start processes (its binds)
WORKERS = ("worker-1", "worker-2")  # two Celery workers, each with its own working folder and host name
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer", *WORKERS)
SECRETS = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
PASSWORDS = {"admin": "SMSFLOW_ADMIN_PASSWORD", "operator": "SMSFLOW_OPERATOR_PASSWORD"}  # user: its setting
USERS = {"admin": "Admin", "operator": "User"}  # user name: FAB role (User may trigger and approve runs)
# The extranet (issue 14): its first login, the platform's superadmin and the default account's admin; it adds the
# account's people from its Utilisateurs page. The console talks to Airflow as `operator` (trigger, approve).
CONSOLE_ADMIN = "admin@smsflow.localhost"
CONSOLE_PASSWORD = "SMSFLOW_CONSOLE_PASSWORD"
SMSC_USER = "smsflow:smsflow"  # the simulator's one user (SmscConfig's default)
# A killed worker's task is failed by the scheduler once its heartbeat is this old, then retried on another worker
# (the dispatch task has retries=3, retry_delay 5 s): ~20-30 s from the kill to the retry.
HEARTBEAT_TIMEOUT = 20
DATABASES = ("airflow", "store", "lake")
DROP_QUEUE = "123456789012/smsflow-drops"  # moto's account and pipelines.drops.notifications' queue: its URL's path  # Airflow's metadata, the account store (SMSFLOW_DB), the lake's catalog


@dataclass(frozen=True)
class Places:
    """Where each service is reached, and its secrets: 127.0.0.1 and free ports here, service names in compose."""

    postgres: str  # host:port
    postgres_auth: str  # user or user:password
    database_prefix: str  # the databases are <prefix>_airflow, <prefix>_store, <prefix>_lake
    redis: str  # host:port/db
    s3: str  # the S3 endpoint URL (moto_server)
    bucket: str  # s3://bucket/prefix
    api: str  # Airflow's API server as the others reach it: http://host:port
    api_port: int
    smsc: str  # host:port of the SMSC simulator
    smsc_port: int
    links_port: int
    console_port: int  # the extranet (smsflow console)
    bind: str  # the address servers listen on: 127.0.0.1 here, 0.0.0.0 in a container
    dags: str  # the DAGs folder: the checkout's dags/ here, /app/dags in the image
    secrets: dict[str, str] = field(default_factory=dict)  # SECRETS by name
    aws_access_key: str = "smsflow-stack"
    aws_secret_key: str = "smsflow-stack-secret"
    region: str = "eu-west-3"

    def database(self, name: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.postgres_auth}@{self.postgres}/{self.database_prefix}_{name}"


@dataclass(frozen=True)
class Service:
    """One long-running process of the stack: its command and the settings it adds to the shared ones."""

    name: str
    command: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=dict)
    airflow: bool = False  # an Airflow component (the shared Airflow settings apply)
    worker: bool = False  # a Celery worker: a working folder and a host name of its own


def shared_environment(places: Places) -> dict[str, str]:
    """The settings every process of the stack gets (Airflow's, smsflow's, S3's): one Fernet key, one JWT secret."""
    return {
        "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
        "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
        "AIRFLOW__CORE__DAGS_FOLDER": places.dags,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "16",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": places.database("airflow"),
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{places.redis}",
        "AIRFLOW__CELERY__RESULT_BACKEND": places.database("airflow", "db+postgresql+psycopg"),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": CELERY_CONFIG,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{places.api}/execution/",
        "AIRFLOW__API__BASE_URL": places.api,
        "AIRFLOW__API__HOST": places.bind,
        "AIRFLOW__API__PORT": str(places.api_port),
        # A killed worker: its task instance stops heartbeating, the scheduler fails it after the timeout (checked
        # every 5 s) and the task's retry runs on a live worker.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        # Task logs go to S3 (nothing shared through a local disk): the API server reads them there.
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"{places.bucket.rstrip('/')}/logs",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "aws_default",
        **{name: places.secrets.get(name, "") for name in SECRETS},
        "AWS_ENDPOINT_URL": places.s3,
        "AWS_ACCESS_KEY_ID": places.aws_access_key,
        "AWS_SECRET_ACCESS_KEY": places.aws_secret_key,
        "AWS_DEFAULT_REGION": places.region,
        "AWS_REGION": places.region,
        "AWS_ALLOW_HTTP": "true",
        "SMSFLOW_BUCKET": places.bucket,
        "SMSFLOW_DB": places.database("store"),
        "SMSFLOW_WAREHOUSE": places.database("lake", "postgresql"),
        "SMSFLOW_LEDGER": "store",
        "SMSFLOW_RECEIPT_TIMEOUT": "60",
        # 25,000 messages a dispatch task: fewer task starts, S3 syncs and ledger catch-ups per campaign (each batch
        # reads the campaign's ledger), still several tasks per worker for a 200k campaign
        "SMSFLOW_BATCH_SIZE": "25000",
        "SMSFLOW_SMSC": places.smsc,
        # S3 notifications of new objects under incoming/ -> this SQS queue -> sms_drops' AssetWatcher (DROP-1)
        "SMSFLOW_DROP_QUEUE": f"{places.s3}/{DROP_QUEUE}",
    }


def services(places: Places) -> list[Service]:
    """The stack's processes (PostgreSQL, Redis and S3 aside: those may be the machine's own); `init` runs once,
    before the others."""
    events = f"{places.bucket.rstrip('/')}/events"
    smsc_url = f"smpp://{SMSC_USER}@{places.smsc}"
    api = connections(places.smsc, places.api, "", places.secrets.get(PASSWORDS["admin"], ""))["airflow_api"]
    init = Service("init", ("python", "-m", "pipelines.stack", "init"),
                   {setting: places.secrets.get(setting, "") for setting in (*PASSWORDS.values(), CONSOLE_PASSWORD)})
    airflow = [
        Service("api-server", ("airflow", "api-server"), airflow=True),
        Service("scheduler", ("airflow", "scheduler", "--skip-serve-logs"), airflow=True),
        Service("dag-processor", ("airflow", "dag-processor"), airflow=True),
        Service("triggerer", ("airflow", "triggerer", "--skip-serve-logs"), airflow=True),
    ]
    workers = [Service(name, ("airflow", "celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"),
                       {"SMSFLOW_HOSTNAME": name}, airflow=True, worker=True) for name in WORKERS]
    return [
        init, *airflow, *workers,
        Service("smsc", ("smsflow", "smsc", "--host", places.bind, "--port", str(places.smsc_port),
                         "--log", "smsc/smsc.jsonl", "--receipt-delay", "0.2")),
        Service("receiver", ("smsflow", "receive", events, "--smsc", smsc_url, "--announce"),
                {"AIRFLOW_CONN_AIRFLOW_API": api}),
        Service("links", ("smsflow", "links", "serve", "--host", places.bind, "--port", str(places.links_port))),
        Service("console", ("smsflow", "console", "--host", places.bind, "--port", str(places.console_port)),
                {"SMSFLOW_AIRFLOW_URL": places.api, "SMSFLOW_AIRFLOW_USER": "operator",
                 "SMSFLOW_AIRFLOW_PASSWORD": places.secrets.get(PASSWORDS["operator"], ""),
                 "SMSFLOW_OUTBOX": "outbox"}),  # development mail: .eml files in its folder (SMSFLOW_SMTP: a relay)
    ]


def connections(smsc: str, api: str, store: str, admin_password: str, s3: str = "") -> dict[str, str]:
    """The Airflow connections the stack's init creates (by id: URI): the SMSC, the account store, Airflow's own
    API (the run's note, the receiver's announces) as the admin, S3 and SQS (the endpoint; keys: the AWS settings)."""
    found = {
        "smsc_default": f"smpp://{SMSC_USER}@{smsc}?binds=2&window=64",
        "airflow_api": f"http://admin:{admin_password}@{api.split('://', 1)[1]}",
        "aws_default": f"aws://?endpoint_url={s3}" if s3 else "aws://",
    }
    if store:
        found["smsflow_db"] = store.replace("postgresql+psycopg://", "postgresql://")
    return found


POOLS = {"smsc": 2, "duckdb": 1}  # binds to the SMSC; one DuckDB writer at a time


def local_command(command: tuple[str, ...]) -> list[str]:
    """A service's command run by this checkout's Python (no PATH lookup: the venv need not be activated)."""
    program, *arguments = command
    if program == "airflow":
        return [sys.executable, "-m", "airflow", *arguments]
    if program == "python":
        return [sys.executable, *arguments]
    if program == "smsflow":
        return [sys.executable, "-m", "pipelines.cli", *arguments]
    beside = Path(sys.executable).with_name(program)
    return [str(beside) if beside.is_file() else program, *arguments]


# PostgreSQL, Redis and S3 as docker-compose.yml runs them (here: pipelines.stack.infra, or the machine's own).
INFRASTRUCTURE = {"postgres": "postgres:16", "redis": "redis:7", "s3": "motoserver/moto:5.1.4"}
COMPOSE_REQUIRED = ":?python -m pipelines.stack secrets >.env"  # compose refuses to start without it


def compose_places() -> Places:
    """The places in docker-compose.yml: service names, the servers on every interface of their container, the
    secrets from .env (`python -m pipelines.stack secrets`)."""
    secrets = {name: f"${{{name}{COMPOSE_REQUIRED}}}"
               for name in (*SECRETS, *PASSWORDS.values(), CONSOLE_PASSWORD, "POSTGRES_PASSWORD")}
    return Places(postgres="postgres:5432", postgres_auth=f"smsflow:{secrets['POSTGRES_PASSWORD']}",
                  database_prefix="smsflow_stack", redis="redis:6379/0", s3="http://s3:5000",
                  bucket="s3://smsflow-stack/smsflow", api="http://api-server:8080", api_port=8080, smsc="smsc:2775",
                  smsc_port=2775, links_port=8090, console_port=8070, bind="0.0.0.0", dags="/app/dags", secrets=secrets)


def console_password() -> str:
    """A new password for the console's first login that meets USER-1 (11+ characters, upper, lower, digit,
    special)."""
    import secrets as random

    return f"{random.token_urlsafe(12)}-Aa1"


def new_secrets() -> dict[str, str]:
    """A Fernet key, the JWT and session secrets, the users' and PostgreSQL's passwords, newly made."""
    import secrets as random

    from cryptography.fernet import Fernet

    made = {name: random.token_urlsafe(32) for name in SECRETS}
    made["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    made.update({setting: random.token_urlsafe(12) for setting in (*PASSWORDS.values(), "POSTGRES_PASSWORD")})
    made[CONSOLE_PASSWORD] = console_password()
    return made
