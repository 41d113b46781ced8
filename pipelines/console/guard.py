"""The extranet's guard, one ASGI middleware in front of every route (issue 14): security headers on every answer,
the session from its signed cookie, a login redirect for any route that needs one, and a CSRF check on every
unsafe request.

Order matters: a request without a session is sent to the login page before anything else (so every route, a new
one too, is closed by default); then a POST, PUT, PATCH or DELETE must carry the CSRF token of its session (a form
field `csrf_token`, or the `X-CSRF-Token` header htmx sends), else 403. The token is an HMAC of the session's key,
so it changes at login with the key (no session fixation).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from itsdangerous import BadSignature, Signer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Match

from pipelines.console.sessions import find_session, new_key
from pipelines.console.web import SIGNING_KEY, access_of

COOKIE = "smsflow_session"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 64 * 1024 * 1024  # an uploaded list, at most (LIST-1 files bigger than this go through the bucket)
SMALL_BODY = 64 * 1024  # a form before login (login, second factor, forgotten password): no upload there
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
STAGE_PAGES = {"password": "/login/second-factor", "activation": "/password/new"}


def _size(limit: int) -> str:
    return f"{limit // 2**20} Mo" if limit >= 2**20 else f"{limit // 2**10} Ko"


def signer(secret: bytes) -> Signer:
    return Signer(secret, salt="smsflow-console-session")


def csrf_for(secret: bytes, key: str) -> str:
    return hmac.new(secret, b"csrf:" + key.encode(), hashlib.sha256).hexdigest()


def set_session_cookie(response: Response, secret: bytes, key: str, *, https: bool) -> None:
    """The session cookie: signed, HttpOnly, SameSite=Lax, Secure behind HTTPS; it lasts the browser session."""
    response.set_cookie(COOKIE, signer(secret).sign(key).decode(), httponly=True, samesite="lax", secure=https,
                        path="/")


class Guard:
    """Security headers, session, login redirect and CSRF check, for every HTTP request of the app."""

    def __init__(self, app, *, routes_of):
        self.app, self.routes_of = app, routes_of

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope["app"].state
        secret, settings = state.secret, state.settings
        SIGNING_KEY.set(secret)  # flash messages on this request's pages are signed with it (web.flash_url)
        request = Request(scope)
        static = scope["path"].startswith("/static/")
        key, fresh = self._key(request, secret)
        session = None if fresh else await run_in_threadpool(find_session, state.engine, key)
        scope["console_key"], scope["console_session"] = key, session
        scope["console_csrf"] = csrf_for(secret, key)

        async def send_guarded(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if not static:
                    headers.setdefault("cache-control", "no-store")
                if fresh and not static and not any(
                        raw.startswith(COOKIE.encode() + b"=") for name, raw in message["headers"]
                        if name == b"set-cookie"):
                    cookie = Response()
                    set_session_cookie(cookie, secret, key, https=settings.https)
                    headers.append("set-cookie", cookie.headers["set-cookie"])
            await send(message)

        level = "public" if static else self._level(scope)
        if level != "public":
            refusal = self._refusal(request, level, session)
            if refusal is not None:
                return await refusal(scope, receive, send_guarded)
        if request.method not in SAFE:
            # a logged-in person may upload a list; before login only small forms: nobody unknown fills the memory
            limit = MAX_BODY if level == "full" and session is not None else SMALL_BODY
            receive, checked = await self._csrf(request, scope, receive, limit)
            if checked is not True:
                from pipelines.console.web import page

                if checked == "too big":
                    answer = page(request, "error.html", status_code=413, status=413, title="Fichier trop gros",
                                  message=f"Un envoi ne peut dépasser {_size(limit)} : déposez les fichiers plus gros "
                                          f"dans le bucket (LIST-1).")
                else:
                    answer = page(request, "error.html", status_code=403, status=403, title="Accès refusé",
                                  message="Formulaire expiré ou invalide (jeton CSRF manquant ou faux) : rechargez "
                                          "la page et recommencez.")
                return await answer(scope, receive, send_guarded)
        await self.app(scope, receive, send_guarded)

    @staticmethod
    def _key(request: Request, secret: bytes) -> tuple[str, bool]:
        """The session key from the cookie (checked signature), or a new one for this browser."""
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                return signer(secret).unsign(raw).decode(), False
            except BadSignature:
                pass
        return new_key(), True

    def _level(self, scope) -> str:
        """The access level of the route that will answer (an unknown path needs a session: it reveals nothing)."""
        for route in self.routes_of():
            match, child = route.matches(scope)
            if match == Match.FULL:
                return access_of(getattr(route, "endpoint", None))
        return "full"

    @staticmethod
    def _refusal(request: Request, level: str, session) -> Response | None:
        if session is not None and (session.stage == "full" or level == "partial"):
            return None
        target = "/login"
        if session is not None and session.stage in STAGE_PAGES:
            target = STAGE_PAGES[session.stage]
        elif request.method == "GET" and request.url.path not in ("/", "/login"):
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target = f"/login?next={quote(wanted, safe='')}"
        if request.headers.get("hx-request"):
            return PlainTextResponse("", status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def _csrf(self, request: Request, scope, receive, limit: int):
        """(receive replaying the body, True when the CSRF token matches, else False or "too big"). The body is read
        whole, up to `limit` bytes, whether the token comes in a header (htmx) or in the form."""
        expected = scope["console_csrf"]
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            return receive, "too big"
        body, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return receive, "too big"
            body.append(chunk)
            if not message.get("more_body", False):
                break
        data = b"".join(body)

        def replay_factory():
            sent = False

            async def replay():
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}

            return replay

        kind = request.headers.get("content-type", "")
        given = request.headers.get("x-csrf-token")
        if given is None and kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            try:
                async with Request(scope, replay_factory()).form(max_files=20, max_fields=2000) as form:
                    value = form.get("csrf_token")
                    given = value if isinstance(value, str) else None
            except Exception:  # noqa: BLE001 - a malformed body carries no valid token
                given = None
        # bytes: compare_digest refuses (TypeError) a str with non-ASCII characters, which anyone may send
        return replay_factory(), given is not None and hmac.compare_digest(given.encode(), expected.encode())
