"""Saved lists in the extranet (LIST-4): the same store as `smsflow lists`, each change audited, another account's
lists absent (ACC-3)."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from console_helpers import add_user, client, console_app, csrf_of, log_in

CONTACTS = "Prénom;Portable;Ville\nJérôme;06 12 34 56 78;Orléans\nZoé;0698765432;Besançon\n".encode("cp1252")


@pytest.fixture
def app(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ana@example.fr", role="user")
    add_user(app, "bob@example.fr", account="autre", role="admin")
    return app


def _logged(app, login="ana@example.fr"):
    browser = client(app)
    log_in(browser, login)
    return browser


def _import(browser, name: str, content: bytes = CONTACTS, filename: str = "contacts.csv"):
    """Preview the upload (htmx), then save it under `name` as the page's second form does."""
    token = csrf_of(browser.get("/lists"))
    preview = browser.post("/lists/preview", data={"csrf_token": token}, headers={"HX-Request": "true"},
                           files={"file": (filename, io.BytesIO(content), "text/csv")})
    ref = re.search(r'name="upload" value="([^"]+)"', preview.text).group(1)
    return browser.post("/lists/import", data={"csrf_token": token, "name": name, "upload": ref})


def _audited(app, action: str) -> list[tuple]:
    from pipelines.store.schema import audit_log

    with app.state.engine.begin() as connection:
        return connection.execute(select(audit_log.c.actor, audit_log.c.target, audit_log.c.detail)
                                  .where(audit_log.c.action == action)).all()


def test_list4_import_saves_the_list_as_the_cli_would(app, tmp_path):
    from pipelines.store.lists import import_list, show

    browser = _logged(app)
    saved = _import(browser, "Clients Loiret")
    assert saved.status_code == 303 and saved.headers["location"].startswith("/lists/Clients%20Loiret?ok=")
    view = show(app.state.engine, "default", "Clients Loiret")
    assert view.saved.version == 1 and view.saved.rows == 2 and view.saved.mobile_column == "Portable"
    assert [r["int_mobile"] for r in view.recipients] == ["+33612345678", "+33698765432"]
    assert view.recipients[0]["fields"] == {"Prénom": "Jérôme", "Ville": "Orléans"}
    cli_file = tmp_path / "same.csv"
    cli_file.write_bytes(CONTACTS)
    by_cli = show(app.state.engine, "default", import_list(app.state.engine, "default", "cli", cli_file).name)
    assert by_cli.recipients == view.recipients  # one library, two faces
    assert _audited(app, "list.import") == [("ana@example.fr", "Clients Loiret",
                                             "version=1 rows=2 file=contacts.csv")]
    index = browser.get("/lists")
    assert "Clients Loiret" in index.text and "/lists/Clients%20Loiret" in index.text
    page = browser.get("/lists/Clients%20Loiret")
    assert page.status_code == 200 and "Jérôme" in page.text and "+33612345678" in page.text
    assert "import contacts.csv" in page.text  # the version's change


def test_list4_import_again_makes_a_new_version(app):
    from pipelines.store.lists import show

    browser = _logged(app)
    _import(browser, "clients")
    _import(browser, "clients", "Mobile\n0611111111\n".encode(), "v2.txt")
    view = show(app.state.engine, "default", "clients")
    assert view.saved.version == 2 and view.saved.rows == 1
    old = browser.get("/lists/clients?version=1")
    assert "Jérôme" in old.text and "Version 1" in old.text
    assert browser.get("/lists/clients?version=9").status_code == 404


def test_list4_import_refuses_a_bad_name_or_a_missing_upload(app):
    browser = _logged(app)
    refused = _import(browser, "manual")
    assert refused.status_code == 400 and "pas été enregistrée" in refused.text and "LIST-4" in refused.text
    token = csrf_of(browser.get("/lists"))
    forged = browser.post("/lists/import", data={"csrf_token": token, "name": "x", "upload": "../../etc/passwd"})
    assert forged.status_code == 400 and "abord un fichier" in forged.text


def test_list4_an_upload_of_another_account_cannot_be_imported(app):
    bob = _logged(app, "bob@example.fr")
    token = csrf_of(bob.get("/lists"))
    preview = bob.post("/lists/preview", data={"csrf_token": token}, headers={"HX-Request": "true"},
                       files={"file": ("c.csv", io.BytesIO(CONTACTS), "text/csv")})
    ref = re.search(r'name="upload" value="([^"]+)"', preview.text).group(1)
    ana = _logged(app)
    stolen = ana.post("/lists/import", data={"csrf_token": csrf_of(ana.get("/lists")), "name": "x", "upload": ref})
    assert stolen.status_code == 400


def test_list4_search_by_number_in_any_format_or_by_text(app):
    browser = _logged(app)
    _import(browser, "clients")
    by_number = browser.get("/lists/clients", params={"q": "+33 6 98 76 54 32"})
    assert "Zoé" in by_number.text and "Jérôme" not in by_number.text and "1 destinataire(s)" in by_number.text
    by_text = browser.get("/lists/clients", params={"q": "orléans"})
    assert "Jérôme" in by_text.text and "Zoé" not in by_text.text


def test_list4_add_and_remove_a_recipient(app):
    from pipelines.store.lists import show

    browser = _logged(app)
    _import(browser, "clients")
    token = csrf_of(browser.get("/lists/clients"))
    added = browser.post("/lists/clients/add", data={"csrf_token": token, "number": "06 44 55 66 77",
                                                     "field:Prénom": "Élise", "field:Ville": "Tours"})
    assert added.status_code == 303 and "ok=" in added.headers["location"]
    view = show(app.state.engine, "default", "clients")
    assert view.saved.version == 2 and view.recipients[-1]["fields"] == {"Prénom": "Élise", "Ville": "Tours"}
    again = browser.post("/lists/clients/add", data={"csrf_token": token, "number": "+33644556677"})
    assert again.status_code == 303 and "error=" in again.headers["location"]
    assert "already in saved list" in browser.get(again.headers["location"]).text
    removed = browser.post("/lists/clients/remove", data={"csrf_token": token, "number": "+33612345678"})
    assert removed.status_code == 303
    assert [r["int_mobile"] for r in show(app.state.engine, "default", "clients").recipients] == \
        ["+33698765432", "+33644556677"]
    assert _audited(app, "list.add")[0][1:] == ("clients", "number=06 44 55 66 77 version=2")
    assert _audited(app, "list.remove")[0][1:] == ("clients", "number=+33612345678 version=3")


def test_list4_delete_a_list(app):
    from pipelines.store.lists import list_lists

    browser = _logged(app)
    _import(browser, "clients")
    page = browser.get("/lists/clients")
    assert "data-confirm" in page.text
    deleted = browser.post("/lists/clients/delete", data={"csrf_token": csrf_of(page)})
    assert deleted.status_code == 303 and deleted.headers["location"].startswith("/lists?ok=")
    assert list_lists(app.state.engine, "default") == []
    assert _audited(app, "list.delete")[0][1] == "clients"


def test_acc3_another_accounts_list_is_absent_on_every_route(app):
    from pipelines.store.lists import list_lists

    bob = _logged(app, "bob@example.fr")
    _import(bob, "secret")
    ana = _logged(app)
    token = csrf_of(ana.get("/lists"))
    assert "secret" not in ana.get("/lists").text
    missing = ana.get("/lists/absent")
    for url in ("/lists/secret", "/lists/secret?version=1", "/lists/secret?q=06"):
        answer = ana.get(url)
        assert answer.status_code == 404 and answer.text == missing.text
    for action, data in (("add", {"number": "0612345679"}), ("remove", {"number": "0612345678"}),
                         ("delete", {})):
        answer = ana.post(f"/lists/secret/{action}", data={"csrf_token": token, **data})
        assert answer.status_code == 404, action
    saved = list_lists(app.state.engine, "autre")
    assert [(s.name, s.version, s.rows) for s in saved] == [("secret", 1, 2)]


def test_list4_pages_need_a_login(app):
    anonymous = client(app)
    for url in ("/lists", "/lists/clients"):
        assert anonymous.get(url).status_code in (302, 303, 307)


@pytest.mark.parametrize("version", ["²", "٣", "0", "-1", "1e3", "9" * 5000, str(2**63)])
def test_list4_a_version_no_list_can_have_is_not_found_never_a_500(app, version):
    browser = _logged(app)
    _import(browser, "Clients")
    assert browser.get("/lists/Clients", params={"version": version}).status_code == 404
    assert browser.get("/lists/Clients", params={"version": "1"}).status_code == 200


def test_list4_a_refused_change_says_why_with_a_signed_message_a_forged_one_shows_nothing(app):
    browser = _logged(app)
    _import(browser, "Clients")
    token = csrf_of(browser.get("/lists/Clients"))
    refused = browser.post("/lists/Clients/remove", data={"csrf_token": token, "number": "0600000000"})
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    forged = browser.get("/lists/Clients", params={"error": "Appelez le 0899 000 000"})
    assert "0899" not in forged.text
