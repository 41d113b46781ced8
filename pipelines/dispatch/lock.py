"""One live sender per campaign (PLUS-1): the sender lock, and bind processes that die with their sender.

File locks (flock) in the campaign's dispatch/ folder on one host; when the send ledger is in the account store on
PostgreSQL (SMSFLOW_LEDGER=store, issue 13), the same locks are PostgreSQL advisory locks held on a connection of
the sender's own for its life, so a sender on another worker is refused too, and they die with the process or host.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import sys
import time
from pathlib import Path

from pipelines.dispatch.errors import CampaignBusy
from pipelines.dispatch.scopes import overlaps, scope_of
from pipelines.layout import CampaignPaths

_ORPHAN_WAIT = 5.0  # seconds for bind processes of a killed sender to die (PR_SET_PDEATHSIG: milliseconds)
_bind_lock_fd: int | None = None  # a bind process's own lock, held until it exits


def _try_flock(path: Path, exclusive: bool) -> int | None:
    """An open descriptor holding a flock on `path`, or None when another process holds a conflicting one."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _flock_holders(path: Path) -> list[int]:
    """Pids holding a flock on `path` (Linux /proc/locks), else the pid its holder wrote in it."""
    try:
        inode = str(path.stat().st_ino)
        pids = sorted({int(f[4]) for f in (line.split() for line in Path("/proc/locks").read_text().splitlines())
                       if len(f) > 5 and f[1] == "FLOCK" and f[5].rsplit(":", 1)[-1] == inode})
    except (OSError, ValueError):
        pids = []
    if not pids:
        with contextlib.suppress(OSError, ValueError):
            pids = [int(path.read_text().split()[0])]
    return pids


def _busy(paths: CampaignPaths, what: str, pids: list[int] | list[str]) -> CampaignBusy:
    holders = ", ".join(str(pid) for pid in pids) or "unknown"
    return CampaignBusy(f"campaign {paths.root} is being sent by another process ({what}, pid {holders}); "
                        f"one live sender per campaign: wait for it to end, or stop it [PLUS-1]")




def _live_orphans(paths: CampaignPaths, rows: range | None) -> list[int]:
    """Pids of bind processes, left by a sender that died, still sending any of `rows` (None: the whole plan)."""
    pids = []
    for path in paths.binds.glob("*.lock") if paths.binds.is_dir() else []:
        owner_scope, _, pid = path.stem.rpartition("-")
        if not overlaps(owner_scope, rows):
            continue
        fd = _try_flock(path, exclusive=True)
        if fd is None:
            pids.append(int(pid))
            continue
        path.unlink(missing_ok=True)  # its process is gone: the kernel released the lock
        os.close(fd)
    return pids


def _one_batch_size(paths: CampaignPaths, locks: CampaignPaths, batch_size: int, held: list[int]) -> None:
    """PLUS-1: batches of another size cover other rows (batch 1 of 200 is half of batch 0 of 400), so one
    batch size is sent at a time. This size's shared lock is taken first, then every other size's is probed:
    of two senders racing with different sizes, the later prober always sees the other's lock."""
    own = locks.batch_size_lock(batch_size)
    fd = _try_flock(own, exclusive=False)
    if fd is None:  # another size's sender is probing it this instant
        raise _busy(paths, f"batches of another size are being checked against batches of {batch_size} rows",
                    _flock_holders(own))
    held.append(fd)
    for size, path in sorted(locks.batch_size_locks().items()):
        if size == batch_size:
            continue
        probe = _try_flock(path, exclusive=True)
        if probe is None:
            raise _busy(paths, f"batches of {size} rows, which overlap batches of {batch_size} rows",
                        _flock_holders(path))
        os.close(probe)


@contextlib.contextmanager
def campaign_lock(plan_dir: Path, batch: int | None = None, batch_size: int = 10_000):
    """Hold the campaign's sender lock for a send; CampaignBusy at once when another sender lives (PLUS-1).

    OS file locks (flock) in <campaign>/dispatch/ (with the ledger in a SQLite store: beside the store's file, so
    every working folder of the host shares them), released by the kernel when their holder dies however it
    dies; advisory locks when the ledger is in a PostgreSQL store (lock_advisory). The whole plan takes the sender lock exclusively; a batch shares it with other batches of its own size
    (never another size: their rows overlap) and takes its batch's own. Bind processes of a killed sender die
    with it (PR_SET_PDEATHSIG); until those sending any of these rows are gone, the lock refuses.
    Yields the lock pattern of this sender's bind processes.
    """
    paths = CampaignPaths.of_plan(plan_dir)
    paths.dispatch.mkdir(parents=True, exist_ok=True)
    rows = None if batch is None else range(batch * batch_size, (batch + 1) * batch_size)
    engine = _advisory_engine(paths)
    if engine is not None:
        from pipelines.dispatch.lock_advisory import advisory_campaign_lock

        with advisory_campaign_lock(engine, paths, batch, batch_size, _busy):
            deadline = time.monotonic() + _ORPHAN_WAIT
            while orphans := _live_orphans(paths, rows):  # bind processes of a sender killed on this host
                if time.monotonic() > deadline:
                    raise _busy(paths, "bind processes of a sender that died", orphans)
                time.sleep(0.05)
            yield paths.bind_lock(scope_of(rows), "{pid}")
        return
    locks = _lock_home(paths)
    locks.dispatch.mkdir(parents=True, exist_ok=True)
    held: list[int] = []
    try:
        fd = _try_flock(locks.sender_lock, exclusive=batch is None)
        if fd is None:
            raise _busy(paths, "the whole plan" if batch is None else f"batch {batch} needs the plan free",
                        _flock_holders(locks.sender_lock))
        held.append(fd)
        own = locks.sender_lock
        if batch is not None:
            _one_batch_size(paths, locks, batch_size, held)
            own = locks.batch_lock(batch)
            fd = _try_flock(own, exclusive=True)
            if fd is None:
                raise _busy(paths, f"batch {batch}", _flock_holders(own))
            held.append(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        deadline = time.monotonic() + _ORPHAN_WAIT
        while orphans := _live_orphans(locks, rows):
            if time.monotonic() > deadline:
                raise _busy(paths, "bind processes of a sender that died", orphans)
            time.sleep(0.05)
        yield locks.bind_lock(scope_of(rows), "{pid}")
    finally:
        for fd in reversed(held):
            os.close(fd)


def _lock_home(paths: CampaignPaths) -> CampaignPaths:
    """Where a campaign's lock files are: its own folder, or, with the ledger in a SQLite store, a folder named
    after the campaign beside the store's file (<store>.locks/<campaign>/dispatch/)."""
    from pipelines.dispatch.ledger import ledger_mode

    if ledger_mode() != "store":
        return paths
    from pipelines.dispatch.ledger_store import ledger_engine

    root = paths.root
    database = ledger_engine(root.parent.parent if root.parent.name == "campaigns" else None).url.database
    if not database or database == ":memory:":
        return paths
    return CampaignPaths(Path(f"{database}.locks") / root.name)


def _advisory_engine(paths: CampaignPaths):
    """The account store's engine when the send ledger is in it on PostgreSQL (advisory locks), else None."""
    from pipelines.dispatch.ledger import ledger_mode

    if ledger_mode() != "store":
        return None
    from pipelines.dispatch.ledger_store import ledger_engine

    root = paths.root
    engine = ledger_engine(root.parent.parent if root.parent.name == "campaigns" else None)
    return engine if engine.dialect.name == "postgresql" else None


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: the kernel kills this process with SIGKILL when the process that started it dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def bind_process_started(lock_pattern: str, parent: int) -> None:
    """A bind process: its own lock first (a resume sees it alive), then die with the parent, then check it."""
    global _bind_lock_fd
    path = Path(lock_pattern.format(pid=os.getpid()))
    path.parent.mkdir(parents=True, exist_ok=True)
    _bind_lock_fd = _try_flock(path, exclusive=True)
    paths = CampaignPaths(path.parent.parent.parent)  # <campaign>/dispatch/binds/<scope>-<pid>.lock
    engine = _advisory_engine(paths)
    if engine is not None:  # seen by a resume on any worker, not only by one on this host
        from pipelines.dispatch.lock_advisory import hold_bind_lock

        hold_bind_lock(engine, paths, path.stem.rpartition("-")[0])
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before PR_SET_PDEATHSIG was set: send nothing
        os._exit(1)
