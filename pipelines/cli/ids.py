"""What a person may type for a campaign (CAMP-4): the store's campaign id, the Airflow run id that ran it (as the
Airflow UI shows it), or the folder name a run id becomes; and the nearest names when nothing matches."""

from __future__ import annotations

import difflib
import os
from pathlib import Path


def did_you_mean(given: str, known) -> str:
    """` (did you mean 'x' or 'y'?)` for the names closest to `given`, or "" when none is close."""
    close = difflib.get_close_matches(given, [name for name in known if name], n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(name) for name in close)}?)" if close else ""


def store_campaign_id(engine, given: str, account: str | None = None) -> str | None:
    """The store's id of the campaign `given` names (its id, the run id that scheduled it, or that run's folder
    name), within `account` when given; None when the store has none."""
    from sqlalchemy import or_, select

    from pipelines.layout import campaign_id_candidates
    from pipelines.store.schema import campaigns

    candidates = campaign_id_candidates(given)
    query = select(campaigns.c.id, campaigns.c.run_id).where(
        or_(campaigns.c.id.in_(candidates), campaigns.c.run_id.in_(candidates)))
    if account is not None:
        query = query.where(campaigns.c.account_id == account)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    for candidate in candidates:  # the text as typed first, then as a run id
        for campaign_id, run_id in rows:
            if candidate in (campaign_id, run_id):
                return campaign_id
    return None


def resolve_store_campaign(engine, given: str, account: str) -> str:
    """The store's id for `given` in `account`; unknown there: refused with the nearest ids and names (ACC-3: a
    campaign of another account is not seen)."""
    from pipelines.store import campaigns

    found = store_campaign_id(engine, given, account)
    if found is not None:
        return found
    if store_campaign_id(engine, given) is not None:  # another account's: the store says so in its words
        return given
    known = campaigns.list_campaigns(engine, account)
    suggestion = did_you_mean(given, [campaign.id for campaign in known])
    by_name = {campaign.name: campaign.id for campaign in known}
    if not suggestion and (names := difflib.get_close_matches(given, by_name, n=1, cutoff=0.6)):
        suggestion = f" (did you mean {by_name[names[0]]!r}, « {names[0]} »?)"
    raise LookupError(f"no campaign {given!r} in account {account!r}{suggestion}; `smsflow campaigns list` "
                      f"shows them [CAMP-4, ACC-3]")


def store_if_any(store: str | None):
    """The account store when one is named or exists (reading an id must not create bucket/smsflow.db)."""
    from pipelines.store.engine import ENV, store_url

    from pipelines.storage import local_bucket

    url = store or os.environ.get(ENV)
    if url is None:
        default = store_url(local_bucket())  # an s3:// bucket's store: in its local working copy
        if not Path(default.removeprefix("sqlite:///")).is_file():
            return None
    from pipelines.store import open_store

    return open_store(url)


def require_warehouse(db: Path) -> None:
    """A warehouse that is not there is the user's to fix: refused, saying how (REP-1)."""
    from pipelines.warehouse import exists

    if not exists(db):
        raise LookupError(f"no warehouse at {db}: load a campaign into it first (`smsflow load`), or name another "
                          f"one with --db [REP-1]")


def resolve_warehouse_campaign(db: Path, given: str, store: str | None = None) -> str:
    """The warehouse's id for `given`: itself, the folder name of an Airflow run id, or the id the account store
    gives the run (a draft's id); unknown: refused with the nearest ids (CAMP-4)."""
    from pipelines.layout import campaign_id_candidates
    from pipelines.report import list_campaigns

    require_warehouse(db)
    known = list_campaigns(db).get_column("campaign_id").to_list()
    for candidate in campaign_id_candidates(given):
        if candidate in known:
            return candidate
    engine = store_if_any(store)
    found = store_campaign_id(engine, given) if engine is not None else None
    if found in known:
        return found
    raise LookupError(f"no campaign {given!r} in {db}{did_you_mean(given, known)}; `smsflow campaigns list` "
                      f"lists them [CAMP-4]")
