"""What every page of the extranet shares: templates, the person logged in, access levels, refusals, the audit.

A route's endpoint says who may reach it with `@access("public")` (anyone: login, forgotten password), or
`@access("partial")` (a session half-way through login: the second factor, the new password); every other route
needs a full session, which the guard (`pipelines.console.guard`) checks before the route runs. Objects of another
account are never found (404), whatever their id (ACC-3); a role that may not act gets 403.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

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
PARIS = ZoneInfo("Europe/Paris")
MAX_PAGE = 1_000_000  # a page number beyond any list: clamped, so an OFFSET never overflows
FLASH_KINDS = ("ok", "error")
# The app secret flash messages are signed with; the guard sets it at the start of every request.
SIGNING_KEY: contextvars.ContextVar[bytes] = contextvars.ContextVar("console_signing_key")


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


def whole_number(raw: str | None, *, lower: int = 1, upper: int = 10**9, signed: bool = False) -> int | None:
    """An integer typed in a URL or a form, within [lower, upper]; None for anything else (`²`, `١`, `1e3`, 5,000
    digits): ASCII digits only, so `int()` never raises and a huge value never reaches SQL."""
    text = (raw or "").strip()
    digits = text[1:] if signed and text[:1] in "+-" and len(text) > 1 else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > max(len(str(abs(lower))), len(str(upper))):
        return None
    value = int(text)
    return value if lower <= value <= upper else None


def page_number(request: Request, name: str = "page") -> int:
    """The page asked for in the query string: 1 when absent or not a number, at most MAX_PAGE."""
    raw = (request.query_params.get(name) or "").strip()
    if raw.isascii() and raw.isdigit() and len(raw) > len(str(MAX_PAGE)):
        return MAX_PAGE
    return whole_number(raw, upper=MAX_PAGE) or 1


def in_paris(moment: datetime | str) -> datetime:
    """A stored instant in Paris time. A naive one is UTC (SQLite gives instants back naive), never the machine's
    local time."""
    moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(PARIS)


def paris_time(moment: datetime | str | None, shape: str = "%d/%m/%Y %H:%M") -> str:
    """A stored instant as people read it: Paris time (`in_paris`), day first; none is ""."""
    if moment is None or moment == "":
        return ""
    return in_paris(moment).strftime(shape)


def campaign_of(request: Request, campaign_id: str | None = None, what: str = "Campagne introuvable"):
    """The person's account's campaign of the path (or `campaign_id`), or 404: another account's is exactly as
    absent as a missing one (ACC-3). Blocking: async endpoints call it through run_in_threadpool."""
    from pipelines.store import campaigns as store

    try:
        return store.get(engine_of(request), campaign_id or request.path_params["campaign_id"], account_id(request))
    except store.CampaignError:
        raise not_found(what) from None


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
        "flash": flash_of(request), **context})


def see_other(url: str) -> RedirectResponse:
    """After a POST: the browser GETs `url` (303), so a reload never posts twice."""
    return RedirectResponse(url, status_code=303)


def _signature(key: bytes, kind: str, message: str) -> str:
    return hmac.new(key, f"flash\n{kind}\n{message}".encode(), hashlib.sha256).hexdigest()[:32]


def _key_bytes(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode()


def flash_url(url: str, message: str, kind: str = "ok") -> str:
    """`url` with a short message the next page shows (`?ok=` or `?error=`), signed with the app secret so that
    nobody puts words on our pages through a link; unsigned (so never shown) when no request set the key."""
    if kind not in FLASH_KINDS:
        raise ValueError(f"flash kind {kind!r} is not one of {FLASH_KINDS}")
    key = SIGNING_KEY.get(None)
    query = {kind: message}
    if key:
        query["sig"] = _signature(_key_bytes(key), kind, message)
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"


def flash_of(request: Request) -> dict[str, str] | None:
    """The message `flash_url` put in this page's URL, {"kind", "message"}, when its signature holds; else None."""
    secret = getattr(request.app.state, "secret", None)
    signature = request.query_params.get("sig", "")
    if not secret or not signature:
        return None
    for kind in FLASH_KINDS:
        message = request.query_params.get(kind)
        if message and hmac.compare_digest(_signature(_key_bytes(secret), kind, message), signature):
            return {"kind": kind, "message": message}
    return None
