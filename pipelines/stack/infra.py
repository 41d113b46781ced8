"""PostgreSQL, Redis and S3 for the stack: the machine's PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) when
they answer, else a throwaway server of the installed binaries on a free port of 127.0.0.1; moto_server (S3 and SQS)
always started here. What was started here is said, so that `make stack-down` stops it and nothing else."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from pipelines.stack.services import local_command

LOOPBACK = "127.0.0.1"


def answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def wait_for(condition, what: str, log: Path, process: subprocess.Popen | None = None, timeout: float = 60) -> None:
    """Until `condition()` holds; an error naming `what` and its log's end when it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while not condition():
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{what} did not start (see {log}): {tail}")
        time.sleep(0.2)


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        raise RuntimeError(f"no PostgreSQL answers on 127.0.0.1:5432 and `{name}` is not installed to start one "
                           f"(Debian: apt-get install postgresql)")
    return str(found)


def _postgres_user() -> str | None:
    """The user a throwaway cluster runs as: this one, or (PostgreSQL refuses root) `postgres`, else `nobody`."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("PostgreSQL cannot run as root and this machine has no `postgres` nor `nobody` user")


def start_postgres(folder: Path) -> tuple[str, Path]:
    """A throwaway cluster (initdb, trust auth, 127.0.0.1 only, a free port); returns host:port and its data
    folder (`stop_postgres`). Run as root, the cluster is another user's, in a folder of its own under /tmp that
    it can reach (a test's folder is not), recorded in `folder`/data-folder."""
    folder.mkdir(parents=True, exist_ok=True)
    user = _postgres_user()
    if user is None:
        cluster = folder
    else:
        import shutil as _shutil
        import tempfile

        cluster = Path(tempfile.mkdtemp(prefix="smsflow-stack-pg-"))
        _shutil.chown(cluster, user)
    (folder / "data-folder").write_text(str(cluster), encoding="utf-8")
    data, log = cluster / "data", cluster / "postgres.log"
    subprocess.run([_binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True, user=user, cwd=cluster)
    port = free_port()
    subprocess.run([_binary("pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
                    f"-h {LOOPBACK} -p {port} -k {cluster} -c max_connections=200", "start"],
                   check=True, capture_output=True, start_new_session=True, user=user, cwd=cluster)
    return f"{LOOPBACK}:{port}", data


def stop_postgres(data: Path) -> None:
    """Stop the throwaway cluster of `data` and delete it (it held only the stack's databases)."""
    if (data / "postmaster.pid").is_file():
        subprocess.run([_binary("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True,
                       user=_postgres_user(), cwd=data.parent)
    shutil.rmtree(data.parent, ignore_errors=True)


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """Debian's redis-server on a free port of 127.0.0.1, nothing saved to disk; returns it and host:port."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("no Redis answers on 127.0.0.1:6379 and `redis-server` is not installed to start one "
                           "(Debian: apt-get install redis-server)")
    folder.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), folder / "redis.log"
    process = subprocess.Popen(["redis-server", "--bind", LOOPBACK, "--port", str(port), "--save", "",
                                "--appendonly", "no", "--dir", str(folder), "--logfile", str(log)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: answers(LOOPBACK, port), "redis-server", log, process)
    return process, f"{LOOPBACK}:{port}"


def start_moto(folder: Path) -> tuple[subprocess.Popen, str]:
    """moto_server (S3 and SQS in memory) on a free port of 127.0.0.1; returns it and its endpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), folder / "moto.log"
    endpoint = f"http://{LOOPBACK}:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(local_command(("moto_server", "-H", LOOPBACK, "-p", str(port))), stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)

    def up() -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
            return True
        return False

    wait_for(up, "moto_server", log, process)
    return process, endpoint
