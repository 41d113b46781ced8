"""The servers bench/links.py measures beside `smsflow links serve` (each run by uvicorn or granian from bench/,
by factory): the baseline the issue names, the links behind Starlette, and the servers' bare floors."""

from __future__ import annotations

import os
import time


def baseline_app():
    """FastAPI with one SQLite lookup per request (the baseline the issue names)."""
    import sqlite3

    from fastapi import FastAPI, HTTPException
    from fastapi.responses import RedirectResponse

    connection = sqlite3.connect(os.environ["BENCH_SQLITE"], check_same_thread=False)
    app = FastAPI()

    @app.get("/{token}")
    async def redirect(token: str):
        row = connection.execute("SELECT target FROM links WHERE token = ?", (token,)).fetchone()
        if row is None:
            raise HTTPException(404)
        return RedirectResponse(row[0], status_code=302, headers={"Cache-Control": "private, no-store"})

    return app


def starlette_app():
    """The same index and click log as `links`, behind Starlette's router and responses."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, RedirectResponse
    from starlette.routing import Route

    from pipelines.links.app import NOT_FOUND, classify, create_app, ip_prefix
    from pipelines.links.clicks import event_line

    links = create_app()

    async def redirect(request):
        link = links.index.snapshot.lookup(request.path_params["token"].encode())
        if link is None:
            return HTMLResponse(NOT_FOUND, status_code=404)
        user_agent = request.headers.get("user-agent", "")
        agent_class, bot = classify(user_agent)
        now_us = time.time_ns() // 1000
        links.clicks.append(event_line(link.token, link.campaign, link.ref_list, link.id_line, link.link, "click",
                                       now_us, agent_class, bot, ip_prefix(request.client.host), user_agent))
        return RedirectResponse(link.target.decode(), status_code=302, headers={"Cache-Control": "private, no-store"})

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_):
        links.startup()
        yield
        links.shutdown()

    return Starlette(routes=[Route("/{token}", redirect)], lifespan=lifespan)


def floor_app():
    """The HTTP server's own cost: a bare ASGI app answering every request with the same 302 (no lookup, no log);
    on uvicorn (`floor`) and on granian (`floor-granian`)."""

    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 302,
                        "headers": [(b"location", b"https://www.monsite.com/"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})

    return app


def floor_rsgi_app():
    """granian's own cost through its RSGI protocol (`floor-rsgi`): the same bare 302, for the choice of ASGI."""

    async def app(scope, protocol):
        if scope.proto == "http":
            protocol.response_empty(302, [("location", "https://www.monsite.com/"), ("content-length", "0")])

    return app
