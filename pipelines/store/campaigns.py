"""CAMP-3, CAMP-4: campaigns and their lifecycle in the account store, the one record the CLI and the DAG share.

draft → scheduled → running → finished, or cancelled. Every change is one transaction that reads the campaign's
current status (its row locked on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers), refuses a move the
lifecycle does not allow, and appends a `campaign_events` row (the audit: status, detail, time). A campaign
belongs to one account and is only seen within it (ACC-3). Cancelling a running campaign only asks: the DAG's
next batch sees the request and stops, and the run then ends cancelled (`end_run`).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, delete as sql_delete, func, insert, select, update

from pipelines.store.accounts import DEFAULT_ACCOUNT, account_in
from pipelines.store.engine import StoreError, now as utc_now
from pipelines.store.schema import campaign_events, campaigns

STATUSES = ("draft", "scheduled", "running", "finished", "cancelled")
# CAMP-3: where each status may go. Staying put (scheduled → scheduled, ...) only appends an audit row: a retried
# task, an approval recorded. A draft is deleted, not cancelled; an ended campaign moves no more.
MOVES = {
    "draft": {"scheduled"},
    "scheduled": {"scheduled", "running", "cancelled"},
    "running": {"running", "finished", "cancelled"},
    "finished": {"finished"},
    "cancelled": {"cancelled"},
}
EDITABLE = ("draft", "scheduled")
LATEST = 10  # CAMP-4: the dashboard's 10 latest drafts and 10 latest other campaigns


class CampaignError(StoreError, ValueError):
    """A campaign change refused: names the campaign, its status and the rule (a refusal, exit code 2)."""


@dataclass(frozen=True)
class Campaign:
    """One campaign as the store holds it (CAMP-3); `spec` is the campaign spec as YAML."""

    id: str
    account_id: str
    name: str
    type: str
    status: str
    spec: str
    send_at: datetime | None
    run_id: str | None
    list_versions: dict | None
    credits_reserved: int
    settled_at: datetime | None
    cancel_requested_at: datetime | None
    figures: dict | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict:
        return {key: value.isoformat() if isinstance(value, datetime) else value
                for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Cancelled:
    """What `cancel` did: `outcome` is "cancelled" (it never sends) or "stopping" (its next batch stops)."""

    campaign: Campaign
    outcome: str
    message: str


def _campaign(row) -> Campaign:
    values = dict(row._mapping)
    for key, value in values.items():  # SQLite gives back naive times: they were written in UTC
        if isinstance(value, datetime) and value.tzinfo is None:
            values[key] = value.replace(tzinfo=timezone.utc)
    return Campaign(**values)


def _utc(moment: datetime | None) -> datetime | None:
    """A send time as the store keeps it: in UTC (SQLite drops the offset of what it stores, and `_campaign` reads
    naive times as UTC, so 10:00 Paris must be written 09:00 UTC)."""
    return moment.astimezone(timezone.utc) if moment is not None and moment.tzinfo is not None else moment


def _spec_data(spec: Any, base: Path | None = None) -> dict:
    """The spec (YAML text, mapping or CampaignSpec) as a mapping, its list and blacklist files made absolute from
    `base` so that the store's copy reads the same files wherever it is planned from."""
    from pipelines.spec import CampaignSpec

    if isinstance(spec, CampaignSpec):
        data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        # ACC-2: only what the spec set narrows its account; the defaults written out would narrow it too.
        data["account"] = spec.account.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
    elif isinstance(spec, str):
        data = yaml.safe_load(spec)
    else:
        data = dict(spec)
    if not isinstance(data, dict):
        raise CampaignError(f"a campaign spec is a mapping of fields, not a {type(data).__name__} [CAMP-2]")
    if base is not None:
        data["lists"] = [str((base / item).resolve()) if isinstance(item, str) else item
                         for item in data.get("lists") or []]
        account = data.get("account")
        blacklists = (account.get("blacklists") or {}) if isinstance(account, dict) else {}  # `account: acme`
        for kind, location in list(blacklists.items()):
            if isinstance(location, str):
                blacklists[kind] = str((base / location).resolve())
    return data


def _validated(data: dict, account_id: str, source: str, now: datetime | None):
    """The spec checked (CAMP-2; `now`: a send_at before it is refused, SEND-1), its account set to `account_id`."""
    from pipelines.spec import validate_spec

    data = dict(data)
    given = data.get("account") or {}
    account = {"id": given} if isinstance(given, str) else dict(given)  # `account: acme` names it alone
    named = account.get("id")
    if named not in (None, DEFAULT_ACCOUNT, account_id):
        raise CampaignError(f"{source}: the spec names account {named!r} but the campaign is created in account "
                            f"{account_id!r} (use --account {named}) [ACC-3]")
    account["id"] = account_id
    data["account"] = account
    spec = validate_spec(data, source, now=now)
    return spec, yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _new_id(name: str) -> str:
    """A readable, unique id: the name's ASCII letters and digits, then 6 random hex digits."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:40].strip("-") or "campaign"
    return f"{slug}-{secrets.token_hex(3)}"


def _locked(connection, campaign_id: str, account_id: str | None = None) -> Campaign:
    """The campaign's row, locked for this transaction on PostgreSQL; one outside `account_id` is not seen."""
    query = select(campaigns).where(campaigns.c.id == campaign_id)
    if connection.dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE already holds the write lock
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None or (account_id is not None and row.account_id != account_id):
        where = f" in account {account_id!r}" if account_id is not None else ""
        raise CampaignError(f"no campaign {campaign_id!r}{where} (smsflow campaigns list shows them) [CAMP-4, ACC-3]")
    return _campaign(row)


def _event(connection, campaign_id: str, status: str, detail: str, at: datetime) -> None:
    connection.execute(insert(campaign_events).values(campaign_id=campaign_id, status=status, detail=detail, at=at))


def _refused(campaign: Campaign, wanted: str, rule: str = "CAMP-3") -> CampaignError:
    return CampaignError(f"campaign {campaign.id!r} is {campaign.status}: it cannot {wanted} [{rule}]")


def create(engine: Engine, spec: Any, account_id: str = DEFAULT_ACCOUNT, campaign_id: str | None = None,
           status: str = "draft", *, base: Path | None = None, run_id: str | None = None, detail: str = "",
           source: str = "spec", now: datetime | None = None) -> Campaign:
    """A new campaign in `account_id`, as a draft (or scheduled, when a DAG run creates it), its spec validated.

    `base`: the folder the spec's relative list paths start from. Re-creating the same id for the same run
    (a retried DAG task) returns the campaign as it is.
    """
    if status not in ("draft", "scheduled"):
        raise CampaignError(f"a campaign starts as a draft or scheduled, not {status!r} [CAMP-3]")
    stamp = now or utc_now()
    parsed, text = _validated(_spec_data(spec, base), account_id, source, stamp)
    campaign_id = campaign_id or _new_id(parsed.name)
    with engine.begin() as connection:
        account_in(connection, account_id)
        existing = connection.execute(select(campaigns).where(campaigns.c.id == campaign_id)).first()
        if existing is not None:
            if run_id is not None and existing.run_id == run_id:
                return _campaign(existing)
            raise CampaignError(f"campaign {campaign_id!r} already exists ({existing.status}) [CAMP-3]")
        connection.execute(insert(campaigns).values(
            id=campaign_id, account_id=account_id, name=parsed.name, type=parsed.type, status=status, spec=text,
            send_at=_utc(parsed.send_at), run_id=run_id, credits_reserved=0, created_at=stamp, updated_at=stamp))
        _event(connection, campaign_id, status, detail or f"created as {status}", stamp)
        return _locked(connection, campaign_id)


def get(engine: Engine, campaign_id: str, account_id: str | None = None) -> Campaign:
    with engine.begin() as connection:
        return _locked(connection, campaign_id, account_id)


def events(engine: Engine, campaign_id: str) -> list[dict]:
    """CAMP-3's audit of one campaign, oldest first: status, detail, time."""
    with engine.begin() as connection:
        rows = connection.execute(select(campaign_events.c.status, campaign_events.c.detail, campaign_events.c.at)
                                  .where(campaign_events.c.campaign_id == campaign_id)
                                  .order_by(campaign_events.c.id))
        return [{"status": status, "detail": detail, "at": at.isoformat()} for status, detail, at in rows]


def show(engine: Engine, campaign_id: str, account_id: str | None = None) -> dict:
    """One campaign with its spec and its lifecycle audit (ACC-3: only within `account_id` when given)."""
    return {**get(engine, campaign_id, account_id).as_dict(), "events": events(engine, campaign_id)}


def edit(engine: Engine, campaign_id: str, spec: Any, account_id: str | None = None, *, base: Path | None = None,
         source: str = "spec", now: datetime | None = None) -> Campaign:
    """Replace the spec of a draft or scheduled campaign (CAMP-3), validated as at creation."""
    stamp = now or utc_now()
    with engine.begin() as connection:
        campaign = _locked(connection, campaign_id, account_id)
        if campaign.status not in EDITABLE:
            raise _refused(campaign, "be edited (only drafts and scheduled campaigns can; duplicate it)")
        parsed, text = _validated(_spec_data(spec, base), campaign.account_id, source, stamp)
        connection.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(
            name=parsed.name, type=parsed.type, spec=text, send_at=_utc(parsed.send_at), updated_at=stamp))
        note = (f"; its run {campaign.run_id} planned the earlier spec: cancel it and schedule again to send this one"
                if campaign.run_id else "")
        _event(connection, campaign_id, campaign.status, f"edited: spec replaced{note}", stamp)
        return _locked(connection, campaign_id)


def duplicate(engine: Engine, campaign_id: str, account_id: str | None = None, *, new_id: str | None = None,
              now: datetime | None = None) -> Campaign:
    """Any campaign, copied as a new draft named "<name> (copy)" in the same account (CAMP-3)."""
    stamp = now or utc_now()
    with engine.begin() as connection:
        source = _locked(connection, campaign_id, account_id)
        data = yaml.safe_load(source.spec)
        data["name"] = f"{source.name[:193]} (copy)"  # CAMP-1: a name has at most 200 characters
        new_id = new_id or _new_id(data["name"])
        connection.execute(insert(campaigns).values(
            id=new_id, account_id=source.account_id, name=data["name"], type=source.type, status="draft",
            spec=yaml.safe_dump(data, allow_unicode=True, sort_keys=False), send_at=source.send_at,
            credits_reserved=0, created_at=stamp, updated_at=stamp))
        _event(connection, new_id, "draft", f"duplicated from {campaign_id}", stamp)
        return _locked(connection, new_id)


def transition(engine: Engine, campaign_id: str, status: str, detail: str = "", *, run_id: str | None = None,
               now: datetime | None = None) -> Campaign:
    """Move a campaign to `status` (CAMP-3) and audit it; a move the lifecycle does not allow is refused."""
    with engine.begin() as connection:
        return _move(connection, campaign_id, status, detail, run_id=run_id, at=now or utc_now())


def _move(connection, campaign_id: str, status: str, detail: str, *, run_id: str | None = None,
          at: datetime, account_id: str | None = None) -> Campaign:
    if status not in STATUSES:
        raise CampaignError(f"{status!r} is not a campaign status ({', '.join(STATUSES)}) [CAMP-3]")
    campaign = _locked(connection, campaign_id, account_id)
    if status not in MOVES[campaign.status]:
        raise _refused(campaign, f"become {status}")
    values: dict[str, Any] = {"status": status, "updated_at": at}
    if run_id is not None:
        values["run_id"] = run_id
    connection.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(**values))
    _event(connection, campaign_id, status, detail, at)
    return _locked(connection, campaign_id)


def schedule(engine: Engine, campaign_id: str, run_id: str, detail: str = "", *, now: datetime | None = None
             ) -> Campaign:
    """A DAG run takes a draft (or a scheduled campaign no other run holds): scheduled, with its run id."""
    with engine.begin() as connection:
        campaign = _locked(connection, campaign_id)
        if campaign.status == "scheduled" and campaign.run_id not in (None, run_id):
            raise CampaignError(f"campaign {campaign_id!r} is scheduled by run {campaign.run_id}: one run per "
                                f"campaign (cancel it first) [CAMP-3]")
        if campaign.status not in EDITABLE:
            raise _refused(campaign, "be scheduled (duplicate it to send it again)")
        if campaign.status == "scheduled" and campaign.run_id == run_id:
            return campaign  # a retried prepare task
        return _move(connection, campaign_id, "scheduled", detail or f"scheduled by run {run_id}", run_id=run_id,
                     at=now or utc_now())


def cancel(engine: Engine, campaign_id: str, account_id: str | None = None, *, by: str | None = None,
           now: datetime | None = None) -> Cancelled:
    """CAMP-3: a scheduled campaign is cancelled and never sends; a running one is asked to stop, and its DAG's next
    batch sees it (`cancel_requested`). A draft is deleted instead; an ended campaign is refused."""
    stamp = now or utc_now()
    who = f" by {by}" if by else ""
    with engine.begin() as connection:
        campaign = _locked(connection, campaign_id, account_id)
        if campaign.status == "scheduled":
            done = _move(connection, campaign_id, "cancelled", f"cancelled{who} before sending", at=stamp)
            return Cancelled(done, "cancelled", f"campaign {campaign_id!r} cancelled: it will send nothing"
                             + (f"; its run {campaign.run_id} ends at its next step, its credits come back"
                                if campaign.run_id else ""))
        if campaign.status == "running":
            if campaign.cancel_requested_at is None:
                connection.execute(update(campaigns).where(campaigns.c.id == campaign_id)
                                   .values(cancel_requested_at=stamp, updated_at=stamp))
                _event(connection, campaign_id, "running", f"cancel requested{who}: stops before its next batch",
                       stamp)
            return Cancelled(_locked(connection, campaign_id), "stopping",
                             f"campaign {campaign_id!r} is running: it stops before its next batch, then ends "
                             f"cancelled and its unsent credits come back")
        if campaign.status == "draft":
            raise _refused(campaign, "be cancelled (a draft has nothing to stop: smsflow campaigns delete it)")
        raise _refused(campaign, "be cancelled (it has ended)")


def cancel_requested(engine: Engine, campaign_id: str) -> bool:
    """True when the campaign was cancelled, or asked to stop while running: its DAG sends no further batch.
    A campaign the store does not hold (a plan sent from the CLI) is never cancelled."""
    with engine.begin() as connection:
        row = connection.execute(select(campaigns.c.status, campaigns.c.cancel_requested_at)
                                 .where(campaigns.c.id == campaign_id)).first()
    return row is not None and (row.status == "cancelled" or row.cancel_requested_at is not None)


def end_run(engine: Engine, campaign_id: str, detail: str = "", figures: dict | None = None, *,
            now: datetime | None = None) -> Campaign:
    """The run's last step: finished, or cancelled when a cancel was requested while it ran (CAMP-3)."""
    stamp = now or utc_now()
    with engine.begin() as connection:
        campaign = _locked(connection, campaign_id)
        if figures is not None:
            connection.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(figures=figures))
        if campaign.status == "running" and campaign.cancel_requested_at is not None:
            return _move(connection, campaign_id, "cancelled", f"stopped between batches as asked; {detail}".rstrip(
                "; "), at=stamp)
        if campaign.status == "cancelled":
            return _move(connection, campaign_id, "cancelled", detail, at=stamp)
        return _move(connection, campaign_id, "finished", detail, at=stamp)


def record_figures(engine: Engine, campaign_id: str, figures: dict, *, now: datetime | None = None) -> None:
    """The campaign's figures (sent, delivered, ...: REP-1), shown by the dashboard."""
    with engine.begin() as connection:
        _locked(connection, campaign_id)
        connection.execute(update(campaigns).where(campaigns.c.id == campaign_id)
                           .values(figures=figures, updated_at=now or utc_now()))


def delete(engine: Engine, campaign_id: str, account_id: str | None = None, *, now: datetime | None = None) -> Campaign:
    """CAMP-3: drafts and finished campaigns can be deleted; a scheduled or running one is cancelled instead, a
    cancelled one stays. A draft goes with its audit; a finished campaign leaves the campaign list, but its messages'
    history (receipts, replies, the report and the warehouse's rows) stays until a purge (PLUS-8), and so does its
    lifecycle audit, which records the deletion."""
    with engine.begin() as connection:
        campaign = _locked(connection, campaign_id, account_id)
        if campaign.status not in ("draft", "finished"):
            raise _refused(campaign, "be deleted: only drafts and finished campaigns are; a scheduled or running one "
                                     "is cancelled, a cancelled one is kept (PLUS-8 purges)", "CAMP-3, PLUS-8")
        if campaign.status == "draft":
            connection.execute(sql_delete(campaign_events).where(campaign_events.c.campaign_id == campaign_id))
        else:
            _event(connection, campaign_id, "deleted", "deleted from the campaign list; its messages' history is "
                                                       "kept until a purge", now or utc_now())
        connection.execute(sql_delete(campaigns).where(campaigns.c.id == campaign_id))
        return campaign


def list_campaigns(engine: Engine, account_id: str = DEFAULT_ACCOUNT, status: str | tuple[str, ...] | None = None,
                   search: str | None = None, limit: int | None = None) -> list[Campaign]:
    """CAMP-4: the account's campaigns, newest first, filtered by status and searched by name (any case)."""
    wanted = (status,) if isinstance(status, str) else tuple(status or ())
    unknown = [value for value in wanted if value not in STATUSES]
    if unknown:
        raise CampaignError(f"status {unknown[0]!r} is not one of {', '.join(STATUSES)} [CAMP-4]")
    query = select(campaigns).where(campaigns.c.account_id == account_id)
    if wanted:
        query = query.where(campaigns.c.status.in_(wanted))
    if search:
        query = query.where(func.lower(campaigns.c.name).contains(search.lower(), autoescape=True))
    query = query.order_by(campaigns.c.updated_at.desc(), campaigns.c.created_at.desc(), campaigns.c.id)
    if limit is not None:
        query = query.limit(limit)
    with engine.begin() as connection:
        account_in(connection, account_id)
        return [_campaign(row) for row in connection.execute(query)]


def dashboard(engine: Engine, account_id: str = DEFAULT_ACCOUNT) -> dict[str, list[Campaign]]:
    """CAMP-4: the 10 latest drafts, and the 10 latest scheduled, running or finished campaigns, with figures."""
    return {"drafts": list_campaigns(engine, account_id, "draft", limit=LATEST),
            "campaigns": list_campaigns(engine, account_id, ("scheduled", "running", "finished"), limit=LATEST)}
