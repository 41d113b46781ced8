"""Where the account store is and how it is opened: one SQLAlchemy URL (`SMSFLOW_DB`), SQLite in WAL mode inside
the bucket by default, PostgreSQL in production; migrated to the latest schema on first use (Alembic).

Transactions are serialised where money and state are at stake: on SQLite every transaction begins IMMEDIATE (the
write lock is taken at BEGIN, so two reservations never read the same balance); on PostgreSQL the functions that
need it lock the account's row (`SELECT ... FOR UPDATE`).
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.pool import NullPool

ENV = "SMSFLOW_DB"
BUCKET_ENV = "SMSFLOW_BUCKET"
STORE_FILE = "smsflow.db"  # the SQLite store's file name in the bucket
MIGRATIONS = Path(__file__).with_name("migrations")
_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


class StoreError(ValueError):
    """The account store refused a change (a ValueError: the CLI says "Refused", exit code 2); the message names
    the thing, the value and the rule."""


def store_url(bucket: Path | str | None = None, url: str | None = None) -> str:
    """The store's URL: `url`, else `SMSFLOW_DB`, else SQLite in the bucket (`bucket`, `SMSFLOW_BUCKET` or ./bucket)."""
    url = url or os.environ.get(ENV)
    if url:
        return url
    from pipelines.storage.mirror import working_root  # an s3:// bucket: its working copy on this host

    folder = working_root(bucket if bucket is not None else os.environ.get(BUCKET_ENV, "bucket"))
    return f"sqlite:///{(Path(folder) / STORE_FILE).resolve()}"


def now() -> datetime:
    return datetime.now(timezone.utc)


def _normalised(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):  # psycopg 3 is the driver smsflow ships
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def open_store(url: str | None = None, *, bucket: Path | str | None = None) -> Engine:
    """The store's engine (one per URL and process), its schema migrated to the latest revision."""
    url = _normalised(store_url(bucket, url))
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _create(url)
            migrate(engine)
            _ENGINES[url] = engine
    return engine


def dispose_all() -> None:
    """Close every engine this process opened (tests dropping their databases)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _sqlite_settings(dbapi_connection, _record):  # noqa: ANN001 - DB-API objects
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):  # noqa: ANN001
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the store to the latest Alembic revision; two processes opening a new store at once migrate once."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _migration_lock(engine: Engine):
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            with engine.begin() as connection:
                yield connection
            return
        with open(f"{database}.migrate-lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with engine.begin() as connection:
                    yield connection
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(7071)"))  # released when this transaction ends
        yield connection
