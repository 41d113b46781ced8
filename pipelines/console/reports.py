"""The extranet's reports (REP-1, REP-2): the account's campaigns that ran, one campaign's figures at a glance with
charts of its statuses and of its deliveries (and clicks) over time, its replies, and the CSV per category.

The figures and the CSV come from the code the CLI runs (`smsflow stats`, `smsflow report`: `pipelines.report`),
on the bucket's warehouse. Another account's campaign is not found, on every route (ACC-3).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

from pipelines.console import charts
from pipelines.console.approval_panel import number
from pipelines.console.reports_data import CATEGORY_WORDS, activity, export, figures
from pipelines.console.web import account_id, audit, campaign_of, engine_of, not_found, page
from pipelines.store import campaigns as store

RAN = ("running", "finished", "cancelled")  # CAMP-3: the statuses a campaign has once its run started sending


def _campaign(request: Request) -> store.Campaign:
    """The campaign of the path in the person's account (ACC-3); another account's or none: absent (404)."""
    return campaign_of(request, what="Rapport introuvable")


def _ran(request: Request) -> list[store.Campaign]:
    return [campaign for campaign in store.list_campaigns(engine_of(request), account_id(request), RAN)
            if campaign.run_id or campaign.figures]


async def list_reports(request: Request):
    """GET /reports: the account's campaigns that ran, newest first, with their REP-1 figures."""
    ran = await run_in_threadpool(_ran, request)
    return page(request, "reports_list.html", campaigns=ran, n=number, rate=_rate)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}".replace(".", ",") + " %"


def _report(request: Request, campaign: store.Campaign) -> dict:
    """The report page's context: REP-1 figures, the two charts, the replies, the CSV categories."""
    bucket = request.app.state.bucket
    stats = figures(bucket, campaign.id) or campaign.figures
    if not stats:
        return {"campaign": campaign, "stats": None}
    (hours, deliveries, clicks), shown, total = activity(bucket, campaign.id)
    present = {status["code"] for status in stats.get("statuses", []) if status.get("recipients")}
    from pipelines.status import STATUSES

    categories = [(key, words) for key, words in CATEGORY_WORDS.items()
                  if key == "all" or any(STATUSES[code].category == key for code in present if code in STATUSES)]
    return {"campaign": campaign, "stats": stats, "status_chart": charts.status_bars(stats.get("statuses", [])),
            "hourly_chart": charts.hourly_chart(hours, deliveries, clicks), "replies": shown,
            "replies_total": total, "categories": categories, "tracked": clicks is not None}


async def show_report(request: Request):
    """GET /reports/{id}: one campaign's report (REP-1)."""
    campaign = await run_in_threadpool(_campaign, request)
    context = await run_in_threadpool(_report, request, campaign)
    return page(request, "reports_show.html", n=number, rate=_rate, **context)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "rapport"


async def download(request: Request):
    """GET /reports/{id}/csv/{category}: REP-2's CSV of one category (or `all`), as an attachment, formulas
    neutralised by the writer the CLI uses; audited."""
    campaign = await run_in_threadpool(_campaign, request)
    category = request.path_params["category"]
    if category not in CATEGORY_WORDS:
        raise not_found("Catégorie inconnue")
    folder = Path(tempfile.mkdtemp(prefix="smsflow-report-"))
    try:
        path = await run_in_threadpool(export, request.app.state.bucket, campaign.id, category, folder)
    except ValueError:
        _remove(folder)
        raise not_found("Rapport introuvable") from None
    await run_in_threadpool(audit, request, "report.download", campaign.id, category)
    name = _safe_name(f"{campaign.id}-{category}") + ".csv"
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=name,
                        content_disposition_type="attachment", background=BackgroundTask(_remove, folder))


def _remove(folder: Path) -> None:
    for item in folder.iterdir():
        item.unlink(missing_ok=True)
    folder.rmdir()


routes = [
    Route("/reports", list_reports, methods=["GET"]),
    Route("/reports/{campaign_id}", show_report, methods=["GET"]),
    Route("/reports/{campaign_id}/csv/{category}", download, methods=["GET"]),
]
