"""The extranet's campaigns (CAMP-3, CAMP-4): the list, the form that creates and edits a draft or a scheduled
campaign, its page, and duplicate, cancel, delete — each through `pipelines.store.campaigns`, as
`smsflow campaigns` does (one library, two faces). Another account's campaign is never found (ACC-3).
"""

from __future__ import annotations

from datetime import datetime

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console import counter
from pipelines.console.campaign_form import conf_from_form, field_views, has_links, problems_by_field, sections, \
    spec_of, tracking_open, values_of_spec
from pipelines.console.campaign_lists import choose, file_ref, shown_file, spec_files
from pipelines.console.web import (
    account_id, audit, campaign_of, engine_of, flash_url, page, page_number, paris_time, person, see_other,
)
from pipelines.spec import SpecError
from pipelines.store import campaigns as store, get_account
from pipelines.store.campaigns import EDITABLE, STATUSES, CampaignError

PAGE_SIZE = 50
STATUS_WORDS = {"draft": "Brouillon", "scheduled": "Programmée", "running": "En cours", "finished": "Terminée",
                "cancelled": "Annulée"}
TYPE_WORDS = {"marketing": "Marketing", "notification": "Notification"}
NEW_MESSAGE = "\nSTOP 36184"  # MSG-2: the opt-out mention is pre-filled
_DAYS = {"Mon": "lun.", "Tue": "mar.", "Wed": "mer.", "Thu": "jeu.", "Fri": "ven.", "Sat": "sam.", "Sun": "dim."}


paris = paris_time  # the templates' name for it (the dashboard's too)


def send_time(campaign: store.Campaign) -> datetime | None:
    """The campaign's send time (SEND-1): the store keeps it in UTC, shown in Paris time by `paris`."""
    return campaign.send_at


def window_in_french(policy: str | None) -> str:
    """SEND-2's legal window (`pipelines.run_page.window_words`) said in French."""
    from pipelines.run_page import window_words

    words = window_words(policy)
    for english, french in _DAYS.items():
        words = words.replace(english, french)
    return words.replace(" in each recipient's own time, never on public holidays",
                         ", à l'heure de chaque destinataire, jamais les jours fériés")


async def _campaign(request: Request) -> store.Campaign:
    """The campaign of the path, within the person's account, or 404 (ACC-3: another account's is as absent)."""
    return await run_in_threadpool(campaign_of, request)


def _listing(request: Request, status: str | None, search: str, number: int) -> dict:
    """The list page's context (blocking: the store, each shown campaign's spec for its send time)."""
    found = store.list_campaigns(engine_of(request), account_id(request), status, search or None)
    pages = max((len(found) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    number = min(number, pages)
    shown = found[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
    return {"campaigns": shown, "total": len(found), "page_number": number, "pages": pages,
            "send_times": {campaign.id: send_time(campaign) for campaign in shown}}


async def campaign_list(request: Request):
    """GET /campaigns: CAMP-4's list, searched by name and filtered by status, newest first."""
    search = (request.query_params.get("q") or "").strip()
    status = request.query_params.get("status") or None
    status = status if status in STATUSES else None
    context = await run_in_threadpool(_listing, request, status, search, page_number(request))
    return page(request, "campaigns_list.html", search=search, status=status, words=STATUS_WORDS, types=TYPE_WORDS,
                paris=paris, **context)


def _form_context(request: Request, values: dict) -> dict:
    """What the form shows beside the values (blocking: the account, its saved lists, the files' names)."""
    from pipelines.store.lists import list_lists

    engine, account, bucket = engine_of(request), account_id(request), request.app.state.bucket
    settings = get_account(engine, account)
    message = values.get("message") or ""
    return {"account": settings, "saved": list_lists(engine, account),
            "files": [(file_ref(bucket, account, path), shown_file(bucket, account, path))
                      for path in values.get("lists") or []],
            "window": window_in_french(values.get("send_window") or settings.send_window),
            "has_links": has_links(message), "tracking_open": tracking_open(values, message)}


async def _form_page(request: Request, values: dict, *, campaign: store.Campaign | None = None,
                     errors: dict | None = None, status_code: int = 200, preview=None, upload: str | None = None,
                     refusal: str | None = None, notice: str | None = None):
    """The create/edit form with `values`, the problems by field, and an upload's preview."""
    context = await run_in_threadpool(_form_context, request, values)
    return page(request, "campaigns_form.html", status_code=status_code, campaign=campaign,
                fields=field_views(values, errors), sections=sections(), errors=errors or {},
                chosen_saved=values.get("saved_lists") or [], recipients=values.get("recipients") or "",
                preview=preview, upload=upload, refusal=refusal, notice=notice, **context)


async def new_form(request: Request):
    """GET /campaigns/new: an empty form, the STOP mention pre-filled (MSG-2)."""
    return await _form_page(request, {"message": NEW_MESSAGE})


async def edit_form(request: Request):
    """GET /campaigns/{id}/edit: the form with the stored spec (drafts and scheduled campaigns, CAMP-3)."""
    campaign = await _campaign(request)
    if campaign.status not in EDITABLE:
        return see_other(flash_url(f"/campaigns/{campaign.id}", "Seuls les brouillons et les campagnes programmées "
                                                                 "se modifient : dupliquez-la (CAMP-3)."))
    values = await run_in_threadpool(lambda: values_of_spec(yaml.safe_load(campaign.spec) or {}))
    return await _form_page(request, values, campaign=campaign)


def _posted_values(form, files: list[str]) -> dict:
    """The posted form as the form's values again (a refused or previewed form keeps what was typed)."""
    values = conf_from_form(form)
    values.update(lists=files, saved_lists=form.getlist("saved_lists"), recipients=form.get("recipients") or "",
                  send_at=form.get("send_at") or None)
    return values


async def _submit(request: Request, campaign: store.Campaign | None = None):
    """POST of the form: an upload is saved and previewed first (the form comes back with it); otherwise the spec
    is created or replaced through the store, its problems shown by their fields."""
    from pipelines.console.uploads import UploadError, preview, save_upload, upload_ref

    engine, account, bucket = engine_of(request), account_id(request), request.app.state.bucket
    async with request.form(max_files=1, max_fields=300) as form:
        kept = await run_in_threadpool(spec_files, campaign.spec if campaign else None)
        chosen = await run_in_threadpool(choose, engine, bucket, account, form, kept, False)
        values = _posted_values(form, chosen.files)
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            try:
                path = await run_in_threadpool(save_upload, bucket, account, upload)
            except UploadError as error:
                return await _form_page(request, values, campaign=campaign, refusal=str(error),
                                        status_code=error.status)
            shown = await run_in_threadpool(preview, path)
            return await _form_page(request, values, campaign=campaign, preview=shown,
                                    upload=upload_ref(bucket, account, path),
                                    notice="Vérifiez l'aperçu de la liste, puis enregistrez la campagne.")
        spec = spec_of(conf_from_form(form), chosen.files)
    try:
        if campaign is None:
            saved = await run_in_threadpool(store.create, engine, spec, account, source="formulaire")
        else:
            saved = await run_in_threadpool(store.edit, engine, campaign.id, spec, account, source="formulaire")
    except SpecError as error:
        return await _form_page(request, values, campaign=campaign, errors=problems_by_field(error),
                                status_code=400)
    except CampaignError as error:
        return await _form_page(request, values, campaign=campaign, errors={"": [str(error)]}, status_code=409)
    await run_in_threadpool(audit, request, "campaign.create" if campaign is None else "campaign.edit", saved.id,
                            saved.name)
    done = "Brouillon enregistré." if campaign is None else "Campagne modifiée."
    return see_other(flash_url(f"/campaigns/{saved.id}", done))


async def create(request: Request):
    """POST /campaigns/new: a new draft (CAMP-3), as `smsflow campaigns create` makes it."""
    return await _submit(request)


async def edit(request: Request):
    """POST /campaigns/{id}/edit: the spec replaced (CAMP-3), as `smsflow campaigns edit` does."""
    campaign = await _campaign(request)
    if campaign.status not in EDITABLE:
        raise _refusal(campaign)
    return await _submit(request, campaign)


def _refusal(campaign: store.Campaign):
    from starlette.exceptions import HTTPException

    return HTTPException(409, f"La campagne est {STATUS_WORDS[campaign.status].lower()} : elle ne se modifie plus "
                              "(CAMP-3).")


def _show_context(request: Request, campaign: store.Campaign) -> dict:
    """The campaign page's context (blocking: its events, its spec's YAML, its files' names, the account)."""
    events = store.events(engine_of(request), campaign.id)
    spec = yaml.safe_load(campaign.spec) or {}
    bucket, account = request.app.state.bucket, account_id(request)
    files = [shown_file(bucket, account, item) for item in spec.get("lists") or [] if isinstance(item, str)]
    saved = [item["saved"] + (f" (version {item['version']})" if item.get("version") else "")
             for item in spec.get("lists") or [] if isinstance(item, dict)]
    settings = get_account(engine_of(request), account)
    narrowed = (spec.get("account") or {}).get("send_window") if isinstance(spec.get("account"), dict) else None
    return {"spec": spec, "events": events, "files": files, "saved": saved, "send_at": send_time(campaign),
            "window": window_in_french(narrowed or settings.send_window)}


async def show(request: Request):
    """GET /campaigns/{id}: the spec in short, the status, the lifecycle's events, the actions it allows."""
    campaign = await _campaign(request)
    context = await run_in_threadpool(_show_context, request, campaign)
    return page(request, "campaigns_show.html", campaign=campaign, words=STATUS_WORDS, types=TYPE_WORDS,
                paris=paris, editable=campaign.status in EDITABLE, **context)


async def duplicate(request: Request):
    """POST /campaigns/{id}/duplicate: a new draft copied from any campaign (CAMP-3)."""
    campaign = await _campaign(request)
    copy = await run_in_threadpool(store.duplicate, engine_of(request), campaign.id, account_id(request))
    await run_in_threadpool(audit, request, "campaign.duplicate", copy.id, f"from {campaign.id}")
    return see_other(flash_url(f"/campaigns/{copy.id}", "Campagne dupliquée : voici la copie, en brouillon."))


async def cancel(request: Request):
    """POST /campaigns/{id}/cancel: a scheduled campaign never sends, a running one stops at its next batch."""
    campaign = await _campaign(request)
    try:
        done = await run_in_threadpool(store.cancel, engine_of(request), campaign.id, account_id(request),
                                       by=person(request).login)
    except CampaignError as error:
        return see_other(flash_url(f"/campaigns/{campaign.id}", f"Annulation refusée : {error}"))
    await run_in_threadpool(audit, request, "campaign.cancel", campaign.id, done.outcome)
    said = ("Campagne annulée : elle n'enverra rien." if done.outcome == "cancelled"
            else "Annulation demandée : l'envoi s'arrête avant son prochain lot.")
    return see_other(flash_url(f"/campaigns/{campaign.id}", said))


async def delete(request: Request):
    """POST /campaigns/{id}/delete: drafts only (CAMP-3); others are cancelled, never erased."""
    campaign = await _campaign(request)
    try:
        await run_in_threadpool(store.delete, engine_of(request), campaign.id, account_id(request))
    except CampaignError as error:
        return see_other(flash_url(f"/campaigns/{campaign.id}", f"Suppression refusée : {error}"))
    await run_in_threadpool(audit, request, "campaign.delete", campaign.id, campaign.name)
    return see_other(flash_url("/campaigns", f"Brouillon « {campaign.name} » supprimé."))


routes = counter.routes + [
    Route("/campaigns", campaign_list, methods=["GET"]),
    Route("/campaigns/new", new_form, methods=["GET"]),
    Route("/campaigns/new", create, methods=["POST"]),
    Route("/campaigns/{campaign_id}", show, methods=["GET"]),
    Route("/campaigns/{campaign_id}/edit", edit_form, methods=["GET"]),
    Route("/campaigns/{campaign_id}/edit", edit, methods=["POST"]),
    Route("/campaigns/{campaign_id}/duplicate", duplicate, methods=["POST"]),
    Route("/campaigns/{campaign_id}/cancel", cancel, methods=["POST"]),
    Route("/campaigns/{campaign_id}/delete", delete, methods=["POST"]),
]
