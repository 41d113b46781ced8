"""What every page of the extranet shares: templates, the person logged in, access levels, refusals, the audit.

A route's endpoint says who may reach it with `@access("public")` (anyone: login, forgotten password), or
`@access("partial")` (a session half-way through login: the second factor, the new password); every other route
needs a full session, which the guard (`pipelines.console.guard`) checks before the route runs. Objects of another
account are never found (404), whatever their id (ACC-3); a role that may not act gets 403.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from markupsafe import Markup
from sqlalchemy import Engine, insert
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from pipelines.store.engine import now
from pipelines.store.schema import audit_log
from pipelines.store.users import User

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))  # autoescaped
ACCESS = ("public", "partial", "full")


def access(level: str) -> Callable:
    """Mark an endpoint's access level (default: `full`, a logged-in person past every login step)."""
    if level not in ACCESS:
        raise ValueError(f"access level {level!r} is not one of {ACCESS}")

    def mark(endpoint: Callable) -> Callable:
        endpoint.console_access = level
        return endpoint

    return mark


def access_of(endpoint: Any) -> str:
    return getattr(endpoint, "console_access", "full")


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


def person(request: Request) -> User:
    """The person logged in (the guard lets no full-access route run without one)."""
    session = request.scope.get("console_session")
    if session is None:
        raise HTTPException(401)
    return session.user


def account_id(request: Request) -> str:
    return person(request).account_id


def require_admin(request: Request) -> User:
    """USER-4: the account's administrators (and the platform's superadmins) only."""
    user = person(request)
    if not user.admin:
        raise HTTPException(403, "Réservé aux administrateurs du compte")
    return user


def require_superadmin(request: Request) -> User:
    user = person(request)
    if not user.superadmin:
        raise HTTPException(403, "Réservé aux administrateurs de la plateforme")
    return user


def not_found(what: str = "Page introuvable") -> HTTPException:
    """Another account's object, or none: the same answer, so ids of other accounts reveal nothing (ACC-3)."""
    return HTTPException(404, what)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def audit(request: Request, action: str, target: str | None = None, detail: str | None = None, *,
          user: User | None = None, actor: str | None = None, account: str | None = None) -> None:
    """Record an action in the audit log: who, when, what, from where."""
    session = request.scope.get("console_session")
    user = user or (session.user if session else None)
    with engine_of(request).begin() as connection:
        connection.execute(insert(audit_log).values(
            account_id=account if account is not None else (user.account_id if user else None),
            user_id=user.id if user else None, actor=actor or (user.login if user else None), action=action,
            target=target, detail=detail, ip=client_ip(request), at=now()))


def csrf_token(request: Request) -> str:
    return request.scope.get("console_csrf", "")


def csrf_field(request: Request) -> Markup:
    """The hidden CSRF field every form carries (the guard refuses an unsafe request without it: 403)."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf_token(request))


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page rendered with what every template gets: the person, the CSRF field, the current path."""
    session = request.scope.get("console_session")
    return TEMPLATES.TemplateResponse(request, template, status_code=status_code, context={
        "user": session.user if session and session.stage == "full" else None,
        "csrf_field": csrf_field(request), "csrf_token": csrf_token(request), "path": request.url.path,
        **context})


def see_other(url: str) -> RedirectResponse:
    """After a POST: the browser GETs `url` (303), so a reload never posts twice."""
    return RedirectResponse(url, status_code=303)


def flash_url(url: str, message: str) -> str:
    """`url` with a short message the next page shows (`?ok=`)."""
    from urllib.parse import urlencode

    return f"{url}{'&' if '?' in url else '?'}{urlencode({'ok': message})}"
