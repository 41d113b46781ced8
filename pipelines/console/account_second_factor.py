"""USER-2 enrolment, on /account or forced at login: choose an authenticator app (QR code and its secret in text,
confirmed by a first code), SMS (to the user's mobile) or email (confirmed by a first code sent there); then the ten
recovery codes, shown once. A user whose account requires a second factor and who has none enrols here with the
half-open session of the password step, and leaves with a full session on a new key."""

from __future__ import annotations

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console.auth_steps import next_path, open_full, send_login_code
from pipelines.console.notify import NotifyError
from pipelines.console.web import access, audit, engine_of, page, see_other
from pipelines.store.second_factor import (
    confirm_channel, confirm_totp, new_recovery_codes, pending_totp, required_for, start_totp, totp_uri)
from pipelines.store.users import get_user, note_failure, recheck_password

METHOD_NAMES = {"totp": "Application d'authentification (Google Authenticator, FreeOTP…)", "sms": "Code par SMS",
                "email": "Code par email"}


class NotHere(Exception):
    """This session may not enrol (a half-open one whose account does not force enrolment)."""


def enrolment(request: Request):
    """(the user, whether enrolment is forced at login), or NotHere."""
    session = request.scope["console_session"]
    if session.stage == "full":
        return session.user, False
    if (session.stage == "password" and not session.user.second_factor
            and required_for(engine_of(request), session.user.account_id)):
        return session.user, True
    raise NotHere


async def _enrolling(request: Request):
    try:
        return await run_in_threadpool(enrolment, request), None
    except NotHere:
        session = request.scope["console_session"]
        return (None, None), see_other("/password/new" if session.stage == "activation" else "/login/second-factor")


PASSWORD_REFUSED = {"wrong": "Le mot de passe actuel est incorrect.",
                    "locked": "Trop d'essais infructueux : réessayez plus tard."}


async def password_refusal(request: Request, form) -> str | None:
    """USER-2: a sensitive change asks for the current password again (a stolen session alone cannot make it):
    None when it is right, else what to say (a wrong one counts towards the lockout)."""
    user = request.scope["console_session"].user
    outcome = await run_in_threadpool(recheck_password, engine_of(request), user.id, str(form.get("current", "")))
    if outcome == "ok":
        return None
    await run_in_threadpool(audit, request, "password_recheck_failed", user.login, outcome)
    return PASSWORD_REFUSED[outcome]


def qr_svg(uri: str) -> Markup:
    """The QR code of `uri` as inline SVG paths (no style attribute: the CSP allows none)."""
    import qrcode
    from qrcode.image.svg import SvgPathImage

    return Markup(qrcode.make(uri, image_factory=SvgPathImage, box_size=8).to_string(encoding="unicode"))


def _choose_page(request: Request, user, forced: bool, status_code: int = 200, error: str | None = None):
    settings = request.app.state.settings
    return page(request, "account_second_factor.html", status_code=status_code, step="choose", forced=forced,
                current=user.second_factor, names=METHOD_NAMES, error=error, mobile=user.mobile,
                sms_ready=bool(settings.smsc and user.mobile))


@access("partial")
async def choose_form(request: Request):
    (user, forced), elsewhere = await _enrolling(request)
    if elsewhere:
        return elsewhere
    method = request.query_params.get("method")
    if method == "totp":
        secret = await run_in_threadpool(pending_totp, engine_of(request), user.id)
        if secret:
            return page(request, "account_second_factor.html", step="confirm", method="totp", forced=forced,
                        names=METHOD_NAMES, secret=secret, qr=qr_svg(totp_uri(secret, user.login)), error=None)
    if method in ("sms", "email"):
        return page(request, "account_second_factor.html", step="confirm", method=method, forced=forced,
                    names=METHOD_NAMES, error=None)
    return _choose_page(request, user, forced)


@access("partial")
async def choose(request: Request):
    """Start enrolling a method: a pending TOTP secret, or a first code sent by SMS or email. On /account (not at a
    forced enrolment, where the password was just typed) the current password first: a stolen session alone cannot
    replace the second factor."""
    (user, forced), elsewhere = await _enrolling(request)
    if elsewhere:
        return elsewhere
    form = await request.form()
    method = str(form.get("method", ""))
    if method not in METHOD_NAMES:
        return _choose_page(request, user, forced, 400, "Choisissez une méthode.")
    refusal = None if forced else await password_refusal(request, form)
    if refusal:
        return _choose_page(request, user, forced, 400, refusal)
    if method == "totp":
        await run_in_threadpool(start_totp, engine_of(request), user.id)
    else:
        try:
            await run_in_threadpool(send_login_code, request, user, method)
        except NotifyError as error:
            return _choose_page(request, user, forced, 400, str(error))
    await run_in_threadpool(audit, request, "second_factor_enrol_start", user.login, method, user=user)
    return see_other(f"/account/second-factor?method={method}")


@access("partial")
async def confirm(request: Request):
    """The first code confirms the method; then the ten recovery codes, shown this once."""
    (user, forced), elsewhere = await _enrolling(request)
    if elsewhere:
        return elsewhere
    form = await request.form()
    method, code = str(form.get("method", "")), str(form.get("code", "")).strip()
    engine = engine_of(request)
    if method == "totp":
        good = await run_in_threadpool(confirm_totp, engine, user.id, code)
    elif method in ("sms", "email"):
        good = await run_in_threadpool(confirm_channel, engine, user.id, method, code)
    else:
        return see_other("/account/second-factor")
    if not good:
        await run_in_threadpool(note_failure, engine, user.id)
        await run_in_threadpool(audit, request, "second_factor_enrol_failed", user.login, method, user=user)
        secret = await run_in_threadpool(pending_totp, engine, user.id) if method == "totp" else None
        return page(request, "account_second_factor.html", status_code=400, step="confirm", method=method,
                    forced=forced, names=METHOD_NAMES, secret=secret,
                    qr=qr_svg(totp_uri(secret, user.login)) if secret else None,
                    error="Code incorrect ou expiré : réessayez.")
    codes = await run_in_threadpool(new_recovery_codes, engine, user.id)
    await run_in_threadpool(audit, request, "second_factor_enrolled", user.login, method, user=user)
    answer = page(request, "account_recovery_codes.html", codes=codes, forced=forced,
                  target=next_path(form.get("next")) if forced else "/account")
    if forced:  # the enrolment was the last step of the login: a full session on a new key
        fresh = await run_in_threadpool(get_user, engine, user.id)
        opened = await open_full(request, fresh, "/", "second factor enrolled")
        for value in opened.headers.getlist("set-cookie"):
            answer.headers.append("set-cookie", value)
    return answer


routes = [
    Route("/account/second-factor", choose_form, methods=["GET"]),
    Route("/account/second-factor", choose, methods=["POST"]),
    Route("/account/second-factor/confirm", confirm, methods=["POST"]),
]
