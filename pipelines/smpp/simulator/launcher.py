"""The simulator as a child process (`smsflow smsc`): the one launcher of the tests, the benchmarks and the demo."""

from __future__ import annotations

import selectors
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

from pipelines.smpp.simulator.config import SmscConfig
from pipelines.smpp.simulator.log import read_records

# `python -m pipelines.cli` from the folder holding the package: it imports even from a checkout not installed.
_PACKAGE_ROOT = Path(__file__).resolve().parents[3]


class SimulatorProcess:
    """A `smsflow smsc` child process, its port, its JSON-lines log and its stderr; stopped on leaving `with`.

    `config` is an SmscConfig or a dict of its settings (a dict defaults to port 0: any free port); `settings`
    override it. Validated here, before anything starts. The log defaults to `folder/smsc.jsonl`.
    """

    def __init__(self, folder: Path, config: SmscConfig | dict | None = None, *, start_timeout: float = 60.0,
                 **settings):
        import yaml

        given = config.model_dump() if isinstance(config, SmscConfig) else {"port": 0, **(config or {})}
        config = SmscConfig.model_validate({**given, **settings})
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        # absolute, as the child runs from the package's folder
        self.log = (config.log or self.folder / "smsc.jsonl").resolve()
        self.config = config.model_copy(update={"log": self.log})
        self.stderr = self.folder / "smsc.stderr"  # a file, not a pipe nobody reads: a full pipe would block it
        path = self.folder / "smsc.yaml"
        path.write_text(yaml.safe_dump(self.config.model_dump(mode="json", exclude_none=True)), encoding="utf-8")
        with self.stderr.open("w", encoding="utf-8") as stderr:
            self.process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "smsc", "--config", str(path)],
                                            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=_PACKAGE_ROOT)
        with selectors.DefaultSelector() as selector:  # a simulator that hangs before its line is stopped
            selector.register(self.process.stdout, selectors.EVENT_READ)
            answered = bool(selector.select(start_timeout))
            line = self.process.stdout.readline() if answered else ""
        if "listening on" not in line:
            status = self.stop(timeout=5)
            why = f"exited with status {status}" if answered else f"no 'listening on' line in {start_timeout:g} s"
            raise RuntimeError(f"the SMSC simulator did not start ({why}): {line.strip() or 'no output'}; "
                               f"stderr: {self.stderr.read_text(encoding='utf-8').strip()}")
        self.host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
        self.port = int(port)

    def url(self, **query) -> str:
        """The `smpp://` URL of the config's first user, for `smsflow send --smsc` and SmscSettings.from_url."""
        system_id, password = next(iter(self.config.users.items()))
        return (f"smpp://{quote(system_id, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}"
                + (f"?{urlencode(query)}" if query else ""))

    def records(self, event: str | None = None) -> list[dict]:
        """The log's complete records so far, of one `event` (part, message, receipt, reply...) or all."""
        return read_records(self.log, event)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; always reaps, so no process outlives its owner."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.process.stdout.closed:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_process(config: SmscConfig, folder: Path) -> tuple[subprocess.Popen, int]:
    """Start `smsflow smsc` on `config` (port 0 = any free port); returns (process, port), the caller stops it.

    For the demo drivers, which hold the Popen themselves; new code uses SimulatorProcess.
    """
    simulator = SimulatorProcess(folder, config)
    return simulator.process, simulator.port
