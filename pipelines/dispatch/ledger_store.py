"""The send ledger in the account store (PLUS-1, SEND-7, issue 13): rows any worker reads, so a batch killed on one
host is resumed on another with the same proof of what went on the wire.

The writer mirrors the file ledger: `intents` are one durable transaction before any of those parts is sent; each
`sent` mark is committed on a connection of its own before the submit_sm is written to the socket (on PostgreSQL
with `synchronous_commit = off`: it survives the death of the worker process or host, only a PostgreSQL crash can
lose it); outcomes are committed in groups and at every flush. Each writer's `open` row records the server's start
(`pg_postmaster_start_time()`; on SQLite, the host's boot): an intent written before the server restarted counts as
possibly on the wire (SEND-7), as a file intent written in another boot does.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine, bindparam, insert, select, text

from pipelines.dispatch.ledger_files import LEDGER_SCHEMA, RECORDS_SCHEMA, boot_id, outcome_event
from pipelines.store.schema import send_ledger

_COLUMNS = ("campaign", "writer", "key", "event", "status", "message_id", "evidence", "ts", "boot")


_DEDICATED: dict[str, Engine] = {}
_DEDICATED_LOCK = threading.Lock()


# A sender's lock and ledger connections notice a dead peer within ~25 s both ways: the server ends the session of a
# worker host that vanished (its advisory locks with it, so the batch's retry may start), the worker's libpq a
# server that vanished (PLUS-1). Without them a lost host's locks live until the kernel's default (over 2 hours).
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
              "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"}


def dedicated(engine: Engine) -> Engine:
    """An engine on the same store whose connections are the holder's own (no pool: a sender's long-lived ledger
    and lock connections take no room from the store's pool, and end for real when closed)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    url = engine.url.render_as_string(hide_password=False)
    with _DEDICATED_LOCK:
        if url not in _DEDICATED:
            _DEDICATED[url] = create_engine(url, poolclass=NullPool,
                                            connect_args=KEEPALIVES if engine.dialect.name == "postgresql" else {})
        return _DEDICATED[url]


def server_boot(connection: Connection) -> str:
    """When the store's server last started (PostgreSQL), else this host's boot (SQLite: a file of this host)."""
    if connection.dialect.name == "postgresql":
        return connection.execute(text("SELECT pg_postmaster_start_time()::text")).scalar_one()
    return boot_id()


class _CoreRows:
    """Inserts of ledger rows, each call one transaction on a connection of its own (SQLite: BEGIN IMMEDIATE)."""

    def __init__(self, engine: Engine):
        self._connection = engine.connect()
        self._insert = insert(send_ledger)

    def insert(self, rows: list[dict], atomic: bool = True) -> None:
        if not rows:
            return
        with self._connection.begin():
            self._connection.execute(self._insert, rows)

    def close(self) -> None:
        self._connection.close()


class _PostgresRows:
    """Inserts of ledger rows on a psycopg connection of its own (prepared, autocommit; several rows: one
    transaction); `asynchronous`: committed without waiting for the server's disk (synchronous_commit off)."""

    _SQL = None

    def __init__(self, engine: Engine, asynchronous: bool):
        if _PostgresRows._SQL is None:
            statement = insert(send_ledger).values({name: bindparam(name) for name in _COLUMNS})
            _PostgresRows._SQL = str(statement.compile(dialect=engine.dialect))
        self._proxy = dedicated(engine).raw_connection()
        self._connection = self._proxy.driver_connection
        self._connection.autocommit = True
        if asynchronous:
            self._connection.execute("SET synchronous_commit = off")

    def insert(self, rows: list[dict], atomic: bool = True) -> None:
        """`atomic`: one transaction; else each row its own (autocommit), all sent in one pipeline."""
        if not rows:
            return
        if len(rows) == 1:
            self._connection.execute(self._SQL, rows[0], prepare=True)
            return
        with (self._connection.transaction() if atomic else contextlib.nullcontext()), \
                self._connection.cursor() as cursor:
            cursor.executemany(self._SQL, rows)

    def close(self) -> None:
        self._proxy.close()  # no pool: the session ends


class StoreLedger:
    """A writer of the send ledger in the account store: the file ledger's methods, rows instead of lines."""

    def __init__(self, engine: Engine, campaign: str, name: str, group: int):
        self.campaign = campaign
        self.writer = f"{name}-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._group, self._lock, self._pending = group, threading.Lock(), []
        with engine.connect() as connection:
            self.boot = server_boot(connection)
        if engine.dialect.name == "postgresql":
            # Intents and decisions wait for the disk; outcomes and marks only for the server (a crash of the
            # server, not of the worker, can lose them: the boot rule then counts the intents as on the wire).
            self._durable = _PostgresRows(engine, asynchronous=False)
            self._outcomes = _PostgresRows(engine, asynchronous=True)
            self._marks = _PostgresRows(engine, asynchronous=True)  # the sending thread only, one commit each
        else:
            self._durable, self._outcomes, self._marks = _CoreRows(engine), _CoreRows(engine), _CoreRows(engine)
        self._durable.insert([self._row(None, "open", boot=self.boot, ts=time.time())])

    def _row(self, key: str | None, event: str, status: int | None = None, message_id: str | None = None,
             evidence: str | None = None, ts: float | None = None, boot: str | None = None) -> dict:
        return {"campaign": self.campaign, "writer": self.writer, "key": key, "event": event, "status": status,
                "message_id": message_id, "evidence": evidence, "ts": ts, "boot": boot}

    def sent(self, key: str) -> None:
        """SEND-7: this part is about to go on the wire; committed (not waited to disk) before the bytes are."""
        self._marks.insert([self._row(key, "sent")])

    def sent_many(self, keys: list[str]) -> None:
        """SEND-7: these parts are about to go on the wire together (one write to the SMSC): one round trip, each
        mark committed before it returns."""
        self._marks.insert([self._row(key, "sent") for key in keys], atomic=False)

    def intents(self, keys: list[str]) -> None:
        """Committed, durably, before any of these parts is sent."""
        now = time.time()
        with self._lock:
            self._durable.insert([self._row(key, "intent", ts=now) for key in keys])

    def outcome(self, key: str, status: int, message_id: str | None, evidence: str = "submit_sm_resp") -> None:
        with self._lock:
            self._pending.append(self._row(key, outcome_event(status), status, message_id, evidence, time.time()))
            if len(self._pending) >= self._group:
                self._commit_outcomes(self._outcomes)

    def _commit_outcomes(self, rows: _CoreRows | _PostgresRows) -> None:
        pending, self._pending = self._pending, []
        if pending:
            rows.insert(pending)

    def decide(self, keys: list[str], event: str, evidence: str) -> None:
        """SEND-7: what becomes of parts in flight when a sender stopped (`held` or `resend`), committed at once."""
        now = time.time()
        with self._lock:
            self._commit_outcomes(self._outcomes)
            self._durable.insert([self._row(key, event, evidence=evidence, ts=now) for key in keys])

    def flush(self) -> None:
        """Commit the outcomes so far: a killed worker then loses none (a PostgreSQL crash may)."""
        with self._lock:
            self._commit_outcomes(self._outcomes)

    def sync(self) -> None:
        with self._lock:
            self._commit_outcomes(self._durable)

    def close(self) -> None:
        try:
            self.sync()
        finally:
            for rows in (self._durable, self._outcomes, self._marks):
                rows.close()


def store_records(engine: Engine, campaign: str) -> pl.DataFrame:
    """A campaign's ledger rows in insert order, as `file_records` gives a file's: LEDGER_SCHEMA and `on_the_wire`
    (a `sent` mark, or an intent of a writer that opened before the server last started, SEND-7)."""
    query = (select(*(send_ledger.c[name] for name in ("writer", *LEDGER_SCHEMA, "boot")))
             .where(send_ledger.c.campaign == campaign).order_by(send_ledger.c.id))
    with engine.connect() as connection:
        this_boot = server_boot(connection)
        rows = connection.execute(query).all()
    frame = pl.DataFrame(rows, schema={"writer": pl.String, **LEDGER_SCHEMA, "boot": pl.String}, orient="row")
    trusted = (frame.filter(pl.col("event") == "open")
               .select("writer", (pl.lit(bool(this_boot)) & (pl.col("boot") == this_boot)).alias("_trusted")))
    frame = frame.join(trusted, on="writer", how="left", maintain_order="left")
    return frame.select(*LEDGER_SCHEMA, ((pl.col("event") == "sent")
                                         | ((pl.col("event") == "intent") & ~pl.col("_trusted").fill_null(False)))
                        .fill_null(False).alias("on_the_wire")).cast(RECORDS_SCHEMA)


def store_sent_parts(engine: Engine, after: int) -> pl.DataFrame:
    """Rows with an SMSC message id, past id `after`, of every campaign's own ledger (not its test sends'):
    id, campaign, key, message_id, ts (the events receiver's index, read incrementally)."""
    query = (select(send_ledger.c.id, send_ledger.c.campaign, send_ledger.c.key, send_ledger.c.message_id,
                    send_ledger.c.ts)
             .where(send_ledger.c.id > after, send_ledger.c.message_id.is_not(None),
                    send_ledger.c.campaign.not_like("%/%"))
             .order_by(send_ledger.c.id))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return pl.DataFrame(rows, schema={"id": pl.Int64, "campaign": pl.String, "key": pl.String,
                                      "message_id": pl.String, "ts": pl.Float64}, orient="row")


class StoreSentParts:
    """Every campaign's sent parts in the store (campaign, number, message_id, ts: events.LedgerIndex's columns), read
    incrementally: each call reads the rows past those read `SETTLE` seconds ago or more. Ids are taken at insert and
    a writer commits right after (a transaction of its own), so a row with a lower id committed later than a higher
    one read is still read again within that margin."""

    SETTLE = 10.0

    def __init__(self, engine: Engine):
        self.engine = engine
        self._frame = pl.DataFrame(schema={"id": pl.Int64, **_PARTS})
        self._marks: list[tuple[float, int]] = []  # (monotonic time, the highest id read then)

    def parts(self) -> pl.DataFrame:
        from pipelines.dlr import KEY_SEPARATOR

        now = time.monotonic()
        old = [index for index, (at, _) in enumerate(self._marks) if now - at >= self.SETTLE]
        settled = self._marks[old[-1]][1] if old else 0
        self._marks = self._marks[old[-1]:] if old else self._marks
        fresh = store_sent_parts(self.engine, settled).select(
            "id", "campaign", pl.col("key").str.split(KEY_SEPARATOR).list.first().alias("number"), "message_id", "ts")
        self._frame = pl.concat([self._frame.filter(pl.col("id") <= settled), fresh])
        self._marks.append((now, self._frame.get_column("id").max() or 0))
        return self._frame.drop("id")


_PARTS = {"campaign": pl.String, "number": pl.String, "message_id": pl.String, "ts": pl.Float64}


def ledger_engine(bucket: Path | None = None) -> Engine:
    """The account store the ledger lives in: SMSFLOW_DB, else the local bucket's (pipelines.store.open_store)."""
    from pipelines.store import open_store

    return open_store(bucket=bucket)
