"""The extranet's application: its routes, the guard in front of them, the store behind them (issue 14)."""

from __future__ import annotations

import importlib
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from pipelines.console.guard import Guard
from pipelines.console.settings import ConsoleSettings, store_secret
from pipelines.console.web import page

STATIC = Path(__file__).with_name("static")
# Each module's `routes`, in this order; a module owns its paths (English) and its pages (French labels).
PAGES = ("auth", "account", "people", "dashboard", "campaigns", "approval", "lists", "reports", "blacklists")
TITLES = {401: "Connexion requise", 403: "Accès refusé", 404: "Page introuvable", 405: "Méthode non permise",
          413: "Fichier trop gros"}


async def _error(request: Request, error: HTTPException):
    """Every refusal as a page in the user's words (never a traceback)."""
    message = error.detail if error.detail and error.detail != TITLES.get(error.status_code) else ""
    if request.headers.get("hx-request"):
        from starlette.responses import HTMLResponse
        from markupsafe import escape

        return HTMLResponse(f'<p class="error" role="alert">{escape(message or TITLES.get(error.status_code, ""))}</p>',
                            status_code=error.status_code)
    return page(request, "error.html", status_code=error.status_code, status=error.status_code,
                title=TITLES.get(error.status_code, "Erreur"), message=message)


def create_app(settings: ConsoleSettings | None = None, *, engine=None) -> Starlette:
    """The extranet on `settings` (default: from the environment) and its account store."""
    from pipelines.store import open_store
    from pipelines.storage import local_bucket

    settings = settings or ConsoleSettings.from_env()
    if settings.bucket:
        import os

        os.environ.setdefault("SMSFLOW_BUCKET", settings.bucket)
    bucket = local_bucket()
    if engine is None:
        engine = open_store(settings.store_url, bucket=None if settings.store_url else bucket)
    routes = [Mount("/static", StaticFiles(directory=STATIC), name="static")]
    for name in PAGES:
        routes += importlib.import_module(f"pipelines.console.{name}").routes
    app = Starlette(routes=routes, exception_handlers={HTTPException: _error},
                    middleware=[Middleware(Guard, routes_of=lambda: app.router.routes)])
    app.state.settings, app.state.engine, app.state.bucket = settings, engine, bucket
    app.state.secret = settings.secret or store_secret(engine)
    return app
