"""A batch of the plan over one bind (SEND-2, SEND-7, PLUS-1, PLUS-9), resuming from the ledger."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from pipelines.dispatch.cleanup import Cleanup
from pipelines.dispatch.errors import WindowClosed
from pipelines.dispatch.ledger import Ledger, ledger_state
from pipelines.dispatch.parts import (
    SHORT_CODE,
    OutPart,
    build_parts,
    sendable_rows,
    source_address,
    validity_period,
)
from pipelines.dispatch.recovery import InFlight, in_flight_policy, settle_in_flight
from pipelines.dispatch.session import BindReport, BindSession
from pipelines.dispatch.settings import SmscSettings
from pipelines.dlr import EventWriter
from pipelines.layout import CampaignPaths, CampaignSection, read_summary
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
    held: int = 0  # SEND-7 hold: parts in flight when a sender stopped, not sent again (status 1, the reason)
    released: int = 0  # held parts an operator released (send_plan(release_held=True)), sent now
    confirmed_by_receipt: int = 0  # parts in flight a receipt proved taken: neither held nor resent
    not_in_plan: int = 0  # parts in the ledger whose message is no longer in the plan (re-planned list)
    wall: float = 0.0

    @property
    def parts_per_second(self) -> float:
        return (self.accepted + self.refused) / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        """One sentence of the send's figures, in the user's terms (the CLI and the Airflow task log)."""
        figures = [f"{self.accepted:,} parts accepted", f"{self.refused:,} refused",
                   f"{self.throttled:,} throttled and retried", f"{self.skipped:,} already sent (ledger)"]
        for count, words in ((self.confirmed_by_receipt, "in flight and confirmed by a receipt"),
                             (self.resent, "in flight and sent again"), (self.held, "in flight and held"),
                             (self.released, "held and released"),
                             (self.not_in_plan, "sent earlier but no longer in the plan")):
            if count:
                figures.append(f"{count:,} {words}")
        return (", ".join(figures) + f"; {self.parts_per_second:,.0f} parts/s; {self.receipts:,} receipts, "
                f"{self.replies:,} replies")

    def counts(self) -> dict[str, int]:
        """The figures as a small dict (an Airflow XCom)."""
        return {name: getattr(self, name) for name in ("accepted", "refused", "skipped", "confirmed_by_receipt",
                                                        "resent", "held", "released", "not_in_plan")}


@dataclass(frozen=True)
class SendJob:
    """What one bind sends and how: a batch of the plan (all of it when `batch` is None), the share of its rows
    dealt to `bind_index` of `binds`, and the SEND-7 in-flight choices. Pickled as is to a bind process."""

    plan_dir: Path
    settings: SmscSettings
    batch: int | None = None
    batch_size: int = 10_000
    bind_index: int = 0
    binds: int = 1
    in_flight: InFlight | None = None
    release_held: bool = False
    campaign: str | None = None
    sender: str | None = None
    valid_until: datetime | None = None
    window: WindowPolicy | None = None
    clock: Callable[[], datetime] | None = None  # the time the send window is judged at (tests)
    settle_only: bool = False  # only settle the parts an earlier sender left in flight (SEND-7)

    @property
    def name(self) -> str:
        """This bind's ledger and events files start with it."""
        return f"batch-{self.batch if self.batch is not None else 'all'}-bind-{self.bind_index}"


def send_batch(job: SendJob, progress: Callable[[int], None] | None = None) -> DispatchReport:
    """Send one batch of the plan over one bind, resuming from the ledger; `progress` gets each answered part.

    Called under the campaign's lock (`send_plan`). With `binds` > 1 this call sends only the rows of its
    `bind_index` (rows are dealt by plan order). Parts in flight when an earlier sender stopped follow the
    in-flight policy (SEND-7); held parts go out only with `release_held`.
    A marketing campaign is sent inside its legal window only (SEND-2, checked now by `clock`, when the batch
    actually goes out): closed → WindowClosed before anything is sent; closing mid-batch → the rest waits for
    the next opening (WindowClosed after the parts in flight are answered). Its parts expire when the window
    closes (PLUS-9).
    """
    plan_dir, settings = Path(job.plan_dir), job.settings
    paths = CampaignPaths.of_plan(plan_dir)
    clock = job.clock or (lambda: datetime.now(timezone.utc))
    campaign = read_summary(plan_dir).campaign
    policy = in_flight_policy(campaign.type, campaign.in_flight, job.in_flight)
    window, valid_until, deadline = _send_window(job, campaign, clock)
    planned = sendable_rows(plan_dir)
    parts = _parts_of(job, planned)
    ledger_dir, events_dir = paths.ledger, paths.events
    state = ledger_state(ledger_dir)
    outcome = dict(zip(state.get_column("key").to_list(), state.get_column("outcome").to_list()))
    report = DispatchReport(batch=job.batch, parts=len(parts), not_in_plan=state.filter(~pl.col("MESSAGE_KEY").is_in(
        planned.get_column("MESSAGE_KEY").implode())).height)
    unanswered = [part for part in parts if outcome.get(part.key) == "none"]
    with Cleanup() as cleanup:  # a failed bind is reported as such, never as the cleanup it leaves behind
        session = None
        if unanswered or (not job.settle_only and (job.release_held or any(
                outcome.get(part.key) not in ("accepted", "refused", "held") for part in parts))):
            ledger = Ledger(ledger_dir, job.name, settings.fsync_group)
            cleanup.push(ledger.close)
            events = EventWriter(events_dir, job.name)
            cleanup.push(events.flush)
            rate = settings.tps / job.binds if settings.tps else None
            sender = job.sender or campaign.sender or SHORT_CODE
            session = BindSession(settings, ledger, events, source_address(sender), validity_period(valid_until),
                                  rate, progress)
            cleanup.push(session.close)
            session.open()
        if unanswered:
            confirmed, held = settle_in_flight(session, unanswered, ledger, events_dir, policy,
                                               settings.ambiguous_grace)
            report.confirmed_by_receipt = len(confirmed)
            outcome.update({key: "accepted" for key in confirmed})
            outcome.update({part.key: "held" if part.key in held else "resend" for part in unanswered
                            if part.key not in confirmed})
        todo = _tally(report, parts, outcome, job.release_held)
        if report.released:
            log.warning("%s: %d held parts released by the operator are sent now [SEND-7]", paths.root,
                        report.released)
        if not todo or job.settle_only:
            return report
        bind_report = session.run(todo, deadline, clock)
    for name in (f.name for f in fields(BindReport)):
        setattr(report, name, getattr(bind_report, name))
    if report.paused:
        raise WindowClosed(next_opening(window, clock()), report.accepted)
    return report


def _send_window(job: SendJob, campaign: CampaignSection, clock: Callable[[], datetime]
                 ) -> tuple[WindowPolicy | None, datetime | None, float | None]:
    """SEND-2, PLUS-9: (the window, when the parts expire, when sending stops: epoch seconds); WindowClosed now."""
    window, valid_until = job.window, job.valid_until
    if window is None and campaign.type == "marketing":
        window = send_window(campaign.send_window or "seed")
    if window is None:
        return None, valid_until, None
    now = clock()
    if not is_open(window, now):
        raise WindowClosed(next_opening(window, now))
    closes = closing_time(window, now)
    return window, min(valid_until, closes) if valid_until else closes, closes.timestamp()


def _parts_of(job: SendJob, planned: pl.DataFrame) -> list[OutPart]:
    """The parts of this job's rows: its batch of the plan, then every `binds`-th row from `bind_index`."""
    rows = planned
    if job.batch is not None:
        rows = rows.slice(job.batch * job.batch_size, job.batch_size)
    if job.binds > 1:
        rows = rows.filter(pl.int_range(pl.len()) % job.binds == job.bind_index)
    return build_parts(rows, job.campaign or CampaignPaths.of_plan(job.plan_dir).campaign, job.settings.gsm7_packed)


def _tally(report: DispatchReport, parts: list[OutPart], outcome: dict[str, str], release_held: bool
           ) -> list[OutPart]:
    """Count in `report` what the ledger saves from sending again (skipped, resent, held or released); returns
    the parts to send, in order."""
    counts = itertools.groupby(sorted(outcome.get(part.key, "new") for part in parts))
    tally = {value: sum(1 for _ in group) for value, group in counts}
    report.skipped = tally.get("accepted", 0) + tally.get("refused", 0)
    report.resent = tally.get("resend", 0)
    if release_held:
        report.released = tally.get("held", 0)
    else:
        report.held = tally.get("held", 0)
    stop = {"accepted", "refused"} if release_held else {"accepted", "refused", "held"}
    return [part for part in parts if outcome.get(part.key) not in stop]
