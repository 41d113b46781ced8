"""`smsflow receive` (PLUS-4): stay bound as a receiver and record receipts and replies; with an account store,
the STOP and START replies apply to the own blacklists within about a second of arriving (BL-2, PLUS-6)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.dispatch.session import BindReport, BindSession
from pipelines.dispatch.settings import SmscSettings
from pipelines.dlr import EventWriter

log = logging.getLogger(__name__)
OPT_OUT_EVERY = 1.0  # seconds between two reads of the new event files for opt-outs (events are flushed each 0.5 s)


@dataclass
class ReceiveReport(BindReport):
    opt_outs: int = 0  # numbers newly opted out by the replies received (BL-2)


def receive(settings: SmscSettings, events_dir: Path, seconds: float | None = None,
            until: Callable[[BindReport], bool] | None = None, store=None,
            progress: Callable[[ReceiveReport], None] | None = None) -> ReceiveReport:
    """`smsflow receive`: stay bound as a receiver and record every receipt and reply (late ones too), for
    `seconds` or until `until(report)` holds. With `store` (the account store's Engine), every second the replies
    flushed since are recorded as opt-outs (`apply_opt_outs_from_events`; the account that last sent to the number);
    `opt_outs` counts the numbers newly opted out. `progress(report)` is told the counts so far whenever they
    change (a live count on the command line), and once when bound."""
    session = BindSession(settings, None, EventWriter(events_dir, f"receiver-{os.getpid()}"), ("", 0, ""), "", None)
    session.open(mode="receiver")
    started = time.monotonic()
    checked = started
    opt_outs = 0
    told = None
    try:
        while (seconds is None or time.monotonic() - started < seconds) and session.error is None \
                and not (until is not None and until(session.report)):
            time.sleep(0.05)
            if store is not None and time.monotonic() - checked >= OPT_OUT_EVERY:
                opt_outs += _apply_opt_outs(store, events_dir)
                checked = time.monotonic()
            if progress is not None and told != (counts := (session.report.receipts, session.report.replies,
                                                            opt_outs)):
                told = counts
                progress(_report(session.report, started, opt_outs))
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        session.events.flush()
        if store is not None:
            opt_outs += _apply_opt_outs(store, events_dir)
    return _report(session.report, started, opt_outs)


def _report(bind: BindReport, started: float, opt_outs: int) -> ReceiveReport:
    return ReceiveReport(**{**asdict(bind), "seconds": time.monotonic() - started}, opt_outs=opt_outs)


def _apply_opt_outs(store, events_dir: Path) -> int:
    """The new replies recorded; a store that does not answer is logged and tried again next second (the events
    are on disk, so nothing is lost)."""
    from pipelines.optouts import apply_opt_outs_from_events

    try:
        return apply_opt_outs_from_events(store, events_dir).added
    except Exception as error:  # noqa: BLE001 - the receiver must stay bound; the replies are read again later
        log.warning("opt-outs not recorded yet (%s: %s); trying again [BL-2]", type(error).__name__, error)
        return 0
