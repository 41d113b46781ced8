"""Deferrable operators for a campaign run: wait for the send time and window, dispatch a batch over SMPP.

Both free their worker slot while they wait (SEND-1, SEND-2): the triggerer wakes them up at the time. Given the
campaign's id, a task finds its folder in $SMSFLOW_BUCKET on its own worker (an s3:// bucket's working copy,
pulled before and pushed after: issue 13), never at a path another worker wrote in XCom.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

CANCEL_CHECK = timedelta(minutes=15)  # a long wait wakes this often to see a cancel (CAMP-3)


def _cancelled(plan_dir: str | None) -> tuple[str, str] | None:
    """(campaign, why) when `smsflow campaigns cancel` cancelled the plan's campaign, or asked it to stop."""
    from smsflow_provider.hooks.store import use_airflow_store

    use_airflow_store()  # the store this run's other tasks use
    from pipelines.campaign import cancelled_plan

    return cancelled_plan(Path(plan_dir)) if plan_dir else None


@contextlib.contextmanager
def campaign_folder(campaign_id: str | None, spec_path: str | None, plan_dir: str | None):
    """(spec, plan folder) of the campaign on this worker: from $SMSFLOW_BUCKET and the campaign id when both are
    known, synced with S3 around the block; else the paths given (a plan outside a bucket), as they are."""
    bucket = os.environ.get("SMSFLOW_BUCKET")
    if not (campaign_id and bucket):
        yield (Path(spec_path) if spec_path else None), (Path(plan_dir) if plan_dir else None)
        return
    from pipelines.bucket import campaign_synced
    from pipelines.storage import working_root

    with campaign_synced(working_root(bucket).resolve(), campaign_id) as paths:
        yield paths.spec, paths.plan


def waiting_for(spec, target: datetime, plan_dir: Path | None, now: datetime) -> str:
    """What the wait waits for, in words and Paris time, with the send window as the plan narrowed it."""
    from pipelines.layout import read_summary
    from pipelines.run_page import wait_text

    window = (read_summary(plan_dir).campaign.send_window if plan_dir else None) or spec.account.send_window
    return wait_text(target, spec.type, spec.send_at, window, now)


class WaitForSendTimeOperator(BaseOperator):
    """Wait until `send_at` and, for marketing, the next opening of the account's send window in the first of the
    recipients' time zones to open (PLUS-10; `plan_dir` given)."""

    template_fields = ("spec_path", "plan_dir", "campaign_id")

    def __init__(self, *, spec_path: str | None = None, plan_dir: str | None = None, campaign_id: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec_path, self.plan_dir, self.campaign_id = spec_path, plan_dir, campaign_id

    def execute(self, context) -> str:
        from pipelines.campaign import send_target
        from pipelines.spec import load_spec

        with campaign_folder(self.campaign_id, self.spec_path, self.plan_dir) as (spec_path, plan_dir):
            cancelled = _cancelled(str(plan_dir) if plan_dir else None)
            if cancelled:  # CAMP-3: cancelled while it waited: nothing is sent, close settles it
                raise AirflowSkipException("campaign %s %s: nothing sent [CAMP-3]" % cancelled)
            spec = load_spec(spec_path)
            target = send_target(spec, plan_dir=plan_dir)
        if target > datetime.now(timezone.utc) + timedelta(seconds=1):
            # SEND-2 in words: "Waiting for Monday 08:00 Paris (SEND-2): marketing messages are sent Mon–Sat …"
            self.log.info("%s", waiting_for(spec, target, plan_dir, datetime.now(timezone.utc)))
            self.defer(trigger=DateTimeTrigger(moment=min(target, datetime.now(timezone.utc) + CANCEL_CHECK)),
                       method_name="execute_complete")
        return target.isoformat()

    def execute_complete(self, context, event: Any = None) -> str:
        return self.execute(context)  # check again: a cancel, a holiday or the clock may have moved the window


class SmppDispatchOperator(BaseOperator):
    """Send one batch of a plan over the `smpp` connection; retries and re-runs resume from the send ledger.

    The window is checked when the batch actually goes out: closed, the task defers to the next opening;
    closing mid-batch, the parts not sent wait for it too (SEND-2).
    """

    template_fields = ("plan_dir", "campaign_id")

    def __init__(self, *, plan_dir: str | None = None, batch: int, batch_size: int = 10_000,
                 smpp_conn_id: str = "smsc_default", campaign_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan_dir, self.batch, self.batch_size, self.smpp_conn_id = plan_dir, batch, batch_size, smpp_conn_id
        self.campaign_id = campaign_id

    def execute(self, context, event: Any = None) -> dict:
        from pipelines.campaign import dispatch_batch
        from pipelines.dispatch import WindowClosed
        from smsflow_provider.hooks.smpp import SmppHook
        from smsflow_provider.hooks.store import use_airflow_store

        use_airflow_store()  # the store the run's other tasks use: the batch's numbers are recorded there
        # the ledger reaches S3 when the batch ends, however it ends (a retry elsewhere resumes from it, PLUS-1)
        with campaign_folder(self.campaign_id, None, self.plan_dir) as (_, plan_dir):
            cancelled = _cancelled(str(plan_dir))
            if cancelled:  # CAMP-3: cancelled from the command line: this batch and the next ones are not sent
                self.log.warning("batch %s not sent: campaign %s %s [CAMP-3]", self.batch, *cancelled)
                return {"batch": self.batch, "cancelled": True}
            settings = SmppHook(self.smpp_conn_id).get_settings()
            try:
                report = dispatch_batch(plan_dir, settings, self.batch, self.batch_size)
            except WindowClosed as closed:
                self.log.info("%s", closed)
                self.defer(trigger=DateTimeTrigger(moment=closed.reopens), method_name="execute")
        self.log.info("batch %s: %s", self.batch, report.describe())
        if report.held:
            self.log.warning("batch %s: %s parts held: in flight when an earlier attempt stopped, not sent again "
                             "(SEND-7); `smsflow send <plan> --release-held` sends them", self.batch, report.held)
        return {"batch": self.batch, **report.counts()}
