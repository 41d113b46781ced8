"""A campaign's steps, as the Airflow DAG runs them (one function per task, Airflow-free, tested directly).

A campaign lives in `<bucket>/campaigns/<campaign_id>/`, its files named by `pipelines.layout.CampaignPaths`. Its
lifecycle (CAMP-3: draft → scheduled → running → finished, or cancelled) is the account store's
(`pipelines.store.campaigns`), shared with `smsflow campaigns`, with who approved the test and how (audit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from pipelines.layout import SHARED_EVENTS, CampaignPaths, read_summary
from pipelines.run_page import approval_text, run_note  # noqa: F401  (the run page's words, Airflow-free)
from pipelines.spec import CampaignSpec, load_spec, validate_spec

WAREHOUSE = "warehouse.sqlite"  # the bucket's lake (REP-3): this catalog, its data in bucket/warehouse/
PARIS = ZoneInfo("Europe/Paris")


def prepare_run(bucket: Path, run_id: str, conf: dict[str, Any], *, engine=None) -> tuple[str, Path]:
    """CAMP-3: the run's campaign, scheduled in the store with its run id, and its spec in the campaign folder.

    `conf` names a campaign of the store (`campaign_id`: a draft made with `smsflow campaigns create`, whose spec
    is read from the store), or is the trigger form (`spec_path` or the spec's fields: a new campaign named after
    the run). Returns (campaign id, spec path).
    """
    from pipelines.layout import campaign_folder_name
    from pipelines.store import open_store
    from pipelines.store import campaigns as store

    engine = engine or open_store(bucket=bucket)
    if conf.get("campaign_id"):
        campaign = store.get(engine, conf["campaign_id"])
        if campaign.status not in store.EDITABLE or campaign.run_id not in (None, run_id):
            store.schedule(engine, campaign.id, run_id)  # refused, naming its status or the run holding it
        spec_path = prepare_spec(bucket, campaign.id, yaml.safe_load(campaign.spec),
                                 source=f"campaign {campaign.id}")
        store.schedule(engine, campaign.id, run_id, f"scheduled by run {run_id}")
        return campaign.id, spec_path
    campaign_id = campaign_folder_name(run_id)  # one run = one campaign
    spec_path = prepare_spec(bucket, campaign_id, conf)
    data = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    account = (data.get("account") or {}).get("id") or store.DEFAULT_ACCOUNT
    store.create(engine, data, account, campaign_id, "scheduled", run_id=run_id, detail=f"submitted as run {run_id}",
                 source=str(spec_path))
    return campaign_id, spec_path


def prepare_spec(bucket: Path, campaign_id: str, conf: dict[str, Any], source: str = "trigger form") -> Path:
    """The run's spec, validated (CAMP-2), written into the campaign folder with lists made absolute.

    `conf` is the trigger form: either `spec_path` (a YAML spec in the bucket) or the spec's fields, as the form
    flattens them (`pipelines.spec.form`) or as the spec writes them. Both
    come from a form or the REST API, so every path must stay inside the bucket (LIST-4), and `send_at` must not
    be in the past now, at submission (SEND-1).
    """
    paths = CampaignPaths.in_bucket(bucket, campaign_id)
    paths.root.mkdir(parents=True, exist_ok=True)
    from pipelines.spec.form import spec_from_form

    from pipelines import bucket as buckets

    fields = spec_from_form(conf)  # the form's flattened fields back in the spec's shape
    roots = buckets.roots(bucket)  # on S3 (issue 13): the spec and its lists are read there, not from a copy
    if conf.get("spec_path"):
        source = buckets.source(bucket, conf["spec_path"])
        spec = load_spec(source, now=datetime.now(timezone.utc), roots=roots)
        base = source.resolve().parent
    else:
        base = buckets.base(bucket)
        spec = validate_spec(fields, source, now=datetime.now(timezone.utc), roots=roots, base=base)
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    # ACC-2: only what the spec set narrows the account; defaults written out would narrow it too.
    data["account"] = spec.account.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
    # made absolute, and on S3 named as objects: the worker that plans has no file of this one's working copy
    data["lists"] = [buckets.portable(_absolute(location, base)) if isinstance(location, str)  # a saved list: LIST-4
                     else location.model_dump(mode="json", exclude_none=True) for location in spec.lists]
    blacklists = data.get("account", {}).get("blacklists", {})
    for kind, location in list(blacklists.items()):
        blacklists[kind] = buckets.portable(_absolute(location, base))
    preview = (data.get("tracking") or {}).get("preview") or {}
    if preview.get("image"):  # URL-4: relative to the spec given, not to the campaign folder's copy
        preview["image"] = buckets.portable(_absolute(preview["image"], base))
    paths.spec.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return paths.spec


def _absolute(location: str, base: Path) -> Path:
    from pipelines.spec import resolve_location

    return resolve_location(location, base).resolve()


def plan_step(bucket: Path, campaign_id: str, spec_path: Path) -> dict:
    """Plan against the account store (ACC-1/2): the account's settings as the spec narrows them, its credit
    balance (SEND-5), its blacklists (BL-1) and frequency cap (PLUS-7)."""
    from pipelines.account import prepare_account
    from pipelines.plan import plan_campaign
    from pipelines.store import open_store
    from pipelines.store.lists import record_versions, resolve_saved_lists
    from pipelines.warehouse import load_blacklist, load_plan

    from pipelines.bucket import local_file, roots

    spec = load_spec(spec_path, roots=roots(bucket))  # accepted at submission: its send_at may have passed since
    database = bucket / WAREHOUSE
    engine = open_store(bucket=bucket)
    account = prepare_account(engine, spec, source=str(spec_path))
    for note in account.notes:
        print(f"Note: {note}")
    # LIST-4: each saved list's version written into the campaign's folder; the campaign records which it used.
    spec, versions = resolve_saved_lists(engine, account.spec, account.spec.account.id,
                                         CampaignPaths.in_bucket(bucket, campaign_id).root)
    if versions:
        record_versions(engine, campaign_id, versions)
        print("Saved lists: " + ", ".join(f"{name} version {version}" for name, version in versions.items()))
    result = plan_campaign(spec, spec_path.parent, CampaignPaths.in_bucket(bucket, campaign_id).plan,
                           roots=roots(bucket), inputs=account.inputs)
    load_plan(database, campaign_id, result.out_dir)
    for kind in ("own", "global", "client"):  # BL-1: the lists this campaign was checked against
        location = getattr(spec.account.blacklists, "global_" if kind == "global" else kind)
        if location:
            with local_file(location) as blacklist:  # an s3:// one copied for the read
                load_blacklist(database, spec.account.id, kind, blacklist)
    summary = result.plan_summary
    record(database, campaign_id, "scheduled", f"{summary.sendable:,} sendable rows planned")
    return {"plan_dir": str(result.out_dir), "rows": summary.rows, "sendable": summary.sendable,
            "credits": summary.credits, "account": spec.account.id}


def send_target(spec: CampaignSpec, now: datetime | None = None, plan_dir: Path | None = None) -> datetime:
    """When the send may start (SEND-1, SEND-2): `send_at` or now, then, for marketing, the window's opening.

    With the plan, the window is the account's as the campaign narrowed it (the plan's summary), and it opens at
    the first opening among the recipients' own time zones (PLUS-10).
    """
    from pipelines.window import earliest_opening, next_opening, policy

    now = now or datetime.now(timezone.utc)
    target = max(spec.send_at, now) if spec.send_at else now
    if spec.type != "marketing":
        return target
    if plan_dir is None:
        return next_opening(policy(spec.account.send_window), target)
    from pipelines.localtime import plan_places

    summary = read_summary(plan_dir)
    return earliest_opening(policy(summary.campaign.send_window or spec.account.send_window),
                            plan_places(plan_dir), target)


def _store_of(where: Path):
    """The account store of a bucket, given the bucket or a file in it (its warehouse); SMSFLOW_DB overrides."""
    from pipelines.store import open_store

    where = Path(where)
    return open_store(bucket=where.parent if where.suffix else where)


def record(where: Path, campaign_id: str, status: str, detail: str = "", *, figures: dict | None = None,
           engine=None):
    """CAMP-3: move the campaign to `status` in the store, audited with its reason; `where` is the bucket (or its
    warehouse file). "finished" ends the run: cancelled instead when a cancel was asked while it ran. Returns the
    campaign, or None for one the store does not hold (a plan sent from the command line, outside a run)."""
    from pipelines.store import campaigns as store

    engine = engine or _store_of(where)
    try:
        store.get(engine, campaign_id)
    except store.CampaignError:
        return None
    if status == "finished":
        return store.end_run(engine, campaign_id, detail, figures)
    return store.transition(engine, campaign_id, status, detail)


def lifecycle(where: Path, campaign_id: str, *, engine=None) -> list[tuple[str, str]]:
    """CAMP-3: the campaign's lifecycle audit, oldest first: (status, detail)."""
    from pipelines.store import campaigns as store

    return [(event["status"], event["detail"]) for event in store.events(engine or _store_of(where), campaign_id)]


def cancel_requested(where: Path, campaign_id: str, *, engine=None) -> bool:
    """CAMP-3: the campaign was cancelled (or asked to stop while running) from `smsflow campaigns cancel`."""
    from pipelines.store import campaigns as store

    return store.cancel_requested(engine or _store_of(where), campaign_id)


def cancelled_plan(plan_dir: Path) -> tuple[str, str] | None:
    """(campaign id, why) when the campaign of a plan in `<bucket>/campaigns/<id>/plan` was cancelled or asked to
    stop (CAMP-3): its DAG sends no further batch. None otherwise, and for a plan outside a bucket (no lifecycle)."""
    root = CampaignPaths.of_plan(Path(plan_dir)).root.resolve()
    if root.parent.name != "campaigns":
        return None
    reason = cancelled_by_user(root.parent.parent, root.name)
    return (root.name, reason) if reason else None


def cancelled_by_user(where: Path, campaign_id: str, *, engine=None) -> str | None:
    """The reason a person cancelled the campaign (its audit line), or None: the run's close step ends such a run
    cancelled, not failed (CAMP-3)."""
    from pipelines.store import campaigns as store

    engine = engine or _store_of(where)
    if not store.cancel_requested(engine, campaign_id):
        return None
    asked = [event["detail"] for event in store.events(engine, campaign_id)
             if event["detail"].startswith(("cancelled", "cancel requested"))]
    return asked[0] if asked else "cancelled"


@dataclass(frozen=True)
class SentTestMessage:
    """SEND-3: the test message as sent, its encoding (ENC-1) and the SMSC's answer for each test number."""

    message: str
    encoding: str
    results: list  # pipelines.dispatch.TestSendResult, one per test number, in the spec's order


def send_test_message(plan_dir: Path, settings) -> SentTestMessage | None:
    """SEND-3: a plan's personalised test message to its test numbers, the one way the DAG, the CLI and the demo
    send it; its ledger and events sit beside the plan (`dispatch/tests`, `test-events`), never the campaign's.

    None when the plan has no test to send: no test numbers, or no list row to personalise it with.
    """
    import polars as pl

    from pipelines.dispatch import send_test
    from pipelines.encoding import measure

    summary = read_summary(plan_dir)
    test = summary.test
    if test is None or not test.message or not test.numbers:
        return None
    encoding = measure(pl.Series([test.message])).item(0, "ENCODING")
    paths = CampaignPaths.of_plan(plan_dir)
    results = send_test(test.message, encoding, test.numbers, settings, summary.campaign.sender, paths.tests,
                        paths.test_events)
    return SentTestMessage(test.message, encoding, results)


def approval_request(plan_dir: Path) -> dict:
    """SEND-4: the approval's subject and body, from the plan's summary (with the test sent, SEND-3)."""
    summary = read_summary(plan_dir)
    return {"subject": f"Send « {summary.campaign.name} » to {summary.sendable:,} recipients?",
            "body": approval_text(summary)}


def dispatch_batch(plan_dir: Path, settings, batch: int, batch_size: int, *, engine=None):
    """One batch of a run sent over SMPP (PLUS-1: a retry resumes from the send ledger), and the numbers it reached
    recorded in the account store at once, not when the run ends (PLUS-7 `sends`): a STOP that the long-lived
    `smsflow receive` hears while the run still sends goes to the campaign's account (BL-2), and a campaign planned
    meanwhile counts them against its cap. Recorded even when the batch stopped (the window closed, an error)."""
    from pipelines.dispatch import send_plan
    from pipelines.store.pressure import record_campaign_sends

    plan_dir = Path(plan_dir)
    try:
        return send_plan(plan_dir, settings, batch, batch_size)
    finally:
        record_campaign_sends(engine or _store_of(CampaignPaths.of_plan(plan_dir).root.parent.parent), plan_dir)


def reserve_step(bucket: Path, campaign_id: str, account: str, plan_dir: Path, *, run_id: str | None = None,
                 ended=None, engine=None) -> dict:
    """SEND-5 at approval: the campaign holds the credits its plan needs, in one transaction that cannot overspend.

    Short of credits (another campaign reserved first), it holds what is left, whole messages in list order, and
    the rows past it get status 8 in the plan (rewritten, and re-loaded into the warehouse): it never waits.
    `ended(reservation) -> bool` (the DAG asks Airflow) first settles the reservations of runs that ended
    without settling, e.g. marked failed by hand (SEND-8), so their credits are free again.
    """
    from pipelines.bucket import sent_parts
    from pipelines.settlement import credit_steps, cut_plan
    from pipelines.store import open_store
    from pipelines.store.credits import reserve, settle_ended

    engine = engine or open_store(bucket=bucket)
    if ended is not None:
        settle_ended(engine, ended, lambda other: sent_parts(bucket, other))
    steps = credit_steps(plan_dir)
    held = reserve(engine, account, campaign_id, steps[-1] if steps else 0, steps=steps, run_id=run_id)
    cut = cut_plan(plan_dir, held.held) if held.short else 0
    from pipelines.warehouse import exists, load_plan

    if cut and exists(bucket / WAREHOUSE):
        load_plan(bucket / WAREHOUSE, campaign_id, plan_dir)
    return {"held": held.held, "short": held.short, "cut": cut, "limited": held.limited}


def settle_step(bucket: Path, campaign_id: str, reason: str, engine=None) -> dict:
    """SEND-8: the campaign's reservation settled from its send ledger: parts sent stay spent, the rest comes back.
    Idempotent: a second settlement gives nothing back."""
    from pipelines.bucket import sent_parts
    from pipelines.store import open_store
    from pipelines.store.credits import settle

    engine = engine or open_store(bucket=bucket)
    sent = sent_parts(bucket, campaign_id)
    return {"sent_parts": sent, "credits_back": settle(engine, campaign_id, sent, reason)}


def settle_run(bucket: Path, run_id: str, reason: str, engine=None) -> dict[str, int]:
    """SEND-8: every reservation an Airflow run made and did not settle, settled from its send ledger (the DAG's
    failure callback). Returns campaign id → credits given back."""
    from pipelines.bucket import sent_parts
    from pipelines.store import open_store
    from pipelines.store.credits import settle_ended

    return settle_ended(engine or open_store(bucket=bucket), lambda held: held["run_id"] == run_id,
                        lambda campaign: sent_parts(bucket, campaign), reason=reason)


def finish_step(bucket: Path, campaign_id: str, account: str) -> dict:
    """Load ledger and events (STOP replies into the own blacklist, BL-2), settle the credits (what was sent stays
    spent, the rest comes back, SEND-8), write the report (REP-1, REP-2)."""
    from pipelines.report import campaign_stats, export_csv
    from pipelines.warehouse import load_dispatch

    database = bucket / WAREHOUSE
    paths = CampaignPaths.in_bucket(bucket, campaign_id)
    # BL-2: its recipients who replied STOP join the account's own blacklist here, before the next plan reads it.
    loaded = load_dispatch(database, campaign_id, paths.ledger, paths.events, shared_events=bucket / SHARED_EVENTS)
    parts, events = loaded
    settled = settle_step(bucket, campaign_id, "finished")
    export_csv(database, campaign_id, paths.report)
    csv = paths.report
    figures = campaign_stats(database, campaign_id)
    paths.stats.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    record(database, campaign_id, "finished", f"{figures['delivered']:,} of {figures['sent']:,} delivered",
           figures=figures)  # CAMP-3: finished, or cancelled when a cancel stopped it between batches
    return {"report": str(csv), "parts": parts, "events": events, "delivered": figures["delivered"],
            "opt_outs": loaded.opt_outs, "figures": run_figures(figures, settled["sent_parts"]), **settled}


def run_figures(stats: dict, credits: int) -> dict:
    """REP-1 at a glance for the run's page (its note, its report's asset event): recipients sent, delivered,
    failed, STOP replies, delivery rate, credits used (the parts sent, ENC-6)."""
    from pipelines.status import FAILED

    failed = sum(status["recipients"] for status in stats["statuses"] if status["code"] in FAILED)
    return {"recipients": stats["rows"], "sent": stats["sent"], "delivered": stats["delivered"], "failed": failed,
            "stops": stats["stops"], "delivery_rate": stats["delivery_rate"], "credits": credits}


def cancel_step(bucket: Path, campaign_id: str, account: str, reason: str) -> dict:
    """A rejected, timed-out, failed or cancelled campaign (SEND-8, CAMP-3): its reservation is settled from the
    send ledger (nothing sent: everything back; a partial send: only the unsent parts back). Returns
    {"sent_parts", "credits_back"}."""
    settled = settle_step(bucket, campaign_id, f"cancelled: {reason}")
    record(bucket / WAREHOUSE, campaign_id, "cancelled", reason)
    return settled
