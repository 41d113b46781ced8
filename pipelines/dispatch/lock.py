"""One live sender per campaign (PLUS-1): the sender lock, and bind processes that die with their sender."""

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
from pipelines.dispatch.ledger import campaign_dirs

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


def _busy(folder: Path, what: str, pids: list[int]) -> CampaignBusy:
    holders = ", ".join(str(pid) for pid in pids) or "unknown"
    return CampaignBusy(f"campaign {folder.parent} is being sent by another process ({what}, pid {holders}); "
                        f"one live sender per campaign: wait for it to end, or stop it [PLUS-1]")


def _live_orphans(folder: Path, scope: str) -> list[int]:
    """Pids of bind processes, left by a sender that died, still sending rows this `scope` covers."""
    pids = []
    for path in (folder / "binds").glob("*.lock") if (folder / "binds").is_dir() else []:
        owner_scope, _, pid = path.stem.rpartition("-")
        if scope != "all" and owner_scope not in ("all", scope):
            continue
        fd = _try_flock(path, exclusive=True)
        if fd is None:
            pids.append(int(pid))
            continue
        path.unlink(missing_ok=True)  # its process is gone: the kernel released the lock
        os.close(fd)
    return pids


@contextlib.contextmanager
def campaign_lock(plan_dir: Path, batch: int | None = None):
    """Hold the campaign's sender lock for a send; CampaignBusy at once when another sender lives (PLUS-1).

    An OS file lock (flock) in <campaign>/dispatch/, released by the kernel when its holder dies however it
    dies. The whole plan takes it exclusively; a batch shares it with other batches and takes its batch's own.
    Bind processes of a killed sender die with it (PR_SET_PDEATHSIG); until they are gone, the lock refuses.
    """
    folder = campaign_dirs(plan_dir)[0].parent
    folder.mkdir(parents=True, exist_ok=True)
    scope = "all" if batch is None else f"batch-{batch}"
    held: list[int] = []
    try:
        whole = folder / "sender.lock"
        fd = _try_flock(whole, exclusive=batch is None)
        if fd is None:
            raise _busy(folder, "the whole plan" if batch is None else f"batch {batch} needs the plan free",
                        _flock_holders(whole))
        held.append(fd)
        own = whole if batch is None else folder / f"sender-{scope}.lock"
        if batch is not None:
            fd = _try_flock(own, exclusive=True)
            if fd is None:
                raise _busy(folder, f"batch {batch}", _flock_holders(own))
            held.append(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        deadline = time.monotonic() + _ORPHAN_WAIT
        while orphans := _live_orphans(folder, scope):
            if time.monotonic() > deadline:
                raise _busy(folder, "bind processes of a sender that died", orphans)
            time.sleep(0.05)
        yield folder / "binds" / f"{scope}-{{pid}}.lock"
    finally:
        for fd in reversed(held):
            os.close(fd)


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
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before PR_SET_PDEATHSIG was set: send nothing
        os._exit(1)
