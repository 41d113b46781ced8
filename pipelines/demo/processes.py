"""The processes `smsflow airflow` starts, written down in its AIRFLOW_HOME so that `smsflow airflow --stop` stops
every one of them, even after the command itself was killed.

`airflow standalone` runs in a session of its own: its api-server, scheduler, dag-processor, triggerer and the
task processes they fork (each in a process group of its own, but in that session) all carry its session id, so
a scan of the session finds every one. So does `smsflow links serve` (a session of its own: its granian supervisor and worker processes).
The simulator is a child of the command, recorded by its pid. Each
process is matched with its start time too, so a pid the system has reused is never signalled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

STACK_FILE = "smsflow-airflow.json"  # in AIRFLOW_HOME, while the stack runs


@dataclass(frozen=True)
class Started:
    """A process by its pid and start time (seconds since the epoch, as psutil gives it)."""

    pid: int
    started: float


@dataclass(frozen=True)
class StackRecord:
    """What `smsflow airflow` started: itself (`owner`), the sessions it opened, the other children."""

    owner: Started
    sessions: list[Started] = field(default_factory=list)  # session leaders: every process of their session
    children: list[Started] = field(default_factory=list)  # single processes (the SMSC simulator)
    url: str = ""  # Airflow's address as this machine reaches it
    bucket: str = ""
    links: str = ""  # the short-link service's address (`smsflow links serve`, URL-3)


def started(pid: int) -> Started:
    import psutil

    return Started(pid, psutil.Process(pid).create_time())


def write_record(home: Path, record: StackRecord) -> Path:
    path = home / STACK_FILE
    path.write_text(json.dumps(asdict(record)), encoding="utf-8")
    return path


def read_record(home: Path) -> StackRecord | None:
    path = home / STACK_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return StackRecord(owner=Started(**data["owner"]), sessions=[Started(**s) for s in data["sessions"]],
                       children=[Started(**c) for c in data["children"]], url=data.get("url", ""),
                       bucket=data.get("bucket", ""), links=data.get("links", ""))


def live_record(home: Path) -> StackRecord | None:
    """The record of the `smsflow airflow` running from `home`, None when none runs (a stale record is ignored)."""
    record = read_record(home)
    return record if record is not None and _alive(record.owner) is not None else None


def _alive(process: Started):
    """The psutil Process of `process` if it still runs (the same start time: not a reused pid), else None."""
    import psutil

    try:
        found = psutil.Process(process.pid)
        return found if abs(found.create_time() - process.started) < 1 and found.is_running() else None
    except psutil.Error:
        return None


# One way to find and stop a session's processes, shared with make stack (the core never imports the demo).
from pipelines.stack.processes import session_members, terminate  # noqa: E402


def stack_processes(record: StackRecord) -> list:
    """The recorded processes still running (the owner excepted), each session's members included."""
    found = {}
    for leader in record.sessions:
        for process in session_members(leader):
            found[process.pid] = process
    for child in record.children:
        if (process := _alive(child)) is not None:
            found[process.pid] = process
    found.pop(record.owner.pid, None)
    return list(found.values())


def stop_recorded(home: Path, timeout: float = 60.0) -> tuple[StackRecord | None, int]:
    """`smsflow airflow --stop`: SIGTERM to the command (it stops its children as Ctrl-C does), then whatever
    is left of what it recorded (it was killed with SIGKILL, say) is terminated too; returns the record and how
    many processes were still running."""
    import psutil

    record = read_record(home)
    if record is None:
        return None, 0
    count = 0
    if (owner := _alive(record.owner)) is not None:
        count += 1
        owner.terminate()
        _, left = psutil.wait_procs([owner], timeout=timeout)
        for process in left:
            process.kill()
    count += terminate(stack_processes(record))
    (home / STACK_FILE).unlink(missing_ok=True)
    return record, count
