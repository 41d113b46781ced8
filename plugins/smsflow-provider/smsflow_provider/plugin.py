"""The campaign's report on its Airflow run page (REP-1, REP-2): a "Campaign report" tab on every run of
sms_campaign, with the figures at a glance and the CSV report and stats to download.

An Airflow plugin (registered by the provider's `get_provider_info`): a small FastAPI app the API server mounts at
`/smsflow`, behind Airflow's own login and DAG-run permissions (the UI's session cookie, or a bearer token), and
an external view that shows it on the run page. The run's campaign is found from its `prepare` task's result
(its id, and the spec it wrote in its folder); with the bucket on S3 ($SMSFLOW_BUCKET=s3://…, issue 13) the report
and figures are read from S3, where the run's finish task put them, not from any worker's disk.

    GET /smsflow/dags/{dag_id}/runs/{run_id}              the page (HTML)
    GET /smsflow/dags/{dag_id}/runs/{run_id}/report.csv   the REP-2 report
    GET /smsflow/dags/{dag_id}/runs/{run_id}/stats.json   the REP-1 figures
"""

from __future__ import annotations

import functools
import html
import json
import os
from pathlib import Path

from airflow.plugins_manager import AirflowPlugin

PREFIX = "/smsflow"


def campaign_root(dag_id: str, run_id: str):
    """The run's campaign folder (`<bucket>/campaigns/<campaign id>`), from its prepare task's result: a Path, or
    an ObjectUrl when the bucket is on S3."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids="prepare",
                                                 key="return_value")).first()
        prepared = XComModel.deserialize_value(row) if row is not None else None
    return campaign_location(prepared)


def campaign_location(prepared):
    """The campaign folder a run's prepare result names: on S3 ($SMSFLOW_BUCKET=s3://…) from the campaign id, the
    one place every worker wrote to; else the folder of the spec prepare wrote (None: prepare did not finish)."""
    if not isinstance(prepared, dict) or not prepared.get("spec_path"):
        return None
    bucket = os.environ.get("SMSFLOW_BUCKET") or ""
    if bucket.startswith("s3://") and prepared.get("campaign_id"):
        from pipelines.bucket import prefix
        from pipelines.storage import ObjectUrl

        return ObjectUrl.parse(bucket.rstrip("/")).joinpath(prefix(prepared["campaign_id"]))
    return Path(prepared["spec_path"]).parent


def _page(dag_id: str, run_id: str, root) -> str:
    from pipelines import storage
    from pipelines.layout import CampaignPaths

    from urllib.parse import quote

    title = f"Campaign report — {html.escape(run_id)}"
    here = html.escape(quote(run_id, safe=""), quote=True)  # links relative to this page: behind any base URL
    if root is None:
        body = "<p>This run has no campaign: it stopped before its spec was read (see its <b>prepare</b> task).</p>"
    elif not storage.exists(CampaignPaths(root).stats):
        body = (f"<p>Campaign <b>{html.escape(root.name)}</b> has no report yet: a report is written when the "
                "campaign has been sent (its <b>finish</b> task). A cancelled or failed run says why in its note.</p>")
    else:
        paths = CampaignPaths(root)
        stats = json.loads(storage.read_bytes(paths.stats).decode("utf-8"))
        rate = stats.get("delivery_rate")
        figures = [("Recipients in the lists", stats.get("rows")), ("Sent", stats.get("sent")),
                   ("Delivered", stats.get("delivered")),
                   ("Delivery rate", f"{rate:.1%}" if isinstance(rate, (int, float)) else "—"),
                   ("Replies", stats.get("replies")), ("STOP replies", stats.get("stops"))]
        rows = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"
                       for name, value in figures)
        statuses = "".join(f"<tr><td>{status['code']}</td><td>{html.escape(str(status['text']))}</td>"
                           f"<td>{status['recipients']:,}</td></tr>" for status in stats.get("statuses", []))
        body = (f"<p>Campaign <b>{html.escape(root.name)}</b> (REP-1).</p><table>{rows}</table>"
                f"<h2>Recipients per status</h2><table><tr><th>Code</th><th>Status</th><th>Recipients</th></tr>"
                f"{statuses}</table>"
                f'<p><a href="./{here}/report.csv" download>Download the report (CSV, REP-2)</a> · '
                f'<a href="./{here}/stats.json">the figures (JSON)</a>'
                f"</p><p>Stored at: <code>{html.escape(str(paths.report))}</code></p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>"
            "body{font-family:sans-serif;margin:1rem}table{border-collapse:collapse}th,td{padding:.2rem .8rem;"
            "text-align:left;border-bottom:1px solid #ddd}</style></head>"
            f"<body><h1>{title}</h1>{body}</body></html>")


def file_response(path, media_type: str, download: bool = False):
    """A report file as an HTTP answer: a local file served as it is; an object in S3 streamed from there, never
    copied to the API server's disk."""
    from fastapi.responses import FileResponse, StreamingResponse

    from pipelines import storage

    if isinstance(path, Path):
        return FileResponse(path, media_type=media_type, filename=path.name if download else None)

    def blocks():
        with storage.open_read(path) as stream:
            while block := stream.read(storage.READ_BLOCK):
                yield block

    headers = {"Content-Disposition": f'attachment; filename="{path.name}"'} if download else None
    return StreamingResponse(blocks(), media_type=media_type, headers=headers)


def create_app():
    """The FastAPI app the API server mounts at PREFIX; every route checks Airflow's access to the DAG's runs."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import HTMLResponse

    from pipelines import storage
    from pipelines.layout import CampaignPaths

    app = FastAPI(title="smsflow campaign reports", docs_url=None, redoc_url=None, openapi_url=None)
    allowed = [Depends(requires_access_dag("GET", DagAccessEntity.RUN))]

    def report_file(dag_id: str, run_id: str, which: str, media_type: str, download: bool = False):
        root = campaign_root(dag_id, run_id)
        path = getattr(CampaignPaths(root), which) if root else None
        if path is None or not storage.exists(path):
            raise HTTPException(404, f"Run {run_id} has no campaign report: it was not sent (see the run's note)")
        return file_response(path, media_type, download)

    @app.get("/dags/{dag_id}/runs/{run_id}", response_class=HTMLResponse, dependencies=allowed)
    def page(dag_id: str, run_id: str) -> str:
        return _page(dag_id, run_id, campaign_root(dag_id, run_id))

    @app.get("/dags/{dag_id}/runs/{run_id}/report.csv", dependencies=allowed)
    def report(dag_id: str, run_id: str):
        return report_file(dag_id, run_id, "report", "text/csv", download=True)

    @app.get("/dags/{dag_id}/runs/{run_id}/stats.json", dependencies=allowed)
    def stats(dag_id: str, run_id: str):
        return report_file(dag_id, run_id, "stats", "application/json")

    return app


class _AppWhenRead:
    """`fastapi_apps`, built when first read (by the API server): every Airflow process loads the plugins, a task
    process too, and making the app imports the API server's security (about a second per task otherwise)."""

    def __get__(self, instance, owner) -> list[dict]:
        return [{"app": _app(), "url_prefix": PREFIX, "name": "smsflow campaign reports"}]


@functools.cache
def _app():
    return create_app()


class SmsflowPlugin(AirflowPlugin):
    """The "Campaign report" tab of a run's page, and the app behind it."""

    name = "smsflow"
    fastapi_apps = _AppWhenRead()
    external_views = [{"name": "Campaign report", "href": PREFIX.lstrip("/") + "/dags/{DAG_ID}/runs/{RUN_ID}",
                       "destination": "dag_run", "url_route": "campaign-report"}]
