"""What the blacklist pages read (BL-1, BL-2, PLUS-6): one page of a blacklist, and the opt-out history of an
account, as queries on the store's tables (paged in SQL: a blacklist may hold millions of numbers)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Engine, and_, func, or_, select

from pipelines.store.blacklists import owner, utc
from pipelines.store.schema import blacklist, opt_out_audit

PAGE_ROWS = 50


@dataclass(frozen=True)
class Page:
    """One page of rows (dicts), the total matching, and where it stands."""

    rows: list[dict]
    total: int
    page: int
    pages: int


def _paged(connection, query, page: int) -> Page:
    total = connection.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar() or 0
    pages = max(1, -(-total // PAGE_ROWS))
    page = min(max(1, page), pages)
    rows = [dict(row._mapping) for row in connection.execute(query.limit(PAGE_ROWS).offset((page - 1) * PAGE_ROWS))]
    for row in rows:
        for key in ("added_at", "at"):
            if key in row:
                row[key] = utc(row[key])
    return Page(rows, total, page, pages)


def number_pattern(text: str) -> tuple[str | None, str]:
    """A search as typed (`06 12 34 56 78`, `+33612…`, `5678`): the E.164 number when it is a valid one, and the
    digits to look for inside stored numbers otherwise (a national number's leading 0 dropped)."""
    from pipelines.numbers import normalise_numbers

    text = (text or "").strip()
    if not text:
        return None, ""
    verdict = normalise_numbers(pl.Series([text], dtype=pl.String)).row(0, named=True)
    if verdict["MF_VALID"]:
        return verdict["INT_MOBILE"], verdict["INT_MOBILE"]
    digits = re.sub(r"\D", "", text)
    return None, digits.lstrip("0") or digits or text


def _matching(column, text: str):
    exact, fragment = number_pattern(text)
    if exact:
        return column == exact
    return column.contains(fragment, autoescape=True)


def listed(engine: Engine, kind: str, account_id: str, *, search: str = "", page: int = 1) -> Page:
    """One page of a blacklist (number, source, campaign_id, added_at) by number; `search` as `number_pattern`."""
    with engine.begin() as connection:
        key = owner(connection, kind, account_id, required=False)
        if key is None:
            return Page([], 0, 1, 1)
        query = select(blacklist.c.number, blacklist.c.source, blacklist.c.campaign_id, blacklist.c.added_at) \
            .where(blacklist.c.kind == kind, blacklist.c.account_id == key).order_by(blacklist.c.number)
        if search.strip():
            query = query.where(_matching(blacklist.c.number, search))
        return _paged(connection, query, page)


def has_client(engine: Engine, account_id: str) -> bool:
    """Whether the account has a client, hence a client blacklist (BL-1)."""
    with engine.begin() as connection:
        return owner(connection, "client", account_id, required=False) is not None


def opt_out_history(engine: Engine, account_id: str, *, search: str = "", page: int = 1,
                    with_global: bool = False) -> Page:
    """The account's opt-out changes, newest first: STOP and START replies, additions, removals, imports, by
    whom; its own blacklist's and its client's (and the global one's for a superadmin)."""
    with engine.begin() as connection:
        client = owner(connection, "client", account_id, required=False)
        mine = [and_(opt_out_audit.c.kind == "own", opt_out_audit.c.account_id == account_id)]
        if client is not None:
            mine.append(and_(opt_out_audit.c.kind == "client", opt_out_audit.c.account_id == client))
        if with_global:
            mine.append(opt_out_audit.c.kind == "global")
        query = select(opt_out_audit.c.at, opt_out_audit.c.kind, opt_out_audit.c.number, opt_out_audit.c.action,
                       opt_out_audit.c.campaign_id, opt_out_audit.c.text, opt_out_audit.c.by) \
            .where(or_(*mine)).order_by(opt_out_audit.c.at.desc(), opt_out_audit.c.id.desc())
        if search.strip():
            query = query.where(_matching(opt_out_audit.c.number, search))
        return _paged(connection, query, page)
