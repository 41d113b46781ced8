"""The stack's init step (`python -m pipelines.stack init`, docker-compose's `init` service): run once before the
Airflow components, in the stack's environment, and again at each start (every step is idempotent).

Databases (Airflow's metadata, the account store, the lake's catalog) → the bucket on S3 → the account store's
tables → Airflow's and the FAB auth manager's tables → pools, connections and the two users (an admin, a non-admin
`User`) → the S3 drops' SQS queue and the bucket's notifications to it (SMSFLOW_DROP_QUEUE).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from pipelines.stack.services import CONSOLE_ADMIN, CONSOLE_PASSWORD, PASSWORDS, POOLS, USERS, connections, \
    local_command


def create_databases(urls: list[str]) -> list[str]:
    """Each PostgreSQL database named by `urls` that does not exist yet, created (on its server's `postgres`
    database); returns those created."""
    import psycopg

    created = []
    for url in urls:
        parts = urlsplit(url.replace("+psycopg", "").replace("db+", ""))
        name = parts.path.lstrip("/")
        admin = parts._replace(scheme="postgresql", path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as connection:
            if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                connection.execute(f'CREATE DATABASE "{name}"')  # a name of the stack's own (DATABASES), not input
                created.append(name)
    return created


def create_bucket(bucket_url: str) -> None:
    """The bucket of SMSFLOW_BUCKET on the S3 endpoint of the AWS settings, unless it exists."""
    import boto3

    name = urlsplit(bucket_url).netloc
    client = boto3.client("s3")
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    if name not in existing:
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        client.create_bucket(Bucket=name, **({} if region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": region}}))


def airflow(*arguments: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(local_command(("airflow", *arguments)), capture_output=True, text=True,
                            env=environment or os.environ.copy())
    if result.returncode != 0:
        raise RuntimeError(f"`airflow {' '.join(arguments[:2])}` failed ({result.returncode}): "
                           f"{(result.stderr or result.stdout)[-2000:]}")
    return result


def airflow_objects(connections: dict[str, str], passwords: dict[str, str]) -> None:
    """Pools, connections and users, the four Airflow commands at once (each costs Airflow's import)."""
    with tempfile.TemporaryDirectory() as folder:
        pools = Path(folder) / "pools.json"
        pools.write_text(json.dumps({name: {"slots": slots, "description": f"smsflow: {name}",
                                            "include_deferred": False} for name, slots in POOLS.items()}))
        conns = Path(folder) / "connections.json"
        conns.write_text(json.dumps({conn_id: {"conn_type": uri.split("://", 1)[0], **_uri_fields(uri)}
                                     for conn_id, uri in connections.items() if uri}))
        commands = [("pools", "import", str(pools)), ("connections", "import", "--overwrite", str(conns))]
        running = [(command, subprocess.Popen(local_command(("airflow", *command)), stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True)) for command in commands]
        # The users' passwords go through stdin: on a command line any local user could read them in /proc.
        users = [{"username": name, "role": role, "password": passwords[name]} for name, role in USERS.items()]
        made = subprocess.Popen(local_command(("python", "-m", "smsflow_provider.users")), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        running.append((("users", "put"), made))
        made.stdin.write(json.dumps(users))
        made.stdin.close()
        for command, process in running:
            output = process.stdout.read()
            process.wait()
            if process.returncode != 0:
                raise RuntimeError(f"`airflow {' '.join(command[:2])}` failed: {output[-2000:]}")


def _uri_fields(uri: str) -> dict:
    """A connection URI as the fields `airflow connections import` reads."""
    from urllib.parse import parse_qsl, unquote

    parts = urlsplit(uri)
    fields = {"host": parts.hostname or "", "port": parts.port, "login": unquote(parts.username or ""),
              "password": unquote(parts.password or ""), "schema": parts.path.lstrip("/")}
    if parts.query:
        fields["extra"] = json.dumps(dict(parse_qsl(parts.query)))
    return {key: value for key, value in fields.items() if value not in (None, "")}


def drop_queue(bucket_url: str, expected: str) -> str:
    """The SQS queue of the bucket's drops and the S3 notifications to it (pipelines.drops.notifications, DROP-1);
    refused when its URL is not SMSFLOW_DROP_QUEUE, which the DAG reads."""
    from pipelines.drops.notifications import DEFAULT_QUEUE, watch_drops

    made = watch_drops(bucket_url, expected.rstrip("/").rsplit("/", 1)[-1] or DEFAULT_QUEUE)
    if made != expected:
        raise ValueError(f"the drops' queue is {made}, but SMSFLOW_DROP_QUEUE says {expected}: set it to {made}")
    return made


def console_admin(engine, password: str) -> bool:
    """The console's first login (issue 14): the platform's superadmin, admin of the default account, made once
    with the stack's generated password; True when made now."""
    from sqlalchemy import select

    from pipelines.store.schema import users
    from pipelines.store.users import create_user

    if not password:
        raise ValueError(f"init needs the console admin's password: set {CONSOLE_PASSWORD}")
    with engine.connect() as connection:
        if connection.execute(select(users.c.id).where(users.c.login == CONSOLE_ADMIN)).first():
            return False
    create_user(engine, "default", CONSOLE_ADMIN, password, role="admin", superadmin=True, first_name="Admin",
                last_name="smsflow")
    return True


def run_init() -> dict[str, str]:
    """Every init step, in the stack's environment (os.environ: the shared settings, and each user's password in
    SMSFLOW_ADMIN_PASSWORD and SMSFLOW_OPERATOR_PASSWORD); returns what it adds to the stack's settings."""
    from pipelines.store import open_store

    environ = os.environ
    passwords = {user: environ.get(setting, "") for user, setting in PASSWORDS.items()}
    if not all(passwords.values()):
        raise ValueError(f"init needs every user's password: set {' and '.join(PASSWORDS.values())}")
    create_databases([environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], environ["SMSFLOW_DB"],
                      environ["SMSFLOW_WAREHOUSE"]])
    create_bucket(environ["SMSFLOW_BUCKET"])
    store = open_store(environ["SMSFLOW_DB"])
    console_admin(store, environ.get(CONSOLE_PASSWORD, ""))
    store.dispose()
    airflow("db", "migrate")  # Airflow's tables, and FAB's (its provider's db manager)
    airflow_objects(connections(environ["SMSFLOW_SMSC"], environ["AIRFLOW__API__BASE_URL"], environ["SMSFLOW_DB"],
                                passwords["admin"], environ.get("AWS_ENDPOINT_URL", "")), passwords)
    return {"SMSFLOW_DROP_QUEUE": drop_queue(environ["SMSFLOW_BUCKET"], environ["SMSFLOW_DROP_QUEUE"])}
