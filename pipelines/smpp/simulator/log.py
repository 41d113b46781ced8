"""The simulator's JSON-lines log: every accepted part and reassembled message, what handsets would receive."""

from __future__ import annotations

import json
from pathlib import Path


class EventLog:
    """The JSON-lines log of what handsets would receive, flushed after every network read."""

    def __init__(self, path: Path | None):
        if path:  # `--log bucket/smsc/smsc.jsonl` on a fresh checkout: the folder is made, as every output's is
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._file = Path(path).open("a", encoding="utf-8") if path else None

    def write(self, record: dict) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None  # a connection lost during shutdown must not write to a closed file


def read_records(path: Path, event: str | None = None) -> list[dict]:
    """The complete records of a simulator's log, of one `event` or all; [] before the first is written."""
    if not path.exists():
        return []
    # the simulator may be writing: a last line without its newline is not complete yet
    complete = path.read_text(encoding="utf-8").split("\n")[:-1]
    records = [json.loads(line) for line in complete if line.strip()]
    return [record for record in records if event is None or record["event"] == event]
