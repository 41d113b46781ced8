"""Logging in and out of the extranet (USER-1, USER-2): identifier and password with lockout and backoff, then the
second factor when the user has one, a new session key at each step. The forgotten password (USER-3) is in
`auth_password`."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console import auth_password
from pipelines.console.auth_steps import (
    after_password, next_path, open_full, send_login_code, set_device_cookie)
from pipelines.console.guard import COOKIE
from pipelines.console.notify import NotifyError
from pipelines.console.sessions import close_all, close_session
from pipelines.console.web import access, audit, engine_of, flash_url, page, see_other
from pipelines.store.second_factor import (
    check_code, check_totp, required_for, send_wait, trust_device, use_recovery_code)
from pipelines.store.users import attempt_login, claim_attempt

WRONG = "Identifiant ou mot de passe incorrect."
METHOD_TEXT = {"totp": "Saisissez le code à 6 chiffres affiché par votre application d'authentification.",
               "sms": "Nous vous avons envoyé un code par SMS.",
               "email": "Nous vous avons envoyé un code par email."}


def waiting(wait) -> str:
    """A lock's time left, in words: `2 min 05 s`."""
    seconds = max(int(wait.total_seconds() + 0.999), 1)
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def locked_message(wait) -> str:
    return (f"Trop d'essais infructueux : la connexion est bloquée pendant encore {waiting(wait)}. "
            f"Réessayez ensuite, ou utilisez « Mot de passe oublié ».")


@access("public")
async def login_form(request: Request):
    session = request.scope.get("console_session")
    if session and session.stage == "full":
        return see_other("/")
    return page(request, "login.html", next=next_path(request.query_params.get("next")), login="")


@access("public")
async def login(request: Request):
    """USER-1: the password step. A locked login's password is not even checked; an unknown login answers like a
    wrong password."""
    form = await request.form()
    login_name, password = str(form.get("login", ""))[:254], str(form.get("password", ""))
    target = next_path(form.get("next"))
    attempt = await run_in_threadpool(attempt_login, engine_of(request), login_name, password)
    if attempt.outcome != "ok":
        action = "login_locked" if attempt.outcome == "locked" else "login_failed"
        # the actor as the store compares it (lowered, trimmed): an unknown login's lock counts these lines
        await run_in_threadpool(audit, request, action, login_name, user=attempt.user,
                                actor=login_name.strip().lower())
        error = locked_message(attempt.wait) if attempt.outcome == "locked" else WRONG
        return page(request, "login.html", status_code=429 if attempt.outcome == "locked" else 401, next=target,
                    login=login_name, error=error)
    return await after_password(request, attempt.user, target)


def _stage_page(session):
    """Where a session that is not waiting for its second factor belongs."""
    if session.stage == "full":
        return see_other("/")
    if session.stage == "activation":
        return see_other("/password/new")
    return None


@access("partial")
async def second_factor_form(request: Request):
    session = request.scope["console_session"]
    elsewhere = _stage_page(session)
    if elsewhere is not None:
        return elsewhere
    user = session.user
    if not user.second_factor:  # reset meanwhile: a button (a POST) continues; a GET changes nothing
        if await run_in_threadpool(required_for, engine_of(request), user.account_id):
            return see_other("/account/second-factor")
        return page(request, "login_second_factor.html", method=None, method_text=None, error=None,
                    next=next_path(request.query_params.get("next")))
    problem = ("L'envoi du code a échoué : utilisez « Renvoyer le code » ou un code de secours."
               if request.query_params.get("problem") == "send" else None)
    return _second_factor_page(request, user, error=problem)


async def _without_factor(request: Request, user, target):
    """A user half-way through login with no second factor: they enrol it when the account requires one; else
    (an administrator reset it meanwhile) the password was enough."""
    if await run_in_threadpool(required_for, engine_of(request), user.account_id):
        return see_other("/account/second-factor")
    return await open_full(request, user, next_path(target), "password")


def _second_factor_page(request: Request, user, status_code: int = 200, error: str | None = None, next_url=None):
    return page(request, "login_second_factor.html", status_code=status_code, method=user.second_factor,
                method_text=METHOD_TEXT[user.second_factor], error=error,
                next=next_path(next_url or request.query_params.get("next")))


def _check(engine, user, code: str, recovery: str) -> bool:
    if recovery.strip():
        return use_recovery_code(engine, user.id, recovery)
    if user.second_factor == "totp":
        return check_totp(engine, user.id, code)
    return check_code(engine, user.id, "login", code, channel=user.second_factor)


@access("partial")
async def second_factor(request: Request):
    """USER-2: the code (app, SMS or email) or a recovery code; a success opens the full session on a new key,
    and trusts this browser for 7 days when asked. Each try counts towards the lockout like a wrong password, before
    it is checked (`claim_attempt`: parallel tries cannot pass the lock); a success resets the count."""
    session = request.scope["console_session"]
    elsewhere = _stage_page(session)
    if elsewhere is not None:
        return elsewhere
    user, engine = session.user, engine_of(request)
    form = await request.form()
    target = next_path(form.get("next"))
    if not user.second_factor:
        return await _without_factor(request, user, target)
    code, recovery = str(form.get("code", "")), str(form.get("recovery", ""))
    wait = await run_in_threadpool(claim_attempt, engine, user.id)
    if wait:
        await run_in_threadpool(audit, request, "login_locked", user.login, "second factor", user=user)
        return _second_factor_page(request, user, 429, locked_message(wait), target)
    if not await run_in_threadpool(_check, engine, user, code, recovery):
        await run_in_threadpool(audit, request, "second_factor_failed", user.login,
                                "recovery code" if recovery.strip() else user.second_factor, user=user)
        return _second_factor_page(request, user, 401, "Code incorrect, expiré ou déjà utilisé.", target)
    how = "recovery code" if recovery.strip() else user.second_factor
    response = await open_full(request, user, target, how)
    if form.get("trust"):
        token = await run_in_threadpool(trust_device, engine, user.id, request.headers.get("user-agent"))
        set_device_cookie(request, response, token)
        await run_in_threadpool(audit, request, "device_trusted", user.login, user=user)
    return response


@access("partial")
async def resend_code(request: Request):
    """« Renvoyer le code »: a new SMS or email code (the ones sent before are void), 30 s after the last one at
    the soonest and ten an hour at most (`send_wait`): the button cannot flood a phone or a mailbox."""
    session = request.scope["console_session"]
    elsewhere = _stage_page(session)
    if elsewhere is not None:
        return elsewhere
    user = session.user
    form = await request.form()
    target = next_path(form.get("next"))
    if user.second_factor not in ("sms", "email"):
        return see_other("/login/second-factor")
    wait = await run_in_threadpool(send_wait, engine_of(request), user.id)
    if wait:
        await run_in_threadpool(audit, request, "second_factor_resend_refused", user.login, waiting(wait), user=user)
        return _second_factor_page(request, user, 429, f"Un code vient de vous être envoyé : vous pourrez en "
                                   f"demander un nouveau dans {waiting(wait)}.", target)
    try:
        await run_in_threadpool(send_login_code, request, user, user.second_factor)
    except NotifyError as error:
        return _second_factor_page(request, user, 502, str(error), target)
    url = "/login/second-factor" + (f"?next={quote(target, safe='')}" if target != "/" else "")
    return see_other(flash_url(url, "Un nouveau code vous a été envoyé."))


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
    Route("/login/second-factor", second_factor_form, methods=["GET"]),
    Route("/login/second-factor", second_factor, methods=["POST"]),
    Route("/login/second-factor/resend", resend_code, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
] + auth_password.routes
