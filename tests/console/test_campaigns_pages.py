"""Campaigns in the browser (CAMP-1…4): the dashboard, the list, the form that is the spec, the campaign's page and
its actions, each through the same store functions as `smsflow campaigns` (one library, two faces)."""

from __future__ import annotations

import io
import re

import yaml
from console_helpers import add_user, client, csrf_of, log_in, logged_in
from helpers import smsflow_here

from pipelines.store import campaigns as store

CONTACTS = "Prénom;Mobile;Ville\nJérôme;0612345678;Orléans\nMaximilienne;0698765432;Besançon\n"
MESSAGE = "Bonjour ${Prénom}, -20 % ce week-end. STOP 36184"


def _browser(tmp_path, monkeypatch, login="ana@example.fr", account="default"):
    return logged_in(tmp_path, monkeypatch, login, account)


def _upload(browser, content: str = CONTACTS, name: str = "clients.csv") -> str:
    """The new campaign form posted with a file: the form comes back with its preview and the upload's reference."""
    token = csrf_of(browser.get("/campaigns/new"))
    answer = browser.post("/campaigns/new", data={"csrf_token": token, "name": "x", "message": MESSAGE},
                          files={"file": (name, io.BytesIO(content.encode()), "text/csv")})
    assert answer.status_code == 200, answer.text
    assert "Vérifiez l&#39;aperçu" in answer.text and "<mark>Mobile</mark>" in answer.text  # LIST-1/2: preview first
    return re.search(r'name="upload" value="([^"]+)"', answer.text).group(1)


def _form(browser, **fields) -> dict:
    return {"csrf_token": csrf_of(browser.get("/campaigns/new")), "name": "Soldes VIP", "type": "marketing",
            "message": MESSAGE, "approval": "manual", "replace_non_gsm7": "on", "max_parts": "6",
            "test_row": "1", "link_lifetime_days": "90", "max_invalid_share": "0.2", "holdout": "0", **fields}


def _create(browser, **fields) -> str:
    answer = browser.post("/campaigns/new", data=_form(browser, **fields))
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].split("?")[0].rsplit("/", 1)[1]


def test_camp3_create_from_the_form_with_an_uploaded_csv_stores_the_clis_spec(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    reference = _upload(browser)
    campaign_id = _create(browser, upload=reference, sender="MaBoutique", test_numbers="0612345678",
                          defaults="Prénom = client")
    stored = store.get(app.state.engine, campaign_id, "default")
    assert stored.status == "draft" and stored.name == "Soldes VIP"
    saved = next((app.state.bucket / "uploads" / "default").rglob("clients.csv"))
    # The CLI, given a spec file beside the upload that names it relatively, stores the same spec.
    spec_file = saved.parent / "spec.yaml"
    spec_file.write_text(yaml.safe_dump({
        "name": "Soldes VIP", "type": "marketing", "lists": [saved.name], "message": MESSAGE,
        "sender": "MaBoutique", "test": {"numbers": "0612345678"}, "defaults": {"Prénom": "client"},
        "approval": "manual"}, allow_unicode=True), encoding="utf-8")
    result = smsflow_here("campaigns", "create", str(spec_file))  # the same store: SMSFLOW_DB (conftest)
    assert result.returncode == 0, result.stderr
    by_cli = next(c for c in store.list_campaigns(app.state.engine, "default") if c.id != campaign_id)
    assert yaml.safe_load(stored.spec) == yaml.safe_load(by_cli.spec)
    assert yaml.safe_load(stored.spec)["lists"] == [str(saved.resolve())]
    page = browser.get(f"/campaigns/{campaign_id}")
    assert page.status_code == 200 and "Soldes VIP" in page.text and "clients.csv" in page.text
    assert str(app.state.bucket) not in page.text  # an upload by its name, never the server's path


def test_camp2_refused_spec_shows_each_problem_by_its_field_in_french(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    answer = browser.post("/campaigns/new", data=_form(browser, name="", message="Bonjour", sender="Ma Boutique 2026",
                                                       recipients="0612345678", test_numbers="12"))
    assert answer.status_code == 400
    text = answer.text
    assert re.search(r'id="e-name"[^>]*>\s*<p>Champ obligatoire\. \(CAMP-1\)', text)
    assert re.search(r'id="e-message"[^>]*>\s*<p>Un message marketing doit contenir la mention', text)
    assert re.search(r'id="e-sender"[^>]*>\s*<p>11 caractères au plus', text)
    assert re.search(r'id="e-test_numbers"[^>]*>\s*<p>Numéro de mobile invalide : 12\. \(SEND-3\)', text)
    assert '<li><a href="#f-sender">Expéditeur</a> : 11 caractères au plus' in text  # the summary links each field
    assert 'value="Ma Boutique 2026"' in text and ">0612345678</textarea>" in text  # what was typed stays
    assert store.list_campaigns(app.state.engine, "default") == []


def test_camp3_create_with_typed_numbers_and_a_saved_list(tmp_path, monkeypatch):
    from pipelines.store.lists import import_list

    app, browser = _browser(tmp_path, monkeypatch)
    contacts = tmp_path / "vip.csv"
    contacts.write_text(CONTACTS, encoding="utf-8")
    import_list(app.state.engine, "default", "vip", contacts)
    assert 'name="saved_lists" value="vip"' in browser.get("/campaigns/new").text
    campaign_id = _create(browser, saved_lists="vip", recipients="0611223344; Prénom=Ann\n0622334455")
    spec = yaml.safe_load(store.get(app.state.engine, campaign_id).spec)
    assert spec["lists"] == [{"saved": "vip"}]
    assert spec["recipients"] == [{"mobile": "0611223344", "Prénom": "Ann"}, {"mobile": "0622334455"}]


def test_camp3_edit_shows_the_stored_spec_and_replaces_it(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    reference = _upload(browser)
    campaign_id = _create(browser, upload=reference, ucs2="on", send_window="charter-2024", countries="FR, BE")
    form = browser.get(f"/campaigns/{campaign_id}/edit")
    assert form.status_code == 200
    text = form.text
    assert 'value="Soldes VIP"' in text and f'name="lists" value="{reference}" checked' in text
    assert re.search(r'id="f-ucs2" name="ucs2" checked', text)
    assert '<option value="charter-2024" selected>' in text and 'value="FR, BE"' in text
    before = yaml.safe_load(store.get(app.state.engine, campaign_id).spec)
    fields = _form(browser, name="Soldes VIP 2", lists=reference, ucs2="on", send_window="charter-2024",
                   countries="FR, BE", campaign_id=campaign_id)
    fields["csrf_token"] = csrf_of(form)
    answer = browser.post(f"/campaigns/{campaign_id}/edit", data=fields)
    assert answer.status_code == 303, answer.text
    after = store.get(app.state.engine, campaign_id)
    assert after.name == "Soldes VIP 2"
    assert yaml.safe_load(after.spec) == {**before, "name": "Soldes VIP 2"}
    assert store.events(app.state.engine, campaign_id)[-1]["detail"].startswith("edited")


def test_camp3_duplicate_cancel_delete(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    engine = app.state.engine
    campaign_id = _create(browser, recipients="0612345678")
    page = browser.get(f"/campaigns/{campaign_id}")
    assert "Supprimer" in page.text and "data-confirm=" in page.text and "Annuler la campagne" not in page.text
    token = csrf_of(page)
    copy = browser.post(f"/campaigns/{campaign_id}/duplicate", data={"csrf_token": token})
    assert copy.status_code == 303
    copy_id = copy.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert store.get(engine, copy_id).name == "Soldes VIP (copy)" and store.get(engine, copy_id).status == "draft"
    store.schedule(engine, campaign_id, "run-1")
    page = browser.get(f"/campaigns/{campaign_id}")
    assert "Annuler la campagne" in page.text and "/delete" not in page.text
    assert browser.post(f"/campaigns/{campaign_id}/delete", data={"csrf_token": token}).status_code == 303
    assert store.get(engine, campaign_id).status == "scheduled"  # only drafts are deleted
    cancelled = browser.post(f"/campaigns/{campaign_id}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303 and "annul" in cancelled.headers["location"]
    assert store.get(engine, campaign_id).status == "cancelled"
    assert browser.get(f"/campaigns/{campaign_id}/edit").status_code == 303  # an ended campaign is not edited
    deleted = browser.post(f"/campaigns/{copy_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303 and deleted.headers["location"].startswith("/campaigns?")
    assert [c.id for c in store.list_campaigns(engine, "default")] == [campaign_id]
    from sqlalchemy import select

    from pipelines.store.schema import audit_log

    with engine.begin() as connection:
        actions = [row.action for row in connection.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
    assert {"campaign.create", "campaign.duplicate", "campaign.cancel", "campaign.delete"} <= set(actions)


def test_camp4_list_search_and_status_filter(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    soldes = _create(browser, name="Soldes été", recipients="0612345678")
    _create(browser, name="Rappel rendez-vous", type="notification", message="Votre RDV demain",
            recipients="0612345678")
    store.schedule(app.state.engine, soldes, "run-1")
    listed = browser.get("/campaigns").text
    assert "Soldes été" in listed and "Rappel rendez-vous" in listed and "2 campagnes" in listed
    found = browser.get("/campaigns", params={"q": "SOLDES"}).text
    assert "Soldes été" in found and "Rappel rendez-vous" not in found
    drafts = browser.get("/campaigns", params={"status": "draft"}).text
    assert "Rappel rendez-vous" in drafts and "Soldes été" not in drafts
    assert 'status-scheduled">Programmée' in browser.get("/campaigns", params={"status": "scheduled"}).text


def test_camp4_dashboard_shows_latest_drafts_and_campaigns_with_figures(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    draft = _create(browser, name="Brouillon A", recipients="0612345678")
    sent = _create(browser, name="Envoyée B", recipients="0612345678")
    engine = app.state.engine
    store.schedule(engine, sent, "run-1")
    store.transition(engine, sent, "running")
    store.end_run(engine, sent, "done", {"sent": 1234, "delivered": 1200, "stops": 7, "credits": 2468})
    board = browser.get("/").text
    assert f'href="/campaigns/{draft}">Brouillon A' in board
    assert 'status-finished">Terminée' in board
    for figure in ("1234", "1200", ">7<", "2468"):
        assert figure in board


def test_acc3_another_accounts_campaign_is_absent_on_every_route(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    theirs = store.create(app.state.engine, {"name": "Autre", "message": MESSAGE, "recipients": [
        {"mobile": "0612345678"}]}, "default")
    add_user(app, "bob@example.fr", account="acme")
    other = client(app)
    log_in(other, "bob@example.fr")
    token = csrf_of(other.get("/campaigns/new"))
    for path in ("", "/edit"):
        assert other.get(f"/campaigns/{theirs.id}{path}").status_code == 404
    for path in ("/edit", "/duplicate", "/cancel", "/delete"):
        assert other.post(f"/campaigns/{theirs.id}{path}", data={"csrf_token": token}).status_code == 404
    assert "Autre" not in other.get("/campaigns").text and "Autre" not in other.get("/").text
    assert store.get(app.state.engine, theirs.id).status == "draft"
    assert len(store.list_campaigns(app.state.engine, "default")) == 1 and not store.list_campaigns(
        app.state.engine, "acme")


def test_acc3_a_forged_list_path_is_never_read(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    secret = tmp_path / "secret.csv"
    secret.write_text("Mobile\n0612345678\n", encoding="utf-8")
    answer = browser.post("/campaigns/new", data=_form(browser, lists=str(secret), upload="../../secret.csv"))
    assert answer.status_code == 400 and "Choisissez au moins une liste" in answer.text


def test_send2_send_time_outside_the_window_refused_next_to_its_field(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    form = browser.get("/campaigns/new").text
    assert "lun.–sam. 08:00–20:00, à l&#39;heure de chaque destinataire, jamais les jours fériés" in form
    answer = browser.post("/campaigns/new", data=_form(browser, recipients="0612345678",
                                                       send_at="2031-06-15T10:00"))  # a Sunday
    assert answer.status_code == 400
    assert re.search(r'id="e-send_at"[^>]*>\s*<p>Le 15/06/2031 10:00 \(heure de Paris\) est hors de la plage '
                     r"d&#39;envoi .*prochaine heure permise le 16/06/2031 08:00\. \(SEND-2\)", answer.text)
    assert 'value="2031-06-15T10:00"' in answer.text
    campaign_id = _create(browser, recipients="0612345678", send_at="2031-06-16T10:00")
    spec = yaml.safe_load(store.get(app.state.engine, campaign_id).spec)
    assert spec["send_at"] == "2031-06-16T10:00"  # Paris time, as the CLI reads it (SEND-1)
    assert "16/06/2031 10:00 (Paris)" in browser.get(f"/campaigns/{campaign_id}").text
    assert 'value="2031-06-16T10:00"' in browser.get(f"/campaigns/{campaign_id}/edit").text
    assert "16/06/2031 10:00" in browser.get("/campaigns").text


def test_camp4_list_pages(tmp_path, monkeypatch):
    from pipelines.console import campaigns as pages

    app, browser = _browser(tmp_path, monkeypatch)
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    for number in range(5):
        store.create(app.state.engine, {"name": f"Campagne {number}", "message": MESSAGE,
                                        "recipients": [{"mobile": "0612345678"}]}, "default")
    first = browser.get("/campaigns").text
    assert "page 1 sur 3" in first and "Page suivante" in first and "Page précédente" not in first
    last = browser.get("/campaigns", params={"page": "3"}).text
    assert "Campagne 0" in last and "Campagne 4" not in last and "Page précédente" in last


def test_camp2_the_form_has_every_field_of_the_airflow_trigger_form(tmp_path, monkeypatch):
    from pipelines.spec.form import trigger_form
    from pipelines.store.lists import import_list

    app, browser = _browser(tmp_path, monkeypatch)
    contacts = tmp_path / "vip.csv"
    contacts.write_text(CONTACTS, encoding="utf-8")
    import_list(app.state.engine, "default", "vip", contacts)  # saved lists are picked among the account's
    form = browser.get("/campaigns/new").text
    named = set(re.findall(r'<(?:input|select|textarea)[^>]* name="([^"]+)"', form))
    # `account` is the person's (ACC-3); `lists` are the files chosen, listed once there are some.
    assert set(trigger_form()) - {"account", "lists"} <= named
    for label in ("Campagne", "Listes", "Expéditeur", "Message", "Options", "Suivi des liens", "Date d&#39;envoi",
                  "Numéros de test", "Validation"):
        assert f"<legend>{label}</legend>" in form or f"<summary>{label}" in form
    assert not re.search(r'<input(?![^>]*type="hidden")(?![^>]*id=)[^>]*>', form)  # every field has an id…
    for field_id in re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]* id="([^"]+)"', form):
        assert f'for="{field_id}"' in form  # …and a label (accessible forms)


def test_camp3_cancel_a_running_campaign_asks_it_to_stop(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    engine = app.state.engine
    campaign_id = _create(browser, recipients="0612345678")
    store.schedule(engine, campaign_id, "run-1")
    store.transition(engine, campaign_id, "running")
    page = browser.get(f"/campaigns/{campaign_id}")
    assert f"/campaigns/{campaign_id}/edit" not in page.text and "Annuler la campagne" in page.text
    answer = browser.post(f"/campaigns/{campaign_id}/cancel", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 303 and "Annulation+demand" in answer.headers["location"]
    assert store.cancel_requested(engine, campaign_id) and store.get(engine, campaign_id).status == "running"
    assert "l&#39;envoi s&#39;arrête avant son prochain lot" in browser.get(answer.headers["location"]).text


def test_camp2_an_integer_field_of_5000_digits_is_its_fields_error_never_a_500(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    for odd in ("9" * 5000, "²", "-" + "9" * 5000):
        answer = browser.post("/campaigns/new", data=_form(browser, recipients="0612345678", max_parts=odd))
        assert answer.status_code == 400, answer.text[:300]
        assert re.search(r'id="f-max_parts"[^>]*aria-invalid="true"', answer.text)
    assert store.list_campaigns(app.state.engine, "default") == []


def test_camp4_an_odd_page_number_shows_a_page_never_a_500(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    store.create(app.state.engine, {"name": "Seule", "message": MESSAGE, "recipients": [{"mobile": "0612345678"}]},
                 "default")
    for odd in ("²", "0", "-1", "9" * 5000, str(2**63)):
        shown = browser.get("/campaigns", params={"page": odd})
        assert shown.status_code == 200 and "Seule" in shown.text


def test_camp4_times_are_paris_time_whatever_the_machines_zone(tmp_path, monkeypatch):
    import time
    from datetime import datetime

    from sqlalchemy import update

    from pipelines.store.schema import campaigns as table

    app, browser = _browser(tmp_path, monkeypatch)
    campaign_id = _create(browser, recipients="0612345678")
    with app.state.engine.begin() as connection:  # naive, as SQLite gives it back: UTC
        connection.execute(update(table).values(created_at=datetime(2026, 1, 15, 12, 0)))
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert "15/01/2026 13:00" in browser.get(f"/campaigns/{campaign_id}").text
        assert "15/01/2026 13:00" in browser.get("/campaigns").text
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_camp3_a_saved_list_version_of_5000_digits_is_refused_never_a_500(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    odd = "Clients:" + "9" * 5000
    answer = browser.post("/campaigns/new", data=_form(browser, saved_lists=odd))
    assert answer.status_code in (303, 400), answer.text[:300]
    counted = browser.post("/campaigns/counter", data={**_form(browser), "saved_lists": odd},
                           headers={"HX-Request": "true"})
    assert counted.status_code == 200 and "introuvable" in counted.text
