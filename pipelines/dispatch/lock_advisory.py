"""PLUS-1 across hosts (issue 13): the sender, batch-size, batch and bind locks as PostgreSQL advisory locks, held on
a connection of their own for the holder's life; the server releases them when that connection ends, so they die
with the process or its host. Used when the send ledger is in the account store on PostgreSQL (`lock.campaign_lock`).

Keys are pairs (int4, int4): a hash of (campaign, kind) and a number (the batch, the batch size, a hash of a bind
scope), so pg_locks lists a campaign's batch sizes and binds by their first key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

from pipelines.layout import CampaignPaths

_ORPHAN_WAIT = 5.0  # seconds for bind processes of a killed sender to die (as lock._ORPHAN_WAIT)
_bind_connection: Connection | None = None  # a bind process's lock connection, held until it exits


def _int4(value: str) -> int:
    """A stable signed 32-bit hash of `value` (blake2b), as advisory lock keys take."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=4).digest(), "big", signed=True)


def _class(campaign: str, kind: str) -> int:
    return _int4(f"smsflow:{campaign}:{kind}")


def _connect(engine: Engine, role: str) -> Connection:
    """A connection of its own, autocommit, named after its holder (what a refused sender is told)."""
    from pipelines.dispatch.ledger_store import dedicated

    connection = dedicated(engine).connect().execution_options(isolation_level="AUTOCOMMIT")
    connection.execute(text("SELECT set_config('application_name', :name, false)"),
                       {"name": f"smsflow {role} pid {os.getpid()} on {socket.gethostname()}"[:63]})
    return connection


def _release(connection: Connection) -> None:
    """End the session, its advisory locks with it (a dedicated connection: no pool keeps it)."""
    with contextlib.suppress(Exception):
        connection.close()


def _try(connection: Connection, key: tuple[int, int], shared: bool) -> bool:
    function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    return bool(connection.execute(text(f"SELECT {function}(:k1, :k2)"), {"k1": key[0], "k2": key[1]}).scalar())


_HELD = text(
    "SELECT l.objid::bigint AS number, coalesce(a.application_name, '') AS holder FROM pg_locks l "
    "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid::bigint = :k1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.pid <> pg_backend_pid()")


def _held(connection: Connection, first: int) -> list[tuple[int, str]]:
    """(second key as a signed int4, holder) of the advisory locks others hold under the first key `first`."""
    rows = connection.execute(_HELD, {"k1": first & 0xFFFFFFFF}).all()
    return [(number - (1 << 32) if number >= 1 << 31 else number, holder) for number, holder in rows]


def _holders(connection: Connection, key: tuple[int, int]) -> list[str]:
    """Who holds `key`: 'N on host' from the holder's application_name (pid N on host)."""
    return sorted({holder.split(" pid ", 1)[-1] for number, holder in _held(connection, key[0]) if number == key[1]})


@contextlib.contextmanager
def advisory_campaign_lock(engine: Engine, paths: CampaignPaths, batch: int | None, batch_size: int,
                           busy: Callable[..., Exception]):
    """`lock.campaign_lock`'s rules as advisory locks: the whole plan takes the sender lock exclusively; a batch
    shares it, shares its batch size's lock (refused while a sender of another size lives: their rows overlap) and
    takes its batch's own. Until the bind processes of a killed sender that send any of these rows are gone (on any
    host), refused. `busy(paths, what, holders)` makes the CampaignBusy error."""
    campaign = paths.root.name
    connection = _connect(engine, "sender")
    try:
        sender = (_class(campaign, "sender"), 0)
        if not _try(connection, sender, shared=batch is not None):
            raise busy(paths, "the whole plan" if batch is None else f"batch {batch} needs the plan free",
                       _holders(connection, sender))
        if batch is not None:
            size = (_class(campaign, "size"), batch_size)
            _try(connection, size, shared=True)
            # Of two senders of different sizes taking theirs at once, the later lister sees the other's.
            others = sorted({(number, holder.split(" pid ", 1)[-1]) for number, holder in _held(connection, size[0])
                             if number != batch_size})
            if others:
                raise busy(paths, f"batches of {others[0][0]} rows, which overlap batches of {batch_size} rows",
                           [holder for _, holder in others])
            own = (_class(campaign, "batch"), batch)
            if not _try(connection, own, shared=False):
                raise busy(paths, f"batch {batch}", _holders(connection, own))
        scope = "all" if batch is None else f"rows-{batch * batch_size}-{(batch + 1) * batch_size}"
        deadline = time.monotonic() + _ORPHAN_WAIT
        while orphans := _live_binds(connection, campaign, scope):
            if time.monotonic() > deadline:
                raise busy(paths, "bind processes of a sender that died", orphans)
            time.sleep(0.05)
        yield
    finally:
        _release(connection)


def _live_binds(connection: Connection, campaign: str, scope: str) -> list[str]:
    """Holders of bind locks that may send rows of `scope` (the whole plan: any; a batch: the binds whose rows
    overlap its own, whatever batch size their sender had, and whole-plan binds; binds of other rows are left)."""
    from pipelines.dispatch.scopes import ROWS_SCOPE as _ROWS_SCOPE, overlaps as _overlaps

    match = _ROWS_SCOPE.fullmatch(scope)
    rows = range(int(match[1]), int(match[2])) if match else None
    live = set()
    for number, holder in _held(connection, _class(campaign, "binds")):
        role, _, who = holder.partition(" pid ")
        theirs = role.removeprefix("smsflow bind").strip()  # the rows the bind sends, named when it took its lock
        if rows is None or number in (_int4(scope), _int4("all")) or _overlaps(theirs or "all", rows):
            live.add(who)
    return sorted(live)


def hold_bind_lock(engine: Engine, paths: CampaignPaths, scope: str) -> None:
    """A bind process's lock (shared: a sender's binds hold it side by side), held until the process exits."""
    global _bind_connection
    _bind_connection = _connect(engine, f"bind {scope}")  # its rows in its name: a sender of another size sees them
    _try(_bind_connection, (_class(paths.root.name, "binds"), _int4(scope)), shared=True)
