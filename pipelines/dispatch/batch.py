"""A batch of the plan over one bind (SEND-2, SEND-7, PLUS-1, PLUS-9), resuming from the ledger."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from pipelines.dispatch.errors import WindowClosed
from pipelines.dispatch.ledger import Ledger, campaign_dirs, ledger_state
from pipelines.dispatch.parts import SHORT_CODE, build_parts, sendable_rows, source_address, validity_period
from pipelines.dispatch.recovery import InFlight, _settle_in_flight, in_flight_policy
from pipelines.dispatch.session import BindReport, _Bind
from pipelines.dispatch.settings import SmscSettings
from pipelines.dlr import EventWriter
from pipelines.window import WindowPolicy, closing_time, is_open, next_opening
from pipelines.window import policy as send_window

log = logging.getLogger(__name__)


@dataclass
class DispatchReport(BindReport):
    """A batch's send: the bind's figures, plus what the ledger saved from sending again."""

    batch: int | None = None
    parts: int = 0
    skipped: int = 0
    resent: int = 0  # SEND-7 resend: parts in flight when a sender stopped, sent again (at least once)
    resent_ambiguous: int = 0  # the same figure, by its former name
    held: int = 0  # SEND-7 hold: parts in flight when a sender stopped, not sent again (status 1, the reason)
    released: int = 0  # held parts an operator released (send_plan(release_held=True)), sent now
    confirmed_by_receipt: int = 0  # parts in flight a receipt proved taken: neither held nor resent
    not_in_plan: int = 0  # parts in the ledger whose message is no longer in the plan (re-planned list)
    wall: float = 0.0

    @property
    def parts_per_second(self) -> float:
        return (self.accepted + self.refused) / self.seconds if self.seconds else 0.0


def send_batch(plan_dir: Path, settings: SmscSettings, batch: int | None = None, batch_size: int = 10_000,
               campaign: str | None = None, sender: str | None = None, valid_until: datetime | None = None,
               progress: Callable[[int], None] | None = None, bind_index: int = 0, binds: int = 1,
               window: WindowPolicy | None = None, *, in_flight: InFlight | None = None, release_held: bool = False,
               clock: Callable[[], datetime] | None = None, settle_only: bool = False) -> DispatchReport:
    """Send one batch of the plan (all of it when `batch` is None) over one bind, resuming from the ledger.

    Called under the campaign's lock (`send_plan`). With `binds` > 1 this call sends only the rows of its
    `bind_index` (rows are dealt by plan order). Parts in flight when an earlier sender stopped follow the
    in-flight policy (SEND-7); held parts go out only with `release_held`.
    A marketing campaign is sent inside its legal window only (SEND-2, checked now by `clock`, when the batch
    actually goes out): closed → WindowClosed before anything is sent; closing mid-batch → the rest waits for
    the next opening (WindowClosed after the parts in flight are answered). Its parts expire when the window
    closes (PLUS-9).
    """
    plan_dir = Path(plan_dir)
    clock = clock or (lambda: datetime.now(timezone.utc))
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    policy = in_flight_policy(summary, in_flight)
    deadline = None
    if window is None and summary["campaign"]["type"] == "marketing":
        window = send_window(summary["campaign"].get("send_window") or "seed")
    if window is not None:
        now = clock()
        if not is_open(window, now):
            raise WindowClosed(next_opening(window, now))
        closes = closing_time(window, now)
        valid_until = min(valid_until, closes) if valid_until else closes
        deadline = closes.timestamp()
    campaign = campaign or plan_dir.parent.name
    sender = sender or summary["campaign"]["sender"] or SHORT_CODE
    planned = sendable_rows(plan_dir)
    rows = planned
    if batch is not None:
        rows = rows.slice(batch * batch_size, batch_size)
    if binds > 1:
        rows = rows.filter(pl.int_range(pl.len()) % binds == bind_index)
    parts = build_parts(rows, campaign, settings.gsm7_packed)
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    state = ledger_state(ledger_dir)
    outcome = dict(zip(state.get_column("key").to_list(), state.get_column("outcome").to_list()))
    report = DispatchReport(batch=batch, parts=len(parts), not_in_plan=state.filter(~pl.col("MESSAGE_KEY").is_in(
        planned.get_column("MESSAGE_KEY").implode())).height)
    unanswered = [part for part in parts if outcome.get(part.key) == "none"]
    name = f"batch-{batch if batch is not None else 'all'}-bind-{bind_index}"
    ledger = events = session = None
    try:
        if unanswered or (not settle_only and (release_held or any(
                outcome.get(part.key) not in ("accepted", "refused", "held") for part in parts))):
            ledger = Ledger(ledger_dir, name, settings.fsync_group)
            events = EventWriter(events_dir, name)
            rate = settings.tps / binds if settings.tps else None
            session = _Bind(settings, ledger, events, source_address(sender), validity_period(valid_until), rate,
                            progress)
            session.open()
        if unanswered:
            confirmed, held = _settle_in_flight(session, unanswered, ledger, events_dir, policy,
                                                settings.ambiguous_grace)
            report.confirmed_by_receipt = len(confirmed)
            outcome.update({key: "accepted" for key in confirmed})
            outcome.update({part.key: "held" if part.key in held else "resend" for part in unanswered
                            if part.key not in confirmed})
        counts = itertools.groupby(sorted(outcome.get(part.key, "new") for part in parts))
        tally = {value: sum(1 for _ in group) for value, group in counts}
        report.skipped = tally.get("accepted", 0) + tally.get("refused", 0)
        report.resent = report.resent_ambiguous = tally.get("resend", 0)
        if release_held:
            report.released = tally.get("held", 0)
        else:
            report.held = tally.get("held", 0)
        stop = {"accepted", "refused"} if release_held else {"accepted", "refused", "held"}
        todo = [part for part in parts if outcome.get(part.key) not in stop]
        if report.released:
            log.warning("%s: %d held parts released by the operator are sent now [SEND-7]", plan_dir.parent,
                        report.released)
        if not todo or settle_only:
            return report
        bind_report = session.run(todo, deadline, clock)
    finally:
        if session is not None:
            session.close()
            events.flush()
            ledger.close()
    for name in (f.name for f in fields(BindReport)):
        setattr(report, name, getattr(bind_report, name))
    if report.paused:
        raise WindowClosed(next_opening(window, clock()), report.accepted)
    return report
