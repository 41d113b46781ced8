"""The whole send (SEND-6, PLUS-1): `send_plan` under the campaign lock, over parallel bind processes."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path

from pipelines.dispatch.batch import DispatchReport, SendJob, send_batch
from pipelines.dispatch.errors import DispatchError, PlanMissing, WindowClosed
from pipelines.dispatch.lock import bind_process_started, campaign_lock
from pipelines.dispatch.recovery import InFlight
from pipelines.dispatch.settings import SmscSettings
from pipelines.layout import CampaignPaths
from pipelines.window import WindowPolicy

log = logging.getLogger(__name__)


def _send_in_child(job: SendJob) -> DispatchReport | WindowClosed:
    """A bind process's work: its share of the rows; a closed window is returned, to be summed by the parent."""
    try:
        return send_batch(job)
    except WindowClosed as closed:
        return closed


def require_plan(plan_dir: Path) -> None:
    """PlanMissing, naming the folder, unless it holds a whole plan."""
    paths = CampaignPaths.of_plan(plan_dir)
    for path in (paths.plan, paths.recipients, paths.summary):
        if not path.exists():
            raise PlanMissing(f"no plan at {plan_dir}: {path.name} is missing; run `smsflow plan` first")


def send_plan(plan_dir: Path, settings: SmscSettings, batch: int | None = None, batch_size: int = 10_000, *,
              in_flight: InFlight | None = None, release_held: bool = False,
              progress: Callable[[int], None] | None = None, campaign: str | None = None, sender: str | None = None,
              valid_until: datetime | None = None, window: WindowPolicy | None = None,
              clock: Callable[[], datetime] | None = None) -> DispatchReport:
    """Send over `settings.binds` binds in parallel processes (Python encodes PDUs on one core per process).

    The campaign's sender lock is held for the whole send (CampaignBusy if another sender lives); bind
    processes die with this one. `in_flight` (SEND-7) overrides the campaign's policy for parts an earlier
    sender left unanswered; `release_held` sends the parts held so far. `clock` (tests) is the time the
    send window is judged at.
    """
    plan_dir = Path(plan_dir)
    require_plan(plan_dir)
    job = SendJob(plan_dir, settings, batch, batch_size, binds=settings.binds, in_flight=in_flight,
                  release_held=release_held, campaign=campaign, sender=sender, valid_until=valid_until, window=window,
                  clock=clock)
    with campaign_lock(plan_dir, batch, batch_size) as bind_locks:
        if settings.binds == 1:
            report = send_batch(job, progress)
        else:
            # Parts left in flight are settled once, by this process, before the binds deal the rows: a
            # receipt proving one bind's part may reach another bind.
            settled = send_batch(replace(job, settings=settings.model_copy(update={"tps": None}), binds=1,
                                         release_held=False, settle_only=True))
            report = _send_in_processes(job, progress, bind_locks)
            report.confirmed_by_receipt = settled.confirmed_by_receipt
    if report.not_in_plan:
        log.warning("%s: %d parts in the send ledger are of messages no longer in the plan (the list or the "
                    "message changed since they were sent); they are not sent again and not reported as anyone "
                    "else's [PLUS-1]", CampaignPaths.of_plan(plan_dir).root, report.not_in_plan)
    return report


def _send_in_processes(job: SendJob, progress: Callable[[int], None] | None, bind_locks: Path) -> DispatchReport:
    """One process per bind, each sending the rows dealt to it; their reports summed (a bind that died: re-run)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    jobs = [replace(job, bind_index=index) for index in range(job.binds)]
    started = time.monotonic()
    try:
        with ProcessPoolExecutor(job.binds, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=bind_process_started, initargs=(str(bind_locks), os.getpid())) as pool:
            reports = list(pool.map(_send_in_child, jobs))
    except BrokenProcessPool as error:
        raise DispatchError(f"a bind process died: {error}; re-run to resume from the ledger") from None
    closed = [report for report in reports if isinstance(report, WindowClosed)]
    if closed:  # PLUS-10: binds may wait for different places; the batch resumes at the first opening
        raise WindowClosed(min(c.reopens for c in closed), sum(c.sent for c in closed), sum(c.waiting for c in closed))
    total = DispatchReport(batch=job.batch)
    counters = [f.name for f in fields(DispatchReport)
                if f.name not in ("batch", "seconds", "wall", "paused", "not_in_plan", "confirmed_by_receipt")]
    for report in reports:
        for name in counters:
            setattr(total, name, getattr(total, name) + getattr(report, name))
    total.not_in_plan = reports[0].not_in_plan  # the whole ledger against the whole plan: the same in every bind
    # Sending time: the binds run side by side, so the slowest one's; process start-up is in `wall`.
    total.seconds = max((report.seconds for report in reports), default=0.0)
    total.wall = time.monotonic() - started
    if progress is not None:
        progress(total.accepted + total.refused)
    return total
