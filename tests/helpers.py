"""Helpers shared by the tests: the checkout's root, the `smsflow` command, list files, specs and plans."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SMSFLOW = [sys.executable, "-m", "pipelines.cli"]


def smsflow(*args: str, timeout: float = 120, **options) -> subprocess.CompletedProcess:
    """Run `smsflow ARGS` as a user does (a real process, from the checkout), capturing its text output."""
    return subprocess.run([*SMSFLOW, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **options)


def smsflow_here(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `smsflow ARGS` in this process: the same typer application, its one-line failures and exit codes,
    stdout and stderr captured apart, without the seconds a new Python process costs. `env` adds variables for
    the command (SMSFLOW_DB ...)."""
    import contextlib
    import io

    from pipelines.cli import app

    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(env or {})
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                app(args=list(args), prog_name="smsflow")
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["smsflow", *args], code, out.getvalue(), err.getvalue())


def start_smsflow(*args: str, **options) -> subprocess.Popen:
    """Start `smsflow ARGS` in the background (output discarded unless `options` say otherwise)."""
    options.setdefault("stdout", subprocess.DEVNULL)
    options.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen([*SMSFLOW, *args], cwd=ROOT, **options)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll `condition` until it holds; fail naming `what` after a generous `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def frozen(simulator) -> Iterator[None]:
    """The simulator process stopped (SIGSTOP) for the block: senders stay mid-send, holding what they hold."""
    os.kill(simulator.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(simulator.process.pid, signal.SIGCONT)


def write_list(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """A list file exactly as a CRM would write it (bytes, no newline translation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def write_spec(folder: Path, **fields) -> Path:
    """A YAML spec in `folder`; lists are relative to it."""
    spec = {"name": "Test", "type": "notification", "message": "Bonjour ${Prénom}"}
    spec.update(fields)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def make_plan(bucket: Path, rows: list[tuple[str, str]], **spec) -> Path:
    """Plan a campaign of (mobile, message) rows from `bucket`/list.csv into `bucket`/campaign/plan."""
    from pipelines.plan import plan_file

    text = "Mobile;Texte\n" + "".join(f"{mobile};{message}\n" for mobile, message in rows)
    write_list(bucket / "list.csv", text)
    spec.setdefault("message", "${Texte}")
    return plan_file(write_spec(bucket, lists=["list.csv"], **spec), bucket / "campaign" / "plan").out_dir


def mobiles(count: int, start: int = 0) -> list[str]:
    """`count` distinct French mobile numbers."""
    return [f"06{10_000_000 + start + i:08d}"[:10] for i in range(count)]


def bucket_and_a_secret_outside(tmp_path: Path) -> tuple[Path, Path]:
    """A file outside the bucket whose first line must never appear in an error, and a bucket."""
    outside = tmp_path / "outside" / "passwd"
    outside.parent.mkdir()
    outside.write_text("root:x:0:0:SECRET-LINE:/root:/bin/bash\n", encoding="utf-8")
    bucket = tmp_path / "bucket"
    (bucket / "lists").mkdir(parents=True)
    (bucket / "lists" / "ok.csv").write_text("Mobile\n0611111111\n", encoding="utf-8")
    (bucket / "lists" / "link.csv").symlink_to(outside)
    return bucket, outside


def airflow_home_from(template: Path, home: Path) -> Path:
    """`home` with a copy of the migrated metadata database `template`."""
    import shutil

    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, home / "airflow.db")
    return home
