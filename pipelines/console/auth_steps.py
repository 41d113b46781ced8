"""The steps of a login (USER-1..3) that several pages share: after the password, which step comes next (a new
password, the second factor, or the full session), each step on a new session key (no session fixation); the
trusted-device cookie; sending a login code."""

from __future__ import annotations

from urllib.parse import quote

from itsdangerous import BadSignature, Signer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pipelines.console.guard import set_session_cookie
from pipelines.console.notify import NotifyError, send_email, send_sms
from pipelines.console.sessions import open_session
from pipelines.console.web import audit, client_ip, engine_of, see_other
from pipelines.store.second_factor import CODE_MINUTES, TRUST_DAYS, device_trusted, issue_code, required_for
from pipelines.store.users import User, note_success

DEVICE_COOKIE = "smsflow_device"


def next_path(value) -> str:
    """Where to go after login: a path of this site only (never another site: no open redirect)."""
    value = value if isinstance(value, str) else None
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _device_signer(request: Request) -> Signer:
    return Signer(request.app.state.secret, salt="smsflow-trusted-device")


def device_token(request: Request) -> str | None:
    """The trusted-device token of this browser (checked signature), or None."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        return _device_signer(request).unsign(raw).decode()
    except BadSignature:
        return None


def set_device_cookie(request: Request, response: Response, token: str) -> None:
    """USER-2: the signed, HttpOnly cookie that lets this browser skip the second factor for 7 days."""
    response.set_cookie(DEVICE_COOKIE, _device_signer(request).sign(token).decode(), max_age=TRUST_DAYS * 86400,
                        httponly=True, samesite="lax", secure=request.app.state.settings.https, path="/")


async def switch_session(request: Request, user: User, stage: str, target: str) -> Response:
    """A new session key at `stage`, replacing this browser's (its key before this step is worthless after it)."""
    key = await run_in_threadpool(open_session, engine_of(request), user.id, stage,
                                  hours=request.app.state.settings.session_hours, ip=client_ip(request),
                                  user_agent=request.headers.get("user-agent"),
                                  replacing=request.scope.get("console_key"))
    response = see_other(target)
    set_session_cookie(response, request.app.state.secret, key, https=request.app.state.settings.https)
    return response


async def open_full(request: Request, user: User, target: str, how: str) -> Response:
    """The login is complete: a full session on a new key, the failure count reset, audited."""
    await run_in_threadpool(note_success, engine_of(request), user.id)
    await run_in_threadpool(audit, request, "login", user.login, how, user=user)
    return await switch_session(request, user, "full", target)


def send_login_code(request: Request, user: User, channel: str) -> None:
    """A new 6-digit login code (earlier ones void) by SMS or email; raises NotifyError (French) on failure."""
    settings, engine = request.app.state.settings, engine_of(request)
    if channel == "sms" and not user.mobile:
        raise NotifyError("Aucun numéro de mobile n'est enregistré pour vous : choisissez une autre méthode.")
    if channel == "sms" and not settings.smsc:
        raise NotifyError("L'envoi de SMS n'est pas configuré sur cette plateforme : choisissez une autre méthode.")
    code = issue_code(engine, user.id, "login", channel)
    minutes = CODE_MINUTES["login"]
    if channel == "sms":
        send_sms(settings, user.mobile, f"Votre code smsflow : {code} (valable {minutes} minutes)")
    else:
        send_email(settings, user.email, "Votre code de connexion smsflow",
                   f"Bonjour,\n\nVotre code de connexion smsflow est : {code}\nIl est valable {minutes} minutes et "
                   f"ne sert qu'une fois.\n\nSi vous n'êtes pas à l'origine de cette demande, changez votre mot de "
                   f"passe.\n", bucket=request.app.state.bucket)
    audit(request, "second_factor_code_sent", user.login, channel, user=user)


async def after_password(request: Request, user: User, target: str) -> Response:
    """The password (or a new one) is right: the next step. A temporary password opens only the new-password
    step (USER-3); a second factor is asked unless this browser is trusted (USER-2); a user whose account
    requires one and who has none enrols it first."""
    engine = engine_of(request)
    if user.password_temporary:
        await run_in_threadpool(audit, request, "login_temporary", user.login, user=user)
        return await switch_session(request, user, "activation", "/password/new")
    if user.second_factor:
        if await run_in_threadpool(device_trusted, engine, user.id, device_token(request)):
            return await open_full(request, user, target, "trusted device")
    elif not await run_in_threadpool(required_for, engine, user.account_id):
        return await open_full(request, user, target, "password")
    step = f"/login/second-factor?next={quote(target, safe='')}" if target != "/" else "/login/second-factor"
    if user.second_factor in ("sms", "email"):
        try:
            await run_in_threadpool(send_login_code, request, user, user.second_factor)
        except NotifyError as error:
            step += ("&" if "?" in step else "?") + "problem=send"
            await run_in_threadpool(audit, request, "second_factor_send_failed", user.login, str(error), user=user)
    await run_in_threadpool(audit, request, "login_password", user.login, user=user)
    return await switch_session(request, user, "password", step)
