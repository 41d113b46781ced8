"""A batch of the plan over one bind (SEND-2, SEND-7, PLUS-1, PLUS-9, PLUS-10), resuming from the ledger."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from pipelines.dispatch.cleanup import Cleanup
from pipelines.dispatch.errors import WindowClosed
from pipelines.dispatch.ledger import ledger_state, open_ledger
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
from pipelines.localtime import describe_fallbacks, fallbacks, with_places
from pipelines.window import PARIS, Place, WindowPolicy, closing_time, is_open, next_opening
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
    zone_fallback: int = 0  # PLUS-10: recipients whose window was judged in their region's zone or Paris's
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
                             (self.not_in_plan, "sent earlier but no longer in the plan"),
                             (self.zone_fallback, "to recipients whose time zone phonenumbers could not name "
                                                  "(their region's zone used, PLUS-10)")):
            if count:
                figures.append(f"{count:,} {words}")
        return (", ".join(figures) + f"; {self.parts_per_second:,.0f} parts/s; {self.receipts:,} receipts, "
                f"{self.replies:,} replies")

    def counts(self) -> dict[str, int]:
        """The figures as a small dict (an Airflow XCom)."""
        return {name: getattr(self, name) for name in ("accepted", "refused", "skipped", "confirmed_by_receipt",
                                                        "resent", "held", "released", "not_in_plan",
                                                        "zone_fallback")}


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


@dataclass
class _LocalWindow:
    """The job's parts whose recipients share a place (PLUS-10), and the window there when the batch starts."""

    place: Place | None  # None: not bound by the window (a notification campaign)
    parts: list[OutPart]
    closes: datetime | None = None  # open now: when it closes (None: no window)
    reopens: datetime | None = None  # closed now: when it opens
    todo: list[OutPart] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.reopens is None


def send_batch(job: SendJob, progress: Callable[[int], None] | None = None) -> DispatchReport:
    """Send one batch of the plan over one bind, resuming from the ledger; `progress` gets each answered part.

    Called under the campaign's lock (`send_plan`). With `binds` > 1 this call sends only the rows of its
    `bind_index` (rows are dealt by plan order). Parts in flight when an earlier sender stopped follow the
    in-flight policy (SEND-7); held parts go out only with `release_held`.
    A marketing campaign is sent inside its legal window only, judged in each recipient's local time (SEND-2,
    PLUS-10; checked now by `clock`, when the batch actually goes out): the rows whose window is open go out,
    place by place, each stopping when its window closes, and their parts expire then (PLUS-9); the others wait.
    Closed for every row left → WindowClosed before anything is sent; rows left waiting (closed at their place,
    or closing mid-batch) → WindowClosed at the earliest of their openings, after the open rows went out.
    """
    plan_dir, settings = Path(job.plan_dir), job.settings
    paths = CampaignPaths.of_plan(plan_dir)
    clock = job.clock or (lambda: datetime.now(timezone.utc))
    campaign = read_summary(plan_dir).campaign
    policy = in_flight_policy(campaign.type, campaign.in_flight, job.in_flight)
    window = _window_of(job, campaign)
    planned = sendable_rows(plan_dir)
    report = DispatchReport(batch=job.batch)
    windows = _local_windows(job, _rows_of(job, planned), window, clock(), report)
    parts = [part for local in windows for part in local.parts]
    for order, part in enumerate(parts):  # plan order within a place; places one after another
        part.order = order
    report.parts = len(parts)
    ledger_dir, events_dir = paths.ledger, paths.events
    state = ledger_state(ledger_dir)
    outcome = dict(zip(state.get_column("key").to_list(), state.get_column("outcome").to_list()))
    report.not_in_plan = state.filter(~pl.col("MESSAGE_KEY").is_in(
        planned.get_column("MESSAGE_KEY").implode())).height
    unanswered = [part for part in parts if outcome.get(part.key) == "none"]
    for local in windows:  # what is left to send (parts in flight included, until they are settled)
        local.todo = _to_send(local.parts, outcome, job.release_held)
    waiting = [local for local in windows if not local.open and local.todo]
    if waiting and not any(local.open and local.todo for local in windows):
        raise WindowClosed(min(local.reopens for local in waiting).astimezone(PARIS), 0,
                           sum(len(local.todo) for local in waiting))
    with Cleanup() as cleanup:  # a failed bind is reported as such, never as the cleanup it leaves behind
        session = None
        if unanswered or (not job.settle_only and any(local.open and local.todo for local in windows)):
            ledger = open_ledger(ledger_dir, job.name, settings.fsync_group)
            cleanup.push(ledger.close)
            events = EventWriter(events_dir, job.name)
            cleanup.push(events.flush)
            rate = settings.tps / job.binds if settings.tps else None
            sender = job.sender or campaign.sender or SHORT_CODE
            session = BindSession(settings, ledger, events, source_address(sender), validity_period(job.valid_until),
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
        _tally(report, parts, outcome, job.release_held)
        if report.released:
            log.warning("%s: %d held parts released by the operator are sent now [SEND-7]", paths.root,
                        report.released)
        if job.settle_only:
            return report
        for local in windows:  # settled: confirmed parts are done, held ones wait for an operator
            local.todo = _to_send(local.parts, outcome, job.release_held)
        reopens = [local.reopens for local in windows if not local.open and local.todo]
        left = sum(len(local.todo) for local in windows if not local.open)
        sending = sorted((local for local in windows if local.open and local.todo),
                         key=lambda local: local.closes or datetime.max.replace(tzinfo=timezone.utc))
        seconds = 0.0
        for index, local in enumerate(sending):
            session.report.paused = 0
            paused = _run(session, local, job.valid_until, clock, linger=index == len(sending) - 1)
            seconds += session.report.seconds
            if paused:
                left += paused
                reopens.append(next_opening(window, clock(), local.place))
        if session is not None:
            for name in (f.name for f in fields(BindReport)):
                setattr(report, name, getattr(session.report, name))
            report.seconds, report.paused = seconds, left
    if reopens:
        raise WindowClosed(min(reopens).astimezone(PARIS), report.accepted, left)
    return report


def _run(session: BindSession, local: _LocalWindow, valid_until: datetime | None, clock: Callable[[], datetime],
         linger: bool) -> int:
    """Send the parts of one place over the bind, stopping when its window closes; returns the parts left unsent.
    The parts expire when the window closes (PLUS-9). Receipts are lingered for after the last place only."""
    until = min(valid_until, local.closes) if valid_until and local.closes else valid_until or local.closes
    session.validity = validity_period(until)
    settings = session.settings
    if not linger and settings.linger:
        session.settings = settings.model_copy(update={"linger": 0.0})
    try:
        return session.run(local.todo, local.closes.timestamp() if local.closes else None, clock).paused
    finally:
        session.settings = settings


def _window_of(job: SendJob, campaign: CampaignSection) -> WindowPolicy | None:
    """SEND-2: the job's window policy, else the campaign's for marketing; None: not bound by a window."""
    if job.window is not None:
        return job.window
    if campaign.type == "marketing":
        return send_window(campaign.send_window or "seed")
    return None


def _local_windows(job: SendJob, rows: pl.DataFrame, window: WindowPolicy | None, now: datetime,
                   report: DispatchReport) -> list[_LocalWindow]:
    """PLUS-10: the job's rows as parts, one group per recipients' place, each with its window at `now`.
    A recipient whose zone is a fallback is counted in `report.zone_fallback`, and logged."""
    campaign = job.campaign or CampaignPaths.of_plan(job.plan_dir).campaign
    if window is None:
        return [_LocalWindow(None, build_parts(rows, campaign, job.settings.gsm7_packed))]
    rows = with_places(rows)
    fallback = fallbacks(rows)
    if fallback:
        report.zone_fallback = sum(fallback.values())
        log.warning("%s: %s", CampaignPaths.of_plan(job.plan_dir).root, describe_fallbacks(fallback))
    windows = []
    for (zone, holidays), group in rows.partition_by("ZONE", "HOLIDAYS", maintain_order=True, as_dict=True).items():
        place = Place(zone, holidays)
        local = _LocalWindow(place, build_parts(group, campaign, job.settings.gsm7_packed))
        if is_open(window, now, place):
            local.closes = closing_time(window, now, place)
        else:
            local.reopens = next_opening(window, now, place)
        windows.append(local)
    return windows


def _rows_of(job: SendJob, planned: pl.DataFrame) -> pl.DataFrame:
    """This job's rows: its batch of the plan, then every `binds`-th row from `bind_index`."""
    rows = planned
    if job.batch is not None:
        rows = rows.slice(job.batch * job.batch_size, job.batch_size)
    if job.binds > 1:
        rows = rows.filter(pl.int_range(pl.len()) % job.binds == job.bind_index)
    return rows


def _to_send(parts: list[OutPart], outcome: dict[str, str], release_held: bool) -> list[OutPart]:
    """The parts the ledger does not show as done (accepted, refused; held unless released), in order."""
    stop = {"accepted", "refused"} if release_held else {"accepted", "refused", "held"}
    return [part for part in parts if outcome.get(part.key) not in stop]


def _tally(report: DispatchReport, parts: list[OutPart], outcome: dict[str, str], release_held: bool) -> None:
    """Count in `report` what the ledger saves from sending again (skipped, resent, held or released)."""
    counts = itertools.groupby(sorted(outcome.get(part.key, "new") for part in parts))
    tally = {value: sum(1 for _ in group) for value, group in counts}
    report.skipped = tally.get("accepted", 0) + tally.get("refused", 0)
    report.resent = tally.get("resend", 0)
    if release_held:
        report.released = tally.get("held", 0)
    else:
        report.held = tally.get("held", 0)
