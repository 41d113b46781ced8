"""A campaign's wait for its delivery receipts (the `receipts` step of a run): every sent part's final receipt, or
the end of their validity; STOP and START replies applied as they come (BL-2, PLUS-6, PLUS-4)."""

from __future__ import annotations

import time
from pathlib import Path

from pipelines.campaign import _store_of, cancelled_plan
from pipelines.layout import SHARED_EVENTS, CampaignPaths


def receipts_step(plan_dir: Path, settings, timeout: float, poll: float = 2.0, *, engine=None) -> dict:
    """Listen for receipts until every sent part has a final one, or `timeout` (their validity) runs out.

    Replies are applied to the account store as they come, every `poll` seconds: a STOP puts the number on the
    account's own blacklist, a START takes it off (BL-2, PLUS-6). A campaign cancelled while it ran waits only
    for the parts it sent (CAMP-3).
    """
    import polars as pl

    from pipelines.dispatch import ledger_state, receive
    from pipelines.dlr import part_rows, read_events, recipient_statuses
    from pipelines.dlr import with_shared_events
    from pipelines.optouts import apply_opt_outs_from_events
    from pipelines.status import PENDING
    from pipelines.storage.mirror import pull, root_of

    paths = CampaignPaths.of_plan(plan_dir)
    ledger_dir, events_dir = paths.ledger, paths.events
    engine = engine or _store_of(paths.root.parent.parent)
    plan = pl.read_parquet(paths.recipients).filter(pl.col("STATUS_CODE").is_null())
    shared = paths.root.parent.parent / SHARED_EVENTS if paths.root.parent.name == "campaigns" else None
    # With the bucket on S3 the long-lived receiver runs on another host: its micro-batches are pulled each turn.
    working_copy = root_of(paths.root) if shared is not None else None
    deadline = time.monotonic() + timeout
    listened = False  # one pass as a receiver at least: replies (STOP) come after the receipts, stored by the SMSC
    while True:
        if working_copy is not None:
            try:
                pull(working_copy, SHARED_EVENTS)
            except OSError as error:  # S3 not answering a moment: this turn counts what is here (PLUS-4)
                print(f"The receiver's events not pulled from S3 this time ({error})")
        ledger = ledger_state(ledger_dir)
        apply_opt_outs_from_events(engine, events_dir, campaign_id=paths.campaign)  # its account, else by sends
        waited = plan
        if cancelled_plan(plan_dir):
            sent = part_rows(plan, ledger).select(pl.col("ref_list").alias("REF_LIST"),
                                                  pl.col("id_line").alias("ID_LINE")).unique()
            waited = plan.join(sent, on=["REF_LIST", "ID_LINE"], how="semi")
        # a long-lived `smsflow receive` bound beside the sender gets part of the receipts (the SMSC spreads them
        # over the account's binds): they count here as they will in the warehouse (PLUS-4)
        events = with_shared_events(part_rows(plan, ledger), read_events(events_dir), shared)
        statuses = recipient_statuses(waited, ledger, events, validity_seconds=None)
        waiting = int(statuses.get_column("STATUS_CODE").is_in(list(PENDING)).sum())
        if (waiting == 0 and listened) or time.monotonic() >= deadline:
            return {"waiting": waiting, "recipients": statuses.height}
        receive(settings, events_dir, seconds=min(poll, max(0.1, deadline - time.monotonic())))
        listened = True
