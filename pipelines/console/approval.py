"""Send a campaign from the browser (SEND-3, SEND-4): trigger its Airflow run, follow it, answer its approval.

A saved campaign runs as one run of the `sms_campaign` DAG triggered with `{"campaign_id": id}`: it plans,
reserves the credits, waits for the send time and window, sends the test message, then waits for the approval
(Airflow's HITL). The panel (`/campaigns/{id}/run`, polled by htmx every 2 s while the run moves) says where the run
is; at the approval it shows the SEND-4 summary and the test, and "Confirmer l'envoi" / "Refuser" answer the same
HITL request the data team sees in Airflow, through its REST API. Every action is audited; another account's
campaign is not found (ACC-3).
"""

from __future__ import annotations

import threading
import weakref

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console import airflow
from pipelines.console.approval_panel import approval_body, number, plan_summary, send4, stage, wait_target
from pipelines.console.web import audit, campaign_of, engine_of, flash_url, page, person, see_other
from pipelines.store import campaigns as store

SENDABLE = ("draft",)  # a draft is sent; a scheduled one already has its run (CAMP-3)
# campaign id → its send lock while a send holds it (see _trigger); gone once no send holds it
_SENDING: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_LOCKS_GUARD = threading.Lock()


def _campaign(request: Request) -> store.Campaign:
    """The campaign of the path, in the person's account only (ACC-3: another account's is exactly as absent)."""
    return campaign_of(request)


def _panel_url(campaign: store.Campaign) -> str:
    return f"/campaigns/{campaign.id}/run"


def run_panel(request: Request, campaign: store.Campaign) -> dict:
    """The run panel's context (blocking: Airflow and the plan's files are read): its stage, the run, the SEND-4
    summary when the approval waits, and the message to say when Airflow could not be asked."""
    settings, bucket = request.app.state.settings, request.app.state.bucket
    run, problem = None, None
    if campaign.run_id and airflow.configured(settings):
        try:
            run = airflow.Airflow(settings).run(campaign.run_id)
        except airflow.AirflowUnavailable as error:
            problem = str(error)
    elif campaign.status in ("scheduled", "running") and not airflow.configured(settings):
        problem = "Airflow n'est pas configuré pour cette console : l'avancement de l'envoi n'est pas visible ici."
    waiting = run is not None and run.tasks.get("wait_for_send_time") in ("running", "deferred", "up_for_reschedule")
    now = stage(campaign.status, run, wait_until=wait_target(bucket, campaign.id) if waiting else None)
    summary = plan_summary(bucket, campaign.id) if campaign.run_id else None
    return {"campaign": campaign, "stage": now, "run": run, "problem": problem,
            "summary": send4(summary) if summary is not None else None,
            "pending": run is not None and run.pending is not None,
            "sendable": campaign.status in SENDABLE, "airflow_ready": airflow.configured(settings),
            "approval_body": approval_body, "n": number}


def _show(request: Request, campaign: store.Campaign, context: dict, status_code: int = 200):
    """The panel alone for htmx (its polling swaps it), else a page around it."""
    if request.headers.get("hx-request"):  # htmx swaps no error answer: the problem is in the panel
        return page(request, "campaigns_run_panel.html", **context)
    return page(request, "approval_page.html", status_code=status_code, **context)


async def show_run(request: Request):
    """GET /campaigns/{id}/run: the run panel (htmx: the fragment; a browser: the page)."""
    campaign = await run_in_threadpool(_campaign, request)
    context = await run_in_threadpool(run_panel, request, campaign)
    return _show(request, campaign, context)


def _trigger(request: Request, campaign: store.Campaign) -> str | None:
    """Trigger the run and record it on the campaign: scheduled with its run id, so a second click sends nothing.

    One send at a time per campaign in this process (a double click, two tabs): the second finds it scheduled and
    triggers nothing. None when the campaign is no longer a draft.
    """
    with _LOCKS_GUARD:  # the lock lives as long as a send holds it: the map keeps no campaign once sent
        lock = _SENDING.get(campaign.id)
        if lock is None:
            lock = _SENDING[campaign.id] = threading.Lock()
    with lock:
        if store.get(engine_of(request), campaign.id).status not in SENDABLE:
            return None
        run_id = airflow.Airflow(request.app.state.settings).trigger(campaign.id)
        try:
            store.schedule(engine_of(request), campaign.id, run_id,
                           f"envoyée depuis l'extranet par {person(request).login} (run {run_id})")
        except store.CampaignError:
            pass  # the run's own prepare task got there first, or refuses it, naming why, in the run
        return run_id


async def send(request: Request):
    """POST /campaigns/{id}/send: "Envoyer…" on a draft: its Airflow run starts (CAMP-3, SEND-3), audited."""
    campaign = await run_in_threadpool(_campaign, request)
    try:
        run_id = await run_in_threadpool(_trigger, request, campaign) if campaign.status in SENDABLE else None
    except airflow.AirflowUnavailable as error:
        await run_in_threadpool(audit, request, "campaign.send.refused", campaign.id, str(error))
        context = await run_in_threadpool(run_panel, request, campaign)
        return _show(request, campaign, {**context, "problem": str(error)}, 503)
    if run_id is None:
        return see_other(flash_url(_panel_url(campaign), "Cette campagne n'est plus un brouillon : elle a déjà été "
                                                         "envoyée. Suivez son envoi ci-dessous."))
    await run_in_threadpool(audit, request, "campaign.send", campaign.id, f"run {run_id}")
    return see_other(flash_url(_panel_url(campaign), "Campagne envoyée : planification en cours. Le message de test "
                                                     "part ensuite, puis l'envoi attend votre validation."))


def _answer(request: Request, campaign: store.Campaign, option: str) -> str | None:
    """Answer the run's pending approval with `option`; None when none waits (answered already, or no run)."""
    if not campaign.run_id:
        return None
    api = airflow.Airflow(request.app.state.settings)
    pending = api.pending_approval(campaign.run_id)
    if pending is None:
        return None
    api.answer(campaign.run_id, pending, option)
    words = "test validé, envoi confirmé" if option == airflow.APPROVE else "envoi refusé"
    try:  # CAMP-3: who answered, in the campaign's own audit (Airflow only knows the console's user)
        store.transition(engine_of(request), campaign.id, campaign.status,
                         f"{words} par {person(request).login} depuis l'extranet")
    except store.CampaignError:
        pass  # the campaign moved on meanwhile (cancelled): the answer stands, the audit log has it
    return option


def _answering(option: str):
    async def endpoint(request: Request):
        campaign = await run_in_threadpool(_campaign, request)
        action = "campaign.approve" if option == airflow.APPROVE else "campaign.reject"
        try:
            answered = await run_in_threadpool(_answer, request, campaign, option)
        except airflow.AirflowUnavailable as error:
            await run_in_threadpool(audit, request, f"{action}.failed", campaign.id, str(error))
            context = await run_in_threadpool(run_panel, request, campaign)
            return _show(request, campaign, {**context, "problem": str(error)}, 503)
        if answered is None:
            message = "Aucune validation n'attend de réponse pour cette campagne."
        else:
            await run_in_threadpool(audit, request, action, campaign.id, f"run {campaign.run_id}: {option}")
            message = ("Envoi confirmé : la campagne part." if option == airflow.APPROVE
                       else "Envoi refusé : la campagne est annulée et ses crédits rendus.")
        if request.headers.get("hx-request"):
            context = await run_in_threadpool(run_panel, request, campaign)
            return _show(request, campaign, {**context, "said": message})
        return see_other(flash_url(_panel_url(campaign), message))

    endpoint.__name__ = "approve" if option == airflow.APPROVE else "reject"
    endpoint.__doc__ = f"POST /campaigns/{{id}}/{endpoint.__name__}: the approval answered {option} (SEND-3/4)."
    return endpoint


routes = [
    Route("/campaigns/{campaign_id}/send", send, methods=["POST"]),
    Route("/campaigns/{campaign_id}/run", show_run, methods=["GET"]),
    Route("/campaigns/{campaign_id}/approve", _answering(airflow.APPROVE), methods=["POST"]),
    Route("/campaigns/{campaign_id}/reject", _answering(airflow.REJECT), methods=["POST"]),
]
