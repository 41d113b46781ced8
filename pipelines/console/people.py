"""The extranet's people pages (issue 14, USER-2, USER-4): an account's administrators add users (who get a
temporary password by email), change their details and role, activate or deactivate their login, reset their
second factor and may require one for the whole account; `/audit` lists every action taken in the account.

Only administrators (and the platform's superadmins) reach these pages: a user of role `user` gets 403, a user id of
another account 404 (ACC-3). Every change is audited. The work is done by `pipelines.store.people`, which
`smsflow users` shares.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console.notify import NotifyError, send_email
from pipelines.console.web import (
    audit, engine_of, flash_url, not_found, page, page_number, paris_time, person, require_admin, see_other,
)
from pipelines.store import people as store
from pipelines.store.second_factor import required_for
from pipelines.store.users import ROLES, User, UserError, get_user, list_users

ROLE_LABELS = {"admin": "Administrateur", "user": "Utilisateur"}
FACTOR_LABELS = {"totp": "Application", "sms": "SMS", "email": "E-mail", None: "Aucune"}
# The audit's actions in people's words (an action not named here shows as recorded).
ACTION_LABELS = {
    "login": "Connexion", "login_failed": "Connexion refusée", "login_locked": "Connexion bloquée",
    "login_password": "Mot de passe accepté", "login_temporary": "Connexion avec un mot de passe temporaire",
    "logout": "Déconnexion", "logout_everywhere": "Déconnexion partout",
    "password_change": "Mot de passe changé", "password_change_refused": "Changement de mot de passe refusé",
    "password_forgot": "Mot de passe oublié", "password_reset": "Nouveau mot de passe choisi",
    "password_reset_refused": "Nouveau mot de passe refusé",
    "second_factor_code_sent": "Code de connexion envoyé", "second_factor_failed": "Code de connexion refusé",
    "second_factor_enrolled": "Double authentification configurée", "device_trusted": "Appareil de confiance",
    "device_forgotten": "Appareil de confiance oublié", "recovery_codes_renewed": "Codes de secours renouvelés",
    "user.add": "Utilisateur ajouté", "user.update": "Coordonnées modifiées", "user.role": "Rôle changé",
    "user.activate": "Accès activé", "user.deactivate": "Accès désactivé",
    "user.temporary_password": "Mot de passe temporaire envoyé",
    "user.second_factor_reset": "Double authentification réinitialisée", "user.password": "Mot de passe défini",
    "account.require_second_factor": "Double authentification exigée (réglage)",
    "campaign.create": "Campagne créée", "campaign.duplicate": "Campagne dupliquée",
    "campaign.cancel": "Campagne annulée", "campaign.delete": "Campagne supprimée",
    "campaign.send": "Campagne envoyée", "list.import": "Liste importée", "list.delete": "Liste supprimée",
    "report.download": "Rapport téléchargé",
}
NEW_USER_FIELDS = ("email", "login", "role", "first_name", "last_name", "mobile")


def when(moment) -> str:
    """A stored instant as Paris time, to the second (`web.paris_time`: a naive one is UTC); none is a dash."""
    return paris_time(moment, "%d/%m/%Y %H:%M:%S") or "—"


def send_access(request: Request, user: User, password: str, code: str, *, welcome: bool) -> None:
    """USER-3, USER-4: the temporary password and the activation code its first login asks for, in two emails (as
    a forgotten password's); the password never shows on a page."""
    from pipelines.store.second_factor import CODE_MINUTES

    settings, bucket = request.app.state.settings, request.app.state.bucket
    opening = ("un accès à l'extranet smsflow vient de vous être ouvert" if welcome
               else "votre administrateur vous a donné un nouveau mot de passe temporaire smsflow")
    send_email(settings, user.email, "Votre accès à smsflow" if welcome else "Votre mot de passe temporaire smsflow",
               f"Bonjour {user.name},\n\n{opening}.\n\nIdentifiant : {user.login}\n"
               f"Mot de passe temporaire : {password}\n\nConnectez-vous avec lui : un second email vous donne le code "
               f"d'activation pour choisir votre propre mot de passe.\n", bucket=bucket)
    send_email(settings, user.email, "Votre code d'activation smsflow",
               f"Bonjour,\n\nVotre code d'activation smsflow est : {code}\nIl est valable "
               f"{CODE_MINUTES['activation']} minutes et ne sert qu'une fois. Passé ce délai, « Mot de passe oublié » "
               f"sur la page de connexion vous en envoie un nouveau.\n", bucket=bucket)


def in_french(refused: UserError) -> str:
    """A store refusal in the page's words (the store speaks the CLI's English, with the rule id)."""
    text = str(refused)
    if isinstance(refused, store.LastAdminError):
        return ("Le compte doit garder au moins un administrateur actif : nommez d'abord un autre administrateur "
                "(USER-4).")
    if "already taken" in text:
        return "Cet identifiant est déjà pris par un autre utilisateur (USER-4)."
    if text.startswith("email:"):
        return "Adresse e-mail invalide (USER-4)."
    if text.startswith("mobile:"):
        return "Numéro de mobile invalide : il reçoit les codes de connexion par SMS (USER-4)."
    if text.startswith("no account"):
        return "Compte introuvable."
    return text


def _target(request: Request, user_id: int) -> User:
    """The account's user `user_id`; another account's is as absent as a missing one (ACC-3), and so is an id no
    store integer holds."""
    if not 0 < user_id < 2**63:
        raise not_found("Utilisateur introuvable")
    try:
        return get_user(engine_of(request), user_id, person(request).account_id)
    except UserError:
        raise not_found("Utilisateur introuvable") from None


def _may_change(request: Request, target: User) -> None:
    """Only a platform superadmin changes a superadmin."""
    from starlette.exceptions import HTTPException

    if target.superadmin and not person(request).superadmin:
        raise HTTPException(403, "Seul un administrateur de la plateforme modifie cet utilisateur")


def _users_page(request: Request, *, status_code: int = 200, error: str | None = None, form: dict | None = None):
    me = person(request)
    engine = engine_of(request)
    return page(request, "users_list.html", status_code=status_code, people=list_users(engine, me.account_id),
                required=required_for(engine, me.account_id), error=error,
                form=form or {"role": "user"}, roles=ROLE_LABELS, factors=FACTOR_LABELS, when=when)


async def users_list(request: Request):
    require_admin(request)
    return await run_in_threadpool(_users_page, request)


async def users_add(request: Request):
    """USER-4: a new user of the account; they get a temporary password by email."""
    require_admin(request)
    form = await request.form()
    values = {name: str(form.get(name, "")).strip() for name in NEW_USER_FIELDS}
    if values["role"] not in ROLES:
        values["role"] = "user"

    def add():
        user, password, code = store.add_person(
            engine_of(request), person(request).account_id, values["email"], role=values["role"],
            login=values["login"] or None, first_name=values["first_name"], last_name=values["last_name"],
            mobile=values["mobile"] or None)
        audit(request, "user.add", user.login, f"role={user.role}")
        try:
            send_access(request, user, password, code, welcome=True)
        except NotifyError as failed:
            return user, str(failed)
        return user, None

    try:
        user, unsent = await run_in_threadpool(add)
    except UserError as refused:
        await run_in_threadpool(audit, request, "user.add.refused", values["login"] or values["email"], str(refused))
        return await run_in_threadpool(_users_page, request, status_code=400, error=in_french(refused), form=values)
    if unsent:
        return _user_page(request, user, error=f"Utilisateur {user.login} ajouté, mais {unsent[0].lower()}"
                                               f"{unsent[1:]} Envoyez-lui un nouveau mot de passe temporaire une "
                                               f"fois l'envoi rétabli.")
    return see_other(flash_url(f"/users/{user.id}", f"Utilisateur {user.login} ajouté : son mot de passe "
                                                    f"temporaire et son code d'activation lui ont été envoyés par "
                                                    f"e-mail."))


async def require_second_factor(request: Request):
    """USER-2: the account requires (or no longer requires) a second factor of every user."""
    require_admin(request)
    form = await request.form()
    required = form.get("required") == "1"

    def change():
        store.require_second_factor(engine_of(request), person(request).account_id, required)
        audit(request, "account.require_second_factor", person(request).account_id, "on" if required else "off")

    await run_in_threadpool(change)
    message = ("Double authentification exigée pour tous les utilisateurs." if required
               else "Double authentification laissée au choix de chacun.")
    return see_other(flash_url("/users", message))


def _user_page(request: Request, target: User, *, status_code: int = 200, error: str | None = None):
    return page(request, "users_show.html", status_code=status_code, person=target, error=error,
                roles=ROLE_LABELS, factors=FACTOR_LABELS, when=when, myself=target.id == person(request).id)


async def users_show(request: Request):
    require_admin(request)
    target = await run_in_threadpool(_target, request, request.path_params["user_id"])
    return _user_page(request, target)


async def _change(request: Request, action: str, change, done: str):
    """Run `change(engine, user_id, account_id)` on the account's user of the path, audit it, and come back to the
    user's page (a refusal, such as the last admin's, is shown there)."""
    require_admin(request)
    target = await run_in_threadpool(_target, request, request.path_params["user_id"])
    _may_change(request, target)

    def run():
        changed, detail = change(engine_of(request), target.id, person(request).account_id)
        audit(request, action, changed.login, detail)
        return changed

    try:
        changed = await run_in_threadpool(run)
    except UserError as refused:
        await run_in_threadpool(audit, request, f"{action}.refused", target.login, str(refused))
        return _user_page(request, target, status_code=409, error=in_french(refused))
    no_longer_admin = changed.id == person(request).id and not (changed.admin and changed.active)
    return see_other(flash_url("/" if no_longer_admin else f"/users/{target.id}", done))


async def users_update(request: Request):
    """USER-4: a user's name, email and mobile."""
    form = await request.form()
    fields = {name: str(form.get(name, "")) for name in ("email", "first_name", "last_name", "mobile")}

    def change(engine, user_id, account):
        before = get_user(engine, user_id, account)
        after = store.update_person(engine, user_id, account_id=account, **fields)
        return after, ", ".join(name for name in fields if getattr(before, name) != getattr(after, name)) or None

    return await _change(request, "user.update", change, "Coordonnées enregistrées.")


async def users_active(request: Request):
    """USER-4: activate or deactivate a login (a deactivated user is logged out at once)."""
    form = await request.form()
    active = form.get("active") == "1"

    def change(engine, user_id, account):
        return store.set_active(engine, user_id, active, account_id=account), None

    return await _change(request, "user.activate" if active else "user.deactivate", change,
                         "Accès activé." if active else "Accès désactivé : ses sessions sont terminées.")


async def users_role(request: Request):
    """USER-4: administrator or user."""
    form = await request.form()
    role = str(form.get("role", ""))

    def change(engine, user_id, account):
        return store.set_role(engine, user_id, role, account_id=account), f"role={role}"

    return await _change(request, "user.role", change, f"Rôle : {ROLE_LABELS.get(role, role)}.")


async def users_reset_second_factor(request: Request):
    """USER-2: the user's second factor, recovery codes and trusted devices are cleared; they enrol again."""

    def change(engine, user_id, account):
        return store.reset_second_factor(engine, user_id, account_id=account), None

    return await _change(request, "user.second_factor_reset", change,
                         "Double authentification réinitialisée : elle sera à configurer à la prochaine connexion.")


async def users_temporary_password(request: Request):
    """USER-3 for someone else: a new temporary password and activation code by email; their sessions end."""
    require_admin(request)
    target = await run_in_threadpool(_target, request, request.path_params["user_id"])
    _may_change(request, target)

    def give():
        user, password, code = store.give_temporary_password(engine_of(request), target.id,
                                                             account_id=person(request).account_id)
        audit(request, "user.temporary_password", user.login)
        send_access(request, user, password, code, welcome=False)

    try:
        await run_in_threadpool(give)
    except NotifyError as failed:
        return _user_page(request, target, status_code=502, error=str(failed))
    return see_other(flash_url(f"/users/{target.id}", "Nouveau mot de passe temporaire et code d'activation "
                                                      "envoyés par e-mail ; ses sessions sont terminées."))


def _audit_page(request: Request):
    me = person(request)
    query = request.query_params
    action, actor, search = (query.get(name, "").strip() for name in ("action", "who", "q"))
    engine = engine_of(request)

    def entries(number: int) -> store.AuditPage:
        return store.audit_entries(engine, me.account_id, platform=me.superadmin, action=action or None,
                                   actor=actor or None, search=search or None, page=number)

    found = entries(page_number(request))
    if found.page > found.pages:  # past the last page (a hand-typed number): the last one
        found = entries(found.pages)
    actions, actors = store.audit_choices(engine, me.account_id, platform=me.superadmin)
    filters = {name: value for name, value in (("action", action), ("who", actor), ("q", search)) if value}

    def page_url(wanted: int) -> str:
        return "/audit?" + urlencode({**filters, "page": wanted})

    return page(request, "audit.html", labels=ACTION_LABELS, found=found, actions=actions, actors=actors, action=action, actor=actor,
                search=search, when=when, platform=me.superadmin,
                previous=page_url(found.page - 1) if found.page > 1 else None,
                next=page_url(found.page + 1) if found.page < found.pages else None)


async def audit_list(request: Request):
    """The account's audit log, newest first, 50 a page (a superadmin also sees the platform's lines)."""
    require_admin(request)
    return await run_in_threadpool(_audit_page, request)


routes = [
    Route("/users", users_list, methods=["GET"]),
    Route("/users", users_add, methods=["POST"]),
    Route("/users/second-factor", require_second_factor, methods=["POST"]),
    Route("/users/{user_id:int}", users_show, methods=["GET"]),
    Route("/users/{user_id:int}", users_update, methods=["POST"]),
    Route("/users/{user_id:int}/active", users_active, methods=["POST"]),
    Route("/users/{user_id:int}/role", users_role, methods=["POST"]),
    Route("/users/{user_id:int}/password", users_temporary_password, methods=["POST"]),
    Route("/users/{user_id:int}/second-factor/reset", users_reset_second_factor, methods=["POST"]),
    Route("/audit", audit_list, methods=["GET"]),
]
