"""The stack's processes by pid and start time (a pid the system has reused is never signalled), and a whole
session's members (each service runs in a session of its own: its children and task processes carry its id)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Started:
    """A process by its pid and start time (seconds since the epoch, as psutil gives it)."""

    pid: int
    started: float


def started(pid: int) -> Started:
    import psutil

    return Started(pid, psutil.Process(pid).create_time())


def session_members(leader: Started) -> list:
    """Every running process of the session `leader` opened (started after it: no stranger with a reused id)."""
    import psutil

    members = []
    for process in psutil.process_iter(["create_time"]):
        try:
            if os.getsid(process.pid) == leader.pid and process.info["create_time"] >= leader.started - 1:
                members.append(process)
        except (OSError, psutil.Error):  # gone meanwhile
            continue
    return members


def terminate(processes: list, timeout: float = 30.0) -> int:
    """SIGTERM to each process, SIGKILL to those still running after `timeout` seconds; returns how many ran."""
    import psutil

    running = []
    for process in processes:
        try:
            process.terminate()
            running.append(process)
        except psutil.NoSuchProcess:
            continue
    _, left = psutil.wait_procs(running, timeout=timeout)
    for process in left:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(left, timeout=5)
    return len(running)
