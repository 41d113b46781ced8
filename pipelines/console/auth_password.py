"""USER-3, the forgotten password: the identifier → a first email with a temporary password (30 minutes, beside the
user's own password, which keeps working until a new one is chosen: asking for someone else's reset locks nobody
out) and a second with an activation code (30 minutes, single use). Logging in with the temporary password
opens only `/password/new`, where the code and a new password end the reset; then the second factor as usual."""

from __future__ import annotations

from functools import partial

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console.auth_steps import after_password
from pipelines.console.notify import NotifyError, send_email
from pipelines.console.web import access, audit, engine_of, page, see_other
from pipelines.store.second_factor import CODE_MINUTES, check_code, issue_code
from pipelines.store.users import (
    TEMPORARY_MINUTES, as_user, find_login, get_user, hash_password, note_failure, offer_temporary_password,
    password_problems, set_password, temporary_password)

SENT = ("Si cet identifiant correspond à un compte actif, deux emails viennent de lui être envoyés : le premier "
        "contient un mot de passe temporaire, le second un code d'activation. Connectez-vous avec le mot de passe "
        "temporaire, puis saisissez le code et choisissez votre nouveau mot de passe.")


@access("public")
async def forgot_form(request: Request):
    return page(request, "password_forgot.html", login="", sent=None)


def _reset(request: Request, login_name: str):
    """The temporary password and the activation code for `login_name`: (the user, a function that sends them by
    two emails), or (None, None) for an unknown or deactivated login, or when this login was sent some less than a
    minute ago (USER-3: no mail flooding). Every case costs one password hash, and the mails go after the answer,
    so the answer's time says nothing about the login."""
    engine = engine_of(request)
    with engine.connect() as connection:
        row = find_login(connection, login_name)
    if row is None or not row.active:
        hash_password(temporary_password())
        return None, None
    password = offer_temporary_password(engine, row.id)
    if password is None:
        return as_user(row), None
    code = issue_code(engine, row.id, "activation")
    user = get_user(engine, row.id)
    return user, partial(_send_reset, request, user, password, code)


def _send_reset(request: Request, user, password: str, code: str) -> None:
    """The two emails of a forgotten password (after the answer: an SMTP relay may take its time)."""
    settings, bucket = request.app.state.settings, request.app.state.bucket
    try:
        send_email(settings, user.email, "Votre mot de passe temporaire smsflow",
                   f"Bonjour,\n\nVoici votre mot de passe temporaire smsflow : {password}\n\nIl est valable "
                   f"{TEMPORARY_MINUTES} minutes ; votre mot de passe actuel reste valable tant que vous n'en avez "
                   f"pas choisi un nouveau. Connectez-vous avec lui : un second email vous donne le code d'activation "
                   f"pour choisir votre nouveau mot de passe.\n", bucket=bucket)
        send_email(settings, user.email, "Votre code d'activation smsflow",
                   f"Bonjour,\n\nVotre code d'activation smsflow est : {code}\nIl est valable "
                   f"{CODE_MINUTES['activation']} minutes et ne sert qu'une fois.\n", bucket=bucket)
    except NotifyError as error:
        audit(request, "password_forgot_send_failed", user.login, str(error), user=user)


@access("public")
async def forgot(request: Request):
    """Whatever the identifier, the same answer in the same time (no account enumeration); the mails are sent
    after it, in the background."""
    form = await request.form()
    login_name = str(form.get("login", "")).strip()[:254]
    user, send = await run_in_threadpool(_reset, request, login_name) if login_name else (None, None)
    await run_in_threadpool(audit, request, "password_forgot", login_name, user=user, actor=login_name.lower())
    response = page(request, "password_forgot.html", login="", sent=SENT)
    if send is not None:
        response.background = BackgroundTask(send)  # a plain function: run in a thread
    return response


def _activation(request: Request):
    session = request.scope["console_session"]
    if session.stage != "activation":
        return None, see_other("/" if session.stage == "full" else "/login/second-factor")
    return session.user, None


@access("partial")
async def new_form(request: Request):
    user, elsewhere = _activation(request)
    return elsewhere or page(request, "password_new.html", errors=[])


def _finish(engine, user_id: int, code: str, password: str) -> str | None:
    """The code, then the new password; every session of the user ends (`set_password`). None, or what went
    wrong."""
    if not check_code(engine, user_id, "activation", code):
        note_failure(engine, user_id)
        return "Code d'activation incorrect, expiré ou déjà utilisé."
    set_password(engine, user_id, password)
    return None


@access("partial")
async def new_password(request: Request):
    """USER-3: the activation code and the new password (twice, USER-1 policy)."""
    user, elsewhere = _activation(request)
    if elsewhere:
        return elsewhere
    form = await request.form()
    code, password, again = (str(form.get(name, "")) for name in ("code", "password", "password_again"))
    errors = [f"Le mot de passe doit contenir {problem}." for problem in password_problems(password)]
    if password != again:
        errors.append("Les deux mots de passe ne sont pas identiques.")
    if not errors:
        problem = await run_in_threadpool(_finish, engine_of(request), user.id, code.strip(), password)
        errors = [problem] if problem else []
    if errors:
        await run_in_threadpool(audit, request, "password_reset_refused", user.login, "; ".join(errors), user=user)
        return page(request, "password_new.html", status_code=400, errors=errors)
    await run_in_threadpool(audit, request, "password_reset", user.login, user=user)
    fresh = await run_in_threadpool(get_user, engine_of(request), user.id)
    return await after_password(request, fresh, "/")


routes = [
    Route("/password/forgot", forgot_form, methods=["GET"]),
    Route("/password/forgot", forgot, methods=["POST"]),
    Route("/password/new", new_form, methods=["GET"]),
    Route("/password/new", new_password, methods=["POST"]),
]
