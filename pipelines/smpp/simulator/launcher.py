"""Start the simulator as a child process (`smsflow smsc`), for the demo, the benchmarks and the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipelines.smpp.simulator.config import SmscConfig


def start_process(config: SmscConfig, folder: Path):
    """Start `smsflow smsc` as a child process on `config` (port 0 = any free port); returns (process, port).

    For the demo and benchmarks, which need a real SMSC on 127.0.0.1 for the length of a run.
    """
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "smsc.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)), encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "smsc", "--config", str(path)],
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"the SMSC simulator did not start: {line!r}")
    return process, int(line.rsplit(":", 1)[1])
