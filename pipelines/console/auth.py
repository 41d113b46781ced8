"""Logging in and out of the extranet (USER-1): identifier and password, then the second factor when the user has
one (USER-2), a new session key at each step."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console.guard import COOKIE, set_session_cookie
from pipelines.console.sessions import close_all, close_session, open_session
from pipelines.console.web import access, audit, client_ip, engine_of, page, see_other
from pipelines.store.users import find_login, verify_password


def _next(request: Request, value: str | None) -> str:
    """Where to go after login: a path of this site only (never another site: no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@access("public")
async def login_form(request: Request):
    if request.scope.get("console_session") and request.scope["console_session"].stage == "full":
        return see_other("/")
    return page(request, "login.html", next=_next(request, request.query_params.get("next")), login="")


@access("public")
async def login(request: Request):
    form = await request.form()
    login_name, password = str(form.get("login", "")), str(form.get("password", ""))
    engine = engine_of(request)

    def check():
        with engine.connect() as connection:
            row = find_login(connection, login_name)
        ok = row is not None and row.active and verify_password(row.password_hash, password)
        return row, ok

    row, ok = await run_in_threadpool(check)
    if not ok:
        await run_in_threadpool(audit, request, "login_failed", login_name[:254], actor=login_name[:254],
                                account=row.account_id if row is not None else None)
        return page(request, "login.html", status_code=401, next=_next(request, form.get("next")),
                    login=login_name, error="Identifiant ou mot de passe incorrect.")
    key = await run_in_threadpool(open_session, engine, row.id, "full", hours=request.app.state.settings.session_hours,
                                  ip=client_ip(request), user_agent=request.headers.get("user-agent"),
                                  replacing=request.scope.get("console_key"))
    response = see_other(_next(request, form.get("next")))
    set_session_cookie(response, request.app.state.secret, key, https=request.app.state.settings.https)
    return response


@access("partial")
async def logout(request: Request):
    """End this session (`everywhere`: every session of this person)."""
    form = await request.form()
    session = request.scope["console_session"]
    if form.get("everywhere"):
        await run_in_threadpool(close_all, engine_of(request), session.user.id)
    else:
        await run_in_threadpool(close_session, engine_of(request), session.key)
    await run_in_threadpool(audit, request, "logout_everywhere" if form.get("everywhere") else "logout",
                            user=session.user)
    response = see_other("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


routes = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
