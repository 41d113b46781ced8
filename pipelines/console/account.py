"""« Mon compte » (/account, USER-1, USER-2): who I am, my password, my second factor and its recovery codes, the
browsers I trust, and logging out of every device. Enrolling a second factor is in `account_second_factor`."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console import account_second_factor
from pipelines.console.account_second_factor import METHOD_NAMES, password_refusal
from pipelines.console.auth_steps import switch_session
from pipelines.console.guard import COOKIE
from pipelines.console.sessions import close_all
from pipelines.console.web import audit, engine_of, flash_url, page, person, see_other
from pipelines.store.second_factor import (
    forget_devices, list_devices, new_recovery_codes, recovery_codes_left, required_for)
from pipelines.store.users import UserError, password_problems, update_user_password


def _account_page(request: Request, status_code: int = 200, errors: list[str] | None = None):
    user, engine = person(request), engine_of(request)
    return page(request, "account.html", status_code=status_code, me=user, errors=errors or [],
                method=METHOD_NAMES.get(user.second_factor or ""),
                required=required_for(engine, user.account_id),
                recovery_left=recovery_codes_left(engine, user.id) if user.second_factor else 0,
                devices=list_devices(engine, user.id))


async def show(request: Request):
    return await run_in_threadpool(_account_page, request)


async def change_password(request: Request):
    """USER-1: the current password, then the new one twice; the person's other sessions end."""
    user, engine = person(request), engine_of(request)
    form = await request.form()
    current, new, again = (str(form.get(name, "")) for name in ("current", "password", "password_again"))
    errors = [f"Le nouveau mot de passe doit contenir {problem}." for problem in password_problems(new)]
    if new != again:
        errors.append("Les deux nouveaux mots de passe ne sont pas identiques.")
    if not errors:
        try:
            await run_in_threadpool(update_user_password, engine, user.id, current, new)
        except UserError:
            errors.append("Le mot de passe actuel est incorrect.")
    if errors:
        await run_in_threadpool(audit, request, "password_change_refused", user.login, "; ".join(errors))
        return await run_in_threadpool(_account_page, request, 400, errors)
    await run_in_threadpool(close_all, engine, user.id)
    await run_in_threadpool(audit, request, "password_change", user.login)
    return await switch_session(request, user, "full",
                                flash_url("/account", "Mot de passe modifié ; vos autres sessions sont fermées."))


async def logout_everywhere(request: Request):
    """« Déconnexion de tous les appareils »: every session of this person ends, this one too."""
    user = person(request)
    await run_in_threadpool(close_all, engine_of(request), user.id)
    await run_in_threadpool(audit, request, "logout_everywhere", user.login)
    response = see_other("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


async def recovery_codes(request: Request):
    """Ten new recovery codes (the earlier ones stop working), shown this once; the current password first."""
    user = person(request)
    if not user.second_factor:
        return see_other("/account/second-factor")
    refusal = await password_refusal(request, await request.form())
    if refusal:
        return await run_in_threadpool(_account_page, request, 400, [refusal])
    codes = await run_in_threadpool(new_recovery_codes, engine_of(request), user.id)
    await run_in_threadpool(audit, request, "recovery_codes_renewed", user.login)
    return page(request, "account_recovery_codes.html", codes=codes, forced=False, target="/account")


async def forget_device(request: Request):
    """Forget one trusted browser (`device`), or all of them (no `device`): they will be asked the second factor
    again. A `device` that is no store id ("²", "-1", 2**63) is a 400, never all of them nor a 500."""
    user = person(request)
    device = str((await request.form()).get("device", "")).strip()
    if device and not (device.isascii() and device.isdigit() and int(device) < 2 ** 63):
        return await run_in_threadpool(_account_page, request, 400, ["Appareil inconnu."])
    count = await run_in_threadpool(forget_devices, engine_of(request), user.id, int(device) if device else None)
    await run_in_threadpool(audit, request, "device_forgotten", user.login, device or "all")
    return see_other(flash_url("/account", f"Appareils oubliés : {count}."))


routes = [
    Route("/account", show, methods=["GET"]),
    Route("/account/password", change_password, methods=["POST"]),
    Route("/account/logout-everywhere", logout_everywhere, methods=["POST"]),
    Route("/account/recovery-codes", recovery_codes, methods=["POST"]),
    Route("/account/devices/forget", forget_device, methods=["POST"]),
] + account_second_factor.routes
