"""`smsflow receive` (PLUS-4): stay bound as a receiver and record receipts and replies."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from pipelines.dispatch.session import BindReport, BindSession
from pipelines.dispatch.settings import SmscSettings
from pipelines.dlr import EventWriter


def receive(settings: SmscSettings, events_dir: Path, seconds: float | None = None,
            until: Callable[[BindReport], bool] | None = None) -> BindReport:
    """`smsflow receive`: stay bound as a receiver and record every receipt and reply (late ones too), for
    `seconds` or until `until(report)` holds."""
    session = BindSession(settings, None, EventWriter(events_dir, f"receiver-{os.getpid()}"), ("", 0, ""), "", None)
    session.open(mode="receiver")
    started = time.monotonic()
    try:
        while (seconds is None or time.monotonic() - started < seconds) and session.error is None \
                and not (until is not None and until(session.report)):
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        session.events.flush()
    session.report.seconds = time.monotonic() - started
    return session.report
