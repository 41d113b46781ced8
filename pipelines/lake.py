"""The warehouse as a DuckLake (REP-3): where it lives, and a DuckDB connection with it attached.

A lake is a catalog (SQLite by default, one file beside the bucket's data; PostgreSQL in production) plus Parquet
files under a data folder, or under an S3 prefix (pipelines.lake_data: the bucket's warehouse/ when the bucket is on
S3, through DuckDB's httpfs). Any number of processes attach it at once: each transaction reads one snapshot, loads of
different campaigns commit side by side (a conflict is retried, `retrying`), and an analyst's open session never
holds a lock a load waits for. Every snapshot stays queryable (`snapshot=`), so a report can be reproduced.

The DuckDB extensions come from PyPI packages built for the pinned duckdb (`duckdb-extension-ducklake`,
`-sqlite-scanner`, `-postgres-scanner`: each ships `extensions/v<duckdb version>/<name>.duckdb_extension`) and are
loaded from those files, with DuckDB's own downloads turned off: a machine with no network opens the lake.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import util
from pathlib import Path

from pipelines.storage import Location, ObjectUrl

import duckdb

from pipelines.lake_data import DATA_ENV, data_location, data_path, secret_parameters
from pipelines.queries import backfill_report_cells, install_rules, install_views, queries

log = logging.getLogger(__name__)

ENV = "SMSFLOW_WAREHOUSE"  # a PostgreSQL URL for the lake's catalog (production); unset: SQLite beside the data
LOAD_NICE = "SMSFLOW_LOAD_NICE"  # how much lower than its caller's a load's CPU priority is (0-19; default 10)
LOAD_THREADS = "SMSFLOW_LOAD_THREADS"  # DuckDB threads of a process's write connections (default: all cores)
SCHEMA_VERSION = 6  # bump when lake.sql, status.py's rules, status.sql's or links.sql's views change (6: REP-2 cells)
LAKE_SUFFIXES = (".sqlite", ".ducklake")
CONFLICT_TRIES = 20
_EXTENSIONS = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}


def extension_file(name: str) -> Path:
    """The `<name>.duckdb_extension` file that the `duckdb-extension-<name>` package ships for this duckdb."""
    spec = util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the DuckDB extension {name} is not installed: install duckdb-extension-"
                           f"{name.replace('_', '-')}=={duckdb.__version__} (make install) [REP-3]")
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
    path = folder / f"{name}.duckdb_extension"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: the duckdb-extension-{name.replace('_', '-')} package does not "
                           f"match duckdb {duckdb.__version__} (make install) [REP-3]")
    return path


@dataclass(frozen=True)
class Lake:
    """Where a lake lives: its catalog (`sqlite:<file>` or `postgres:<libpq string>`) and its data folder (a Path,
    or an ObjectUrl: the data on S3)."""

    catalog: str
    data: Location

    @property
    def kind(self) -> str:
        return self.catalog.split(":", 1)[0]

    def exists(self) -> bool:
        """Whether the lake was created (a PostgreSQL catalog is taken to exist: attaching it creates it)."""
        return self.kind == "postgres" or Path(self.catalog.split(":", 1)[1]).is_file()

    def attach_sql(self) -> str:
        """The ATTACH target, as an analyst types it: `ducklake:sqlite:bucket/warehouse.sqlite`."""
        return f"ducklake:{self.catalog}"

    def __str__(self) -> str:
        return self.catalog.split(":", 1)[1] if self.kind == "sqlite" else "the PostgreSQL lake catalog"


def _libpq(url: str) -> str:
    """A SQLAlchemy or libpq URL as the libpq string the postgres extension takes."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql://" + url[len(prefix):]
    return url


def is_lake(location) -> bool:
    """Whether a warehouse location names a lake: a PostgreSQL URL, a `.sqlite` catalog file, or any location
    while SMSFLOW_WAREHOUSE names a PostgreSQL catalog. Anything else is a single DuckDB file."""
    text = str(location)
    return bool(os.environ.get(ENV)) or text.startswith(("postgres", "ducklake:")) or \
        Path(text).suffix in LAKE_SUFFIXES


def locate(location) -> Lake:
    """The lake a location names: `bucket/warehouse.sqlite` (catalog; data in `bucket/warehouse/`), a PostgreSQL
    URL or a path while SMSFLOW_WAREHOUSE is set (data in `SMSFLOW_WAREHOUSE_DATA`, else the warehouse/ of an s3://
    SMSFLOW_BUCKET, else `bucket/warehouse/` or beside the path). A SQLite catalog's data is on S3 when SMSFLOW_WAREHOUSE_DATA is an
    s3:// prefix or its folder is a working copy of an S3 bucket (pipelines.lake_data)."""
    text = str(location).removeprefix("ducklake:")
    url = text if text.startswith("postgres") else os.environ.get(ENV, "")
    setting = os.environ.get(DATA_ENV, "")
    if url:
        data = data_location(Path("bucket/warehouse") if text == url else Path(text).with_suffix(""),
                             setting=setting, from_bucket=True)  # one catalog: one data prefix
        return Lake(f"postgres:{_libpq(url)}", data)
    path = Path(text.removeprefix("sqlite:")).resolve()
    # a local SMSFLOW_WAREHOUSE_DATA is the PostgreSQL catalog's: SQLite lakes keep their data beside them
    data = data_location(path.with_suffix(""), setting=setting if setting.startswith("s3://") else "")
    return Lake(f"sqlite:{path.with_suffix('.sqlite')}", data)


def session(catalogs: tuple[str, ...] = ("sqlite", "postgres")) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake's extensions loaded from their packages, DuckDB's downloads off;
    `catalogs`: the catalog kinds it can attach (the PostgreSQL extension takes a tenth of a second to load)."""
    connection = duckdb.connect(config={"autoinstall_known_extensions": False,
                                        "autoload_known_extensions": False})
    connection.execute("SET enable_progress_bar = false")  # a long commit would draw a bar on stdout
    for name in [_EXTENSIONS[kind] for kind in catalogs] + ["ducklake"]:
        connection.execute(f"LOAD '{extension_file(name)}'")
    return connection


@dataclass(frozen=True)
class LoadPriority:
    """How loads yield to analysts (issue 11: an analyst's query while three loads run stays within 2x of idle).

    A load is background work: it runs at a CPU priority `nice` steps below its caller's (the thread doing the load
    and the threads it starts, `pipelines.warehouse.in_background`), and the process's write connections use at most
    `threads` DuckDB threads (None: DuckDB's default, every core)."""

    nice: int = 10
    threads: int | None = None


def load_priority() -> LoadPriority:
    """SMSFLOW_LOAD_NICE (0-19; 0: a load competes with readers as an equal) and SMSFLOW_LOAD_THREADS (1 or more),
    validated when read."""
    values = {}
    for name, field, low, high in ((LOAD_NICE, "nice", 0, 19), (LOAD_THREADS, "threads", 1, 1024)):
        text = os.environ.get(name, "").strip()
        if not text:
            continue
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ValueError(f"{name}={text!r}: a whole number from {low} to {high} is expected [REP-3, issue 11]")
        values[field] = value
    return LoadPriority(**values)


def connect(location, read_only: bool = False, *, snapshot: int | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached as `lake`, the default catalog; its tables, status rules and
    views installed once in the lake (a write connection to a new or older lake installs them).

    `snapshot`: the lake as it was at that snapshot version (read-only): a report reproduced as it was.
    The lake is attached once per process and mode; each call returns a connection of its own (a cursor) on it,
    which starts every transaction at the lake's latest snapshot (or the one asked for).
    """
    lake = locate(location)
    read_only = read_only or snapshot is not None
    if read_only and not lake.exists():
        raise FileNotFoundError(f"no warehouse at {lake}: load a campaign into it first (`smsflow load`)")
    key = (os.getpid(), lake, read_only, snapshot)  # never a DuckDB inherited through fork
    if key not in _ATTACHED:
        _ATTACHED[key] = _attach(lake, read_only, snapshot)
    connection = _ATTACHED[key].cursor()
    connection.execute("SET enable_progress_bar = false")  # a long commit would draw a bar on stdout
    connection.execute("USE lake")
    return connection


_ATTACHED: dict[tuple, duckdb.DuckDBPyConnection] = {}


def _attach(lake: Lake, read_only: bool, snapshot: int | None) -> duckdb.DuckDBPyConnection:
    connection = session((lake.kind,))
    if isinstance(lake.data, ObjectUrl):  # httpfs from its package, and the S3 secret of the lake's bucket
        connection.execute(f"LOAD '{extension_file('httpfs')}'")
        connection.execute(queries("lake.sql")["create_s3_secret"], secret_parameters(lake.data))
    options = ["DATA_PATH '{}'".format(data_path(lake.data).replace("'", "''"))]
    if read_only:
        options.append("READ_ONLY")
    if snapshot is not None:
        options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
    if lake.kind == "sqlite":
        if not isinstance(lake.data, ObjectUrl):
            lake.data.mkdir(parents=True, exist_ok=True)
        if not _attached_here(lake):
            _write_ahead(Path(lake.catalog.split(":", 1)[1]))

    def attach() -> None:
        # Processes creating the lake at once: the catalog is locked a moment (SQLite), or its tables were just
        # created by the other (PostgreSQL).
        connection.execute("DETACH DATABASE IF EXISTS lake")
        connection.execute(f"ATTACH '{lake.attach_sql()}' AS lake ({', '.join(options)})")

    retrying(attach)
    connection.execute("USE lake")
    if not read_only:
        threads = load_priority().threads
        if threads:  # loads leave cores to readers (LoadPriority); a read-only attachment keeps them all
            connection.execute(f"SET threads = {int(threads)}")
        retrying(lambda: _install(connection))
    return connection


def _attached_here(lake: Lake) -> bool:
    """Whether this process holds the lake's catalog open (a DuckDB of _ATTACHED).

    Then no other code of the process may open that file, even to read it: closing any descriptor of a file drops
    every POSIX lock the process holds on it, DuckDB's SQLite's included, and another process taking the catalog
    for unused would reset the shared memory the first has mapped (SIGBUS in the receiver, under an analyst
    polling `smsflow stats`)."""
    return any(key[0] == os.getpid() and key[1] == lake for key in _ATTACHED)


def _write_ahead(catalog: Path) -> None:
    """A SQLite catalog in write-ahead-log mode (kept in the file): readers do not block a committing load, nor it
    them; writers still take turns, each for the moment of its commit. Only before the process attaches it
    (`_attached_here`)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(catalog, timeout=30)) as database:
        if database.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            database.execute("PRAGMA journal_mode = WAL")


def is_catalog(path: Path) -> bool:
    """Whether a file is a lake's SQLite catalog (it holds DuckLake's `ducklake_metadata` table)."""
    import sqlite3

    if any(key[0] == os.getpid() and key[1].kind == "sqlite"
           and Path(key[1].catalog.split(":", 1)[1]).resolve() == Path(path).resolve() for key in _ATTACHED):
        return True  # attached here: opening it would drop this process's locks on it (_attached_here)
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as database:
            return database.execute("SELECT count(*) FROM sqlite_master WHERE name = 'ducklake_metadata'"
                                    ).fetchone()[0] > 0
    except sqlite3.Error:
        return False


def lakes_in(bucket: Path, files: Iterable[Path]) -> list[str]:
    """The lakes whose catalog is among `files` (SQLite), and the PostgreSQL one SMSFLOW_WAREHOUSE names."""
    found = [str(path) for path in files if path.suffix in LAKE_SUFFIXES and is_catalog(path)]
    return found + ([str(Path(bucket) / "warehouse.duckdb")] if os.environ.get(ENV) else [])


def owned_files(location) -> tuple[Location, list[Path]]:
    """A lake's data folder (or S3 prefix), and its SQLite catalog's files: what the lake alone writes."""
    lake = locate(location)
    if lake.kind != "sqlite":
        return lake.data, []
    catalog = Path(lake.catalog.split(":", 1)[1])
    return lake.data, [catalog, *(catalog.with_name(catalog.name + end) for end in ("-wal", "-shm", "-journal"))]


def lakes_to_erase(bucket: Path, warehouses: Iterable, files: Iterable[Path]
                   ) -> tuple[list[str], tuple[set[Path], set[Path]]]:
    """PLUS-8: the lakes an erasure changes (catalogs among the bucket's `files`, the named `warehouses` that are
    lakes, SMSFLOW_WAREHOUSE's), and their data folders and catalog files, which it must not rewrite itself."""
    named = [str(Path(path).resolve()) for path in warehouses if is_lake(path) and locate(path).exists()]
    found = sorted(set(named) | {str(Path(path).resolve()) for path in lakes_in(bucket, files)})
    folders, owned = set(), set()
    for location in found:
        data, catalog = owned_files(location)
        folders.add(data.resolve())
        owned.update(path.resolve() for path in catalog)
    return found, (folders, owned)


_FORGET = ("CALL ducklake_flush_inlined_data('lake')",
           "CALL ducklake_rewrite_data_files('lake', delete_threshold => 0)",
           "CALL ducklake_expire_snapshots('lake', older_than => now())",
           "CALL ducklake_cleanup_old_files('lake', cleanup_all => true)",
           "CALL ducklake_delete_orphaned_files('lake', cleanup_all => true)")


def flush_inlined(connection: duckdb.DuckDBPyConnection) -> None:
    """Small loads live in the catalog itself (DuckLake's data inlining): written out to Parquet, so an erasure
    rewrites them as files and `forget_history` removes what it replaced."""
    connection.execute("CALL ducklake_flush_inlined_data('lake')")


def forget_history(location) -> None:
    """PLUS-8: after an erasure, no earlier value stays anywhere in the lake: data files holding deleted rows are
    rewritten, every snapshot but the latest expires, the files only they used are deleted, and a SQLite catalog
    is vacuumed (its free pages held the replaced rows). Time travel starts again from here."""
    import sqlite3

    lake = locate(location)
    # A SQLite catalog with its data on S3 may share the prefix with another machine's catalog (each working copy
    # has its own): the files it does not know are not its orphans. Its own replaced files still go (cleanup).
    shared_prefix = lake.kind == "sqlite" and isinstance(lake.data, ObjectUrl)
    with connect(location) as connection:
        for statement in _FORGET[:-1] if shared_prefix else _FORGET:
            connection.execute(statement)
    close_all()
    if lake.kind == "sqlite":
        with contextlib.closing(sqlite3.connect(lake.catalog.split(":", 1)[1], isolation_level=None,
                                                timeout=60)) as database:
            database.execute("VACUUM")
            database.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def close_all() -> None:
    """Detach every lake this process attached (tests that delete a lake's files, a process about to fork)."""
    while _ATTACHED:
        _ATTACHED.popitem()[1].close()


def _install(connection: duckdb.DuckDBPyConnection) -> None:
    """The tables, rules and views, in one transaction, when the lake holds none or an older version: concurrent
    writers do not rewrite them on every connection (each rewrite would be a snapshot, and a conflict)."""
    sql = queries("lake.sql")
    if _installed(connection, sql) == SCHEMA_VERSION:
        return
    connection.begin()
    try:
        connection.execute(sql["create_version_table"])
        installed = connection.execute(sql["installed_version"]).fetchone()[0]
        if installed != SCHEMA_VERSION:
            connection.execute(sql["create_schema"])
            install_rules(connection)
            install_views(connection)
            if installed is not None and installed < 2:  # a lake written before the `messages` table
                connection.execute(queries("status.sql")["backfill_messages"])
            if installed is not None and installed < 5:  # before `message_counts` and `part_counts`
                connection.execute(queries("status.sql")["backfill_counts"])
            if installed is not None and installed < 6:  # before the stored REP-2 cells
                backfill_report_cells(connection)
            connection.execute(sql["record_version"], {"version": SCHEMA_VERSION})
        connection.commit()
    except BaseException:
        rollback(connection)
        raise


def rollback(connection: duckdb.DuckDBPyConnection) -> None:
    """The open transaction rolled back, if any: a commit that failed (a conflict) has already ended it."""
    try:
        connection.rollback()
    except duckdb.TransactionException:
        pass


def _installed(connection: duckdb.DuckDBPyConnection, sql: dict[str, str]) -> int | None:
    try:
        return connection.execute(sql["installed_version"]).fetchone()[0]
    except duckdb.CatalogException:
        return None


def is_conflict(error: BaseException) -> bool:
    """A DuckLake commit that lost to a concurrent one (retryable), or a catalog busy a moment."""
    text = str(error).lower()
    return isinstance(error, duckdb.Error) and any(
        mark in text for mark in ("conflict", "database is locked", "could not serialize", "deadlock",
                                  "duplicate key value violates unique constraint"))


def retrying(work, tries: int = CONFLICT_TRIES):
    """`work()` again (after a short, growing pause) while DuckLake reports a transaction conflict."""
    pause = 0.05
    for attempt in range(1, tries + 1):
        try:
            return work()
        except duckdb.Error as error:
            if not is_conflict(error) or attempt == tries:
                raise
            log.info("warehouse commit conflict (attempt %d of %d), retrying: %s", attempt, tries, error)
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
