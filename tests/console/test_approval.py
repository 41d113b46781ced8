"""SEND-3, SEND-4 in the browser (issue 14): "Envoyer…" triggers the campaign's Airflow run through the REST API,
the run panel says where the run is and, at the approval, shows the SEND-4 summary from the real plan's files and
the test; "Confirmer l'envoi" / "Refuser" answer the run's HITL request. Audited; another account's campaign: 404.

Airflow itself is not started here (minutes per test): a small HTTP server answers the REST calls the console makes
with the shapes of Airflow 3.3's answers and records each request, so the tests read exactly what the console sent.
The real end to end (a real Airflow, a real approval) is the browser test's.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
from console_helpers import add_user, client, console_app, csrf_of, log_in
from helpers import write_list

RUN_ID = "manual__2026-11-26T13:00:00.123456+00:00"
RUN_PATH = f"/api/v2/dags/sms_campaign/dagRuns/{quote(RUN_ID, safe='')}"
PENDING = {"task_instance": {"task_id": "approve", "map_index": -1, "dag_id": "sms_campaign", "dag_run_id": RUN_ID},
           "options": ["Approve", "Reject"], "subject": "Send « Soldes » to 2 recipients?",
           "body": "**Campaign**: Soldes <script>x</script>", "responded_at": None, "responded_by_user": None}


class FakeAirflow(ThreadingHTTPServer):
    """Airflow's REST API as the console uses it: JWT login, trigger, run, task instances, HITL details. `state`,
    `tasks` and `pending` say what the run is; `requests` records (method, path, body, authorization)."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, str, object, str | None]] = []
        self.state, self.tasks, self.pending, self.answered, self.logins = "running", {}, None, None, 0
        self.expire_next = False  # the next authorised call answers 401 (an expired token)
        self.trigger_delay = 0.0  # seconds a trigger takes (a slow Airflow)
        self.trigger_refusal: tuple[int, object] | None = None  # (status, body) a trigger answers instead

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeAirflow

    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        airflow = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        airflow.requests.append((self.command, self.path, body, self.headers.get("Authorization")))
        if self.path == "/auth/token":
            ok = body == {"username": "console", "password": "s3cret"}
            airflow.logins += ok
            return self._answer(201 if ok else 401, {"access_token": f"jwt-{airflow.logins}"} if ok else {})
        if self.headers.get("Authorization") != f"Bearer jwt-{airflow.logins}" or airflow.expire_next:
            airflow.expire_next = False
            return self._answer(401, {"detail": "Not authenticated"})
        if self.command == "POST" and self.path == "/api/v2/dags/sms_campaign/dagRuns":
            time.sleep(airflow.trigger_delay)
            if airflow.trigger_refusal:
                return self._answer(*airflow.trigger_refusal)
            return self._answer(200, {"dag_run_id": RUN_ID, "state": "queued", "conf": body["conf"]})
        if self.path == RUN_PATH:
            return self._answer(200, {"dag_run_id": RUN_ID, "state": airflow.state, "note": None})
        if self.path.startswith(f"{RUN_PATH}/taskInstances?"):
            return self._answer(200, {"task_instances": [{"task_id": task, "map_index": -1, "state": state}
                                                         for task, state in airflow.tasks.items()]})
        if self.path == f"{RUN_PATH}/hitlDetails":
            details = [detail for detail in (airflow.pending, airflow.answered) if detail]
            return self._answer(200, {"hitl_details": details, "total_entries": len(details)})
        if self.command == "PATCH" and self.path == f"{RUN_PATH}/taskInstances/approve/-1/hitlDetails":
            airflow.answered = {**airflow.pending, "chosen_options": body["chosen_options"],
                                "responded_at": "2026-11-26T13:05:00Z", "response_received": True,
                                "responded_by_user": {"id": "console", "name": "console"}}
            airflow.pending = None
            return self._answer(200, {"chosen_options": body["chosen_options"], "params_input": {},
                                      "responded_at": "2026-11-26T13:05:00Z",
                                      "responded_by": {"id": "console", "name": "console"}})
        return self._answer(404, {"detail": "Not found"})

    do_GET = do_POST = do_PATCH = _handle


@pytest.fixture
def airflow():
    server = FakeAirflow()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _app(tmp_path, monkeypatch, airflow=None):
    """The extranet (on `airflow` when given), a draft of account acme, ana of acme and eve of another account."""
    from pipelines.store import campaigns as store

    settings = {"airflow_url": airflow.url, "airflow_user": "console", "airflow_password": "s3cret"} if airflow \
        else {}
    app = console_app(tmp_path, monkeypatch, **settings)
    add_user(app, "ana@acme.fr", account="acme")
    add_user(app, "eve@other.fr", account="other")
    bucket = tmp_path / "bucket"
    write_list(bucket / "list.csv", "Mobile;Prénom\n0611111111;Ann\n0611111111;Ann\nabc;Bob\n0611111133;Léo\n")
    spec = {"name": "Soldes", "type": "notification", "message": "Bonjour ${Prénom}, -20% ce week-end",
            "sender": "MaBoutique", "lists": [str(bucket / "list.csv")], "test": {"numbers": "0611111199;0611111198"}}
    store.create(app.state.engine, spec, "acme", "soldes-1", base=bucket)
    return app, "soldes-1", spec


def _browser(app, login: str):
    browser = client(app)
    assert log_in(browser, login).status_code == 303
    return browser


def _post(browser, path: str, **headers):
    token = csrf_of(browser.get("/reports"))
    return browser.post(path, data={"csrf_token": token}, headers=headers)


def _planned(app, campaign_id: str, spec: dict) -> None:
    """The campaign planned for real into its folder (`<bucket>/campaigns/<id>/plan`), as the run's plan task does."""
    import yaml

    from pipelines.layout import CampaignPaths
    from pipelines.plan import plan_file

    paths = CampaignPaths.in_bucket(app.state.bucket, campaign_id)
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.spec.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    plan_file(paths.spec, paths.plan)


def _audited(app, action: str) -> list[tuple]:
    from sqlalchemy import select

    from pipelines.store.schema import audit_log

    with app.state.engine.connect() as connection:
        return connection.execute(select(audit_log.c.actor, audit_log.c.target, audit_log.c.detail)
                                  .where(audit_log.c.action == action)).all()


def test_send3_envoyer_triggers_the_run_through_rest_and_schedules_the_draft(tmp_path, monkeypatch, airflow):
    from pipelines.store import campaigns as store

    app, campaign_id, _ = _app(tmp_path, monkeypatch, airflow)
    ana = _browser(app, "ana@acme.fr")
    assert "Envoyer…" in ana.get(f"/campaigns/{campaign_id}/run").text
    answer = _post(ana, f"/campaigns/{campaign_id}/send")
    assert answer.status_code == 303 and answer.headers["location"].startswith(f"/campaigns/{campaign_id}/run?ok=")
    login, trigger = [request for request in airflow.requests if request[0] == "POST"]
    assert login == ("POST", "/auth/token", {"username": "console", "password": "s3cret"}, None)
    assert trigger == ("POST", "/api/v2/dags/sms_campaign/dagRuns",
                       {"logical_date": None, "conf": {"campaign_id": campaign_id}}, "Bearer jwt-1")
    campaign = store.get(app.state.engine, campaign_id)
    assert (campaign.status, campaign.run_id) == ("scheduled", RUN_ID)
    assert _audited(app, "campaign.send") == [("ana@acme.fr", campaign_id, f"run {RUN_ID}")]
    again = _post(ana, f"/campaigns/{campaign_id}/send")  # a second click sends nothing twice
    assert again.status_code == 303 and "d%C3%A9j%C3%A0+%C3%A9t%C3%A9+envoy%C3%A9e" in again.headers["location"]
    assert len([request for request in airflow.requests if request[1].endswith("/dagRuns")]) == 1


def test_send3_a_double_click_triggers_one_run(tmp_path, monkeypatch, airflow):
    app, campaign_id, _ = _app(tmp_path, monkeypatch, airflow)
    tabs = [_browser(app, "ana@acme.fr") for _ in range(2)]
    tokens = [csrf_of(tab.get("/reports")) for tab in tabs]
    airflow.trigger_delay = 0.5  # both clicks arrive while the first trigger is still on its way
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda tab, token: tab.post(f"/campaigns/{campaign_id}/send",
                                                            data={"csrf_token": token}), tabs, tokens))
    assert [answer.status_code for answer in answers] == [303, 303]
    assert len([request for request in airflow.requests if request[1].endswith("/dagRuns")]) == 1
    assert len(_audited(app, "campaign.send")) == 1


def test_send3_without_airflow_a_clear_french_message_and_the_draft_stays(tmp_path, monkeypatch):
    from pipelines.store import campaigns as store

    app, campaign_id, _ = _app(tmp_path, monkeypatch)
    ana = _browser(app, "ana@acme.fr")
    answer = _post(ana, f"/campaigns/{campaign_id}/send")
    assert answer.status_code == 503
    assert "Airflow n&#39;est pas configuré pour cette console" in answer.text
    assert store.get(app.state.engine, campaign_id).status == "draft"
    assert _audited(app, "campaign.send.refused")[0][:2] == ("ana@acme.fr", campaign_id)
    fragment = _post(ana, f"/campaigns/{campaign_id}/send", **{"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text  # htmx swaps it: said in the panel
    assert 'id="run-panel"' in fragment.text and "Airflow n&#39;est pas configuré" in fragment.text


def test_send4_the_panel_shows_the_summary_and_the_test_from_the_real_plan(tmp_path, monkeypatch, airflow):
    from pipelines.store import campaigns as store

    app, campaign_id, spec = _app(tmp_path, monkeypatch, airflow)
    store.schedule(app.state.engine, campaign_id, RUN_ID)
    _planned(app, campaign_id, spec)
    airflow.tasks = {"prepare": "success", "plan": "success", "contracts": "success", "reserve_credits": "success",
                     "wait_for_send_time": "success", "test_send": "success", "approval_mode": "success",
                     "approve": "deferred"}
    airflow.pending = PENDING
    ana = _browser(app, "ana@acme.fr")
    page = ana.get(f"/campaigns/{campaign_id}/run")
    text = page.text
    assert page.status_code == 200 and "<html" in text and "En attente de votre validation" in text
    for label, value in (("Nombre de listes", "1 : list.csv (4 lignes)"), ("Nom de la campagne", "Soldes"),
                         ("Invalides", "1"), ("Doublons", "1"), ("Crédits utilisés", "2"),
                         ("Émetteur", "MaBoutique"), ("URL courte (suivi des clics)", "désactivée")):
        assert f'<tr><th scope="row">{label}</th><td>{value}' in text
    assert '<th scope="row">Destinataires</th><td>4, dont <strong>2</strong> recevront le message</td>' in text
    assert '<th scope="row">Date d\'envoi</th><td>Immédiat, dès votre validation</td>' in text
    assert "<td>Numéro mal formaté</td><td class=\"num\">2</td><td class=\"num\">1</td>" in text
    assert "<td>FR</td>" in text and "1 SMS : 2" in text
    assert "Envoyé à 0611111199, 0611111198" in text and "Bonjour Ann, -20% ce week-end" in text
    assert "Confirmer l'envoi" in text and "Refuser" in text
    assert "hx-trigger" not in text  # no polling while the buttons wait: focus stays where the person is
    fragment = ana.get(f"/campaigns/{campaign_id}/run", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and fragment.text.lstrip().startswith('<section id="run-panel"')


def test_send4_without_the_plan_files_the_approval_body_is_shown_escaped(tmp_path, monkeypatch, airflow):
    from pipelines.store import campaigns as store

    app, campaign_id, _ = _app(tmp_path, monkeypatch, airflow)
    store.schedule(app.state.engine, campaign_id, RUN_ID)
    airflow.tasks, airflow.pending = {"approve": "deferred"}, PENDING
    text = _browser(app, "ana@acme.fr").get(f"/campaigns/{campaign_id}/run").text
    assert "<strong>Campaign</strong>: Soldes &lt;script&gt;x&lt;/script&gt;" in text and "<script>x" not in text


@pytest.mark.parametrize("button, option, said, then", [
    ("approve", "Approve", "test validé, envoi confirmé", "Validée : l'envoi va commencer"),
    ("reject", "Reject", "envoi refusé", "Envoi refusé : annulation en cours")])
def test_send4_confirm_and_reject_answer_the_hitl_request(tmp_path, monkeypatch, airflow, button, option, said, then):
    from pipelines.store import campaigns as store

    app, campaign_id, _ = _app(tmp_path, monkeypatch, airflow)
    store.schedule(app.state.engine, campaign_id, RUN_ID)
    airflow.tasks, airflow.pending = {"approve": "deferred"}, PENDING
    ana = _browser(app, "ana@acme.fr")
    answer = _post(ana, f"/campaigns/{campaign_id}/{button}")
    assert answer.status_code == 303 and answer.headers["location"].startswith(f"/campaigns/{campaign_id}/run?ok=")
    patches = [request for request in airflow.requests if request[0] == "PATCH"]
    assert patches == [("PATCH", f"{RUN_PATH}/taskInstances/approve/-1/hitlDetails",
                        {"chosen_options": [option]}, "Bearer jwt-1")]
    assert _audited(app, f"campaign.{button}") == [("ana@acme.fr", campaign_id, f"run {RUN_ID}: {option}")]
    assert store.events(app.state.engine, campaign_id)[-1]["detail"] == f"{said} par ana@acme.fr depuis l'extranet"
    twice = _post(ana, f"/campaigns/{campaign_id}/{button}", **{"HX-Request": "true"})  # nothing waits any more
    assert "Aucune validation n&#39;attend de réponse" in twice.text
    assert then.replace("'", "&#39;") in twice.text  # the answer given, until the run moves on
    assert 'hx-trigger="every 2s"' in twice.text
    assert len([request for request in airflow.requests if request[0] == "PATCH"]) == 1


def test_send3_an_expired_token_logs_in_again(tmp_path, monkeypatch, airflow):
    from pipelines.console.airflow import Airflow
    from pipelines.console.settings import ConsoleSettings

    api = Airflow(ConsoleSettings(airflow_url=airflow.url, airflow_user="console", airflow_password="s3cret"))
    assert api.run(RUN_ID).state == "running"
    airflow.expire_next = True
    assert api.run(RUN_ID).state == "running"
    assert airflow.logins == 2


def test_acc3_another_account_cannot_see_send_or_answer(tmp_path, monkeypatch, airflow):
    from pipelines.store import campaigns as store

    app, campaign_id, _ = _app(tmp_path, monkeypatch, airflow)
    store.schedule(app.state.engine, campaign_id, RUN_ID)
    airflow.pending = PENDING
    eve = _browser(app, "eve@other.fr")
    missing = eve.get("/campaigns/no-such-campaign/run")
    assert missing.status_code == 404
    assert eve.get(f"/campaigns/{campaign_id}/run").text == missing.text
    for button in ("send", "approve", "reject"):
        answer = _post(eve, f"/campaigns/{campaign_id}/{button}")
        assert answer.status_code == 404 and answer.text == missing.text
    assert airflow.requests == [] and airflow.pending is PENDING


def test_send3_the_panel_polls_while_the_run_moves_and_stops_when_it_ends(tmp_path, monkeypatch, airflow):
    from pipelines.store import campaigns as store

    app, campaign_id, _ = _app(tmp_path, monkeypatch, airflow)
    store.schedule(app.state.engine, campaign_id, RUN_ID)
    ana = _browser(app, "ana@acme.fr")
    airflow.tasks = {"prepare": "success", "plan": "running"}
    moving = ana.get(f"/campaigns/{campaign_id}/run", headers={"HX-Request": "true"}).text
    assert 'hx-trigger="every 2s"' in moving and f'hx-get="/campaigns/{campaign_id}/run"' in moving
    assert "Planification" in moving
    store.transition(app.state.engine, campaign_id, "running", "approved")
    store.end_run(app.state.engine, campaign_id, "sent")
    airflow.state = "success"
    ended = ana.get(f"/campaigns/{campaign_id}/run", headers={"HX-Request": "true"}).text
    assert "hx-trigger" not in ended and "Terminée" in ended and f'href="/reports/{campaign_id}"' in ended


def test_send3_stages_in_the_user_words():
    from pipelines.console.airflow import RunView
    from pipelines.console.approval_panel import approval_body, stage

    def at(tasks: dict, state: str = "running", status: str = "scheduled", **given):
        return stage(status, RunView(RUN_ID, state, tasks, **given), **(
            {"wait_until": datetime(2026, 11, 30, 7, 0, tzinfo=timezone.utc)} if "wait_for_send_time" in tasks else {}))

    assert at({}, "queued").words == "En file d'attente dans Airflow"
    assert at({"prepare": "success", "plan": "running"}).words == "Planification"
    waiting = at({"reserve_credits": "success", "wait_for_send_time": "deferred"})
    assert waiting.words == "Attente de la fenêtre d'envoi jusqu'au lundi 30 novembre 2026 à 08:00 (heure de Paris)"
    assert at({"test_send": "running"}).words == "Envoi du message de test"
    assert at({"test_send": "success"}).words == "Message de test envoyé"
    pending = at({"approve": "deferred"}, pending=PENDING)
    assert (pending.words, pending.active) == ("En attente de votre validation", False)
    assert at({"approve": "success", "batches": "success", "dispatch": "running"}, status="running").words == \
        "Envoi en cours"
    assert at({"dispatch": "success", "receipts": "running"}).words.startswith("Envoi terminé")
    done = at({}, "success", "finished")
    assert (done.words, done.active) == ("Terminée : la campagne est envoyée", False)
    assert at({}, "success", "cancelled", note="Cancelled: rejected by ana").words == \
        "Annulée : Cancelled: rejected by ana"
    failed = at({"plan": "failed"}, "failed")
    assert failed.words.startswith("Échec") and failed.tone == "error" and not failed.active
    assert stage("scheduled").active and not stage("draft").active  # Airflow not asked: the store's status
    assert [str(p) for p in approval_body("**A**: <b>x</b>\n\n**B**: 2")] == [
        "<strong>A</strong>: &lt;b&gt;x&lt;/b&gt;", "<strong>B</strong>: 2"]


AIRFLOW_CHECK = """
import json, sys
from urllib.parse import unquote, urlsplit
from starlette.routing import Match
from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody
from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
from airflow.api_fastapi.core_api.routes.public import dag_run, hitl, task_instances

routes = [*dag_run.dag_run_router.routes, *hitl.task_instances_hitl_router.routes,
          *task_instances.task_instances_router.routes]
bodies = {("POST", "/dags/{dag_id}/dagRuns"): TriggerDAGRunPostBody,
          ("PATCH", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/hitlDetails"):
          UpdateHITLDetailPayload}
found = []
for method, path, body in json.load(sys.stdin):
    scope = {"type": "http", "method": method, "path": unquote(urlsplit(path).path).removeprefix("/api/v2")}
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            model = bodies.get((method, route.path))
            if model is not None:
                model.model_validate(body)
            found.append([method, route.path, child["path_params"], model is not None])
            break
    else:
        found.append([method, path, None, False])
print(json.dumps(found))
"""


def test_send3_the_console_calls_are_airflow_3_3s_own_routes_and_bodies(tmp_path, monkeypatch, airflow):
    """Every REST call the console made in a send and an approval matches a route of the installed Airflow's API,
    and the bodies validate against its own request models (in a child process: importing Airflow configures it)."""
    import subprocess
    import sys

    from pipelines.console.airflow import APPROVE, Airflow
    from pipelines.console.settings import ConsoleSettings

    api = Airflow(ConsoleSettings(airflow_url=airflow.url, airflow_user="console", airflow_password="s3cret"))
    airflow.pending = PENDING
    run_id = api.trigger("soldes-1")
    view = api.run(run_id)
    api.answer(run_id, view.pending, APPROVE)
    calls = [[method, path, body] for method, path, body, _ in airflow.requests if path != "/auth/token"]
    environment = {**__import__("os").environ, "AIRFLOW_HOME": str(tmp_path / "airflow")}
    checked = subprocess.run([sys.executable, "-c", AIRFLOW_CHECK], input=json.dumps(calls), capture_output=True,
                             text=True, env=environment, timeout=300)
    assert checked.returncode == 0, checked.stderr[-3000:]
    run = {"dag_id": "sms_campaign", "dag_run_id": RUN_ID}
    assert json.loads(checked.stdout.strip().splitlines()[-1]) == [
        ["POST", "/dags/{dag_id}/dagRuns", {"dag_id": "sms_campaign"}, True],
        ["GET", "/dags/{dag_id}/dagRuns/{dag_run_id}", run, False],
        ["GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances", run, False],
        ["GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/hitlDetails", run, False],
        ["PATCH", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/hitlDetails",
         {**run, "task_id": "approve", "map_index": "-1"}, True],
    ]


def test_send3_the_panel_included_with_only_the_campaign_loads_itself():
    """The campaign page includes the panel with `campaign` alone: it fetches itself from /campaigns/<id>/run (htmx),
    and without script a link leads there."""
    from types import SimpleNamespace

    from pipelines.console.web import TEMPLATES

    html = TEMPLATES.get_template("campaigns_run_panel.html").render(campaign=SimpleNamespace(id="soldes-1"))
    assert 'hx-get="/campaigns/soldes-1/run" hx-trigger="load" hx-swap="outerHTML"' in html
    assert '<a href="/campaigns/soldes-1/run">' in html


def test_send3_airflows_own_refusal_is_logged_the_person_reads_its_status_only(tmp_path, monkeypatch, airflow,
                                                                               caplog):
    from pipelines.store import campaigns as store

    app, campaign_id, _ = _app(tmp_path, monkeypatch, airflow)
    airflow.trigger_refusal = (500, {"detail": "Traceback: sqlalchemy.exc at /opt/airflow/secret_module.py"})
    ana = _browser(app, "ana@acme.fr")
    with caplog.at_level("WARNING", logger="pipelines.console.airflow"):
        answer = _post(ana, f"/campaigns/{campaign_id}/send")
    assert answer.status_code == 503 and "Airflow a refusé de lancer la campagne (erreur HTTP 500)" in answer.text
    assert "secret_module" not in answer.text and "Traceback" not in answer.text
    assert "secret_module" in caplog.text
    assert "secret_module" not in _audited(app, "campaign.send.refused")[0][2]
    assert store.get(app.state.engine, campaign_id).status == "draft"


def test_send3_the_send_locks_are_dropped_once_the_send_is_done(tmp_path, monkeypatch, airflow):
    from pipelines.console import approval

    app, campaign_id, _ = _app(tmp_path, monkeypatch, airflow)
    assert _post(_browser(app, "ana@acme.fr"), f"/campaigns/{campaign_id}/send").status_code == 303
    assert campaign_id not in approval._SENDING and len(approval._SENDING) == 0


def test_send3_the_approval_routes_are_the_apps_own_page_module_not_the_reports():
    from pipelines.console import app, approval, reports

    assert "approval" in app.PAGES
    assert not {route.path for route in approval.routes} & {route.path for route in reports.routes}


def test_send4_the_send_time_is_paris_time_whatever_the_machines_zone(monkeypatch):
    import time as clock

    from pipelines.console.approval_panel import paris_words

    monkeypatch.setenv("TZ", "America/New_York")
    clock.tzset()
    try:
        assert "à 13:00 (heure de Paris)" in paris_words(datetime(2026, 1, 15, 12, 0))
        assert "à 13:00 (heure de Paris)" in paris_words(datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc))
    finally:
        monkeypatch.delenv("TZ")
        clock.tzset()
