"""The dashboard (CAMP-4): the account's 10 latest drafts and 10 latest campaigns with their figures (issue 14)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console.web import account_id, engine_of, page


async def dashboard(request: Request):
    """GET /: `pipelines.store.campaigns.dashboard`, with status badges and REP-1 figures (sent, delivered, STOP,
    credits)."""
    from pipelines.console.campaigns import STATUS_WORDS, paris, send_time
    from pipelines.store.campaigns import dashboard as latest

    board = await run_in_threadpool(latest, engine_of(request), account_id(request))
    return page(request, "dashboard.html", board=board, words=STATUS_WORDS, paris=paris, send_time=send_time)


routes = [Route("/", dashboard, methods=["GET"])]
