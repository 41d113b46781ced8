"""Blacklists in the extranet (BL-1, BL-2, PLUS-6): the same store as `smsflow blacklist`; admins change the
account's, a superadmin the global one, a `user` reads; every change audited in both audits."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from console_helpers import add_user, client, console_app, csrf_of, log_in


@pytest.fixture
def app(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "admin@example.fr", role="admin")
    add_user(app, "user@example.fr", role="user")
    add_user(app, "root@example.fr", role="admin", superadmin=True)
    add_user(app, "other@example.fr", account="autre", role="admin")
    return app


def _logged(app, login):
    browser = client(app)
    log_in(browser, login)
    return browser


def _token(browser, url="/blacklists"):
    return csrf_of(browser.get(url))


def _numbers(app, kind="own", account="default") -> list[str]:
    from pipelines.store.blacklists import list_numbers

    return list_numbers(app.state.engine, kind, account).get_column("number").to_list()


def _console_audit(app, action):
    from pipelines.store.schema import audit_log

    with app.state.engine.begin() as connection:
        return connection.execute(select(audit_log.c.actor, audit_log.c.target, audit_log.c.detail)
                                  .where(audit_log.c.action == action)).all()


def test_bl1_admin_adds_and_removes_numbers_audited_as_the_cli_does(app):
    from pipelines.store.blacklists import history

    admin = _logged(app, "admin@example.fr")
    token = _token(admin)
    added = admin.post("/blacklists/own/add", data={"csrf_token": token, "numbers": "06 12 34 56 78\n+33698765432"})
    assert added.status_code == 303 and added.headers["location"].startswith("/blacklists/own?ok=")
    assert _numbers(app) == ["+33612345678", "+33698765432"]
    page = admin.get("/blacklists")
    assert "+33612345678" in page.text and "2 numéro(s)" in page.text and "Extranet" in page.text
    removed = admin.post("/blacklists/own/remove", data={"csrf_token": token, "number": "+33612345678"})
    assert removed.status_code == 303 and _numbers(app) == ["+33698765432"]
    changes = history(app.state.engine, "0612345678", "default").select("kind", "action", "by").rows()
    assert changes == [("own", "add", "admin@example.fr"), ("own", "remove", "admin@example.fr")]
    assert _console_audit(app, "blacklist.own.add") == [("admin@example.fr", "06 12 34 56 78, +33698765432",
                                                         "asked=2 added=2")]
    assert _console_audit(app, "blacklist.own.remove") == [("admin@example.fr", "+33612345678", None)]
    shown = admin.get("/blacklists/history")
    assert "Ajout" in shown.text and "Retrait" in shown.text and "admin@example.fr" in shown.text


def test_bl1_invalid_or_missing_numbers_are_refused(app):
    admin = _logged(app, "admin@example.fr")
    token = _token(admin)
    wrong = admin.post("/blacklists/own/add", data={"csrf_token": token, "numbers": "0612345678, 12ab"})
    assert "error=" in wrong.headers["location"] and _numbers(app) == []
    assert "12ab" in admin.get(wrong.headers["location"]).text
    absent = admin.post("/blacklists/own/remove", data={"csrf_token": token, "number": "+33611111111"})
    assert "error=" in absent.headers["location"]


def test_bl1_a_user_reads_and_searches_but_may_not_change(app):
    from pipelines.store.blacklists import add_numbers

    add_numbers(app.state.engine, "own", "default", ["0612345678", "0698765432"], source="cli")
    user = _logged(app, "user@example.fr")
    page = user.get("/blacklists/own")
    assert page.status_code == 200 and "+33612345678" in page.text
    assert "Consultation seule" in page.text and "/blacklists/own/add" not in page.text
    found = user.get("/blacklists/own", params={"q": "06 98 76 54 32"})
    assert "+33698765432" in found.text and "+33612345678" not in found.text
    assert "+33612345678" in user.get("/blacklists/own", params={"q": "5678"}).text  # a fragment of the number
    token = _token(user)
    for action, data in (("add", {"numbers": "0611111111"}), ("remove", {"number": "+33612345678"})):
        assert user.post(f"/blacklists/own/{action}", data={"csrf_token": token, **data}).status_code == 403
    refused = user.post("/blacklists/own/import", data={"csrf_token": token},
                        files={"file": ("n.txt", io.BytesIO(b"0611111111\n"), "text/plain")})
    assert refused.status_code == 403
    assert _numbers(app) == ["+33612345678", "+33698765432"]


def test_bl1_global_blacklist_only_for_a_superadmin(app):
    admin, root = _logged(app, "admin@example.fr"), _logged(app, "root@example.fr")
    token = _token(admin)
    assert admin.get("/blacklists/global").status_code == 403
    assert admin.post("/blacklists/global/add", data={"csrf_token": token, "numbers": "0612345678"}).status_code \
        == 403
    assert "/blacklists/global" not in admin.get("/blacklists").text
    added = root.post("/blacklists/global/add", data={"csrf_token": _token(root), "numbers": "0612345678"})
    assert added.status_code == 303 and _numbers(app, "global") == ["+33612345678"]
    assert "+33612345678" in root.get("/blacklists/global").text
    assert _numbers(app, "own") == []


def test_bl1_client_blacklist_shared_read_only_for_users(app):
    from pipelines.store import set_account

    set_account(app.state.engine, "default", client="acme")
    admin, user = _logged(app, "admin@example.fr"), _logged(app, "user@example.fr")
    admin.post("/blacklists/client/add", data={"csrf_token": _token(admin), "numbers": "0612345678"})
    assert _numbers(app, "client") == ["+33612345678"]
    page = user.get("/blacklists/client")
    assert "+33612345678" in page.text and "Consultation seule" in page.text
    assert user.post("/blacklists/client/add", data={"csrf_token": _token(user), "numbers": "0698765432"}) \
        .status_code == 403


def test_bl1_import_a_file_of_numbers(app):
    admin = _logged(app, "admin@example.fr")
    token = _token(admin)
    content = "Nom;GSM\nDurand;06 12 34 56 78\nMartin;0698765432\n".encode("cp1252")
    imported = admin.post("/blacklists/own/import", data={"csrf_token": token},
                          files={"file": ("stop.csv", io.BytesIO(content), "text/csv")})
    assert imported.status_code == 303 and "ok=" in imported.headers["location"]
    plain = admin.post("/blacklists/own/import", data={"csrf_token": token},
                       files={"file": ("plus.txt", io.BytesIO(b"0611111111\n0612345678\n"), "text/plain")})
    assert plain.status_code == 303
    assert _numbers(app) == ["+33611111111", "+33612345678", "+33698765432"]
    assert [row[2] for row in _console_audit(app, "blacklist.own.import")] == ["added=2", "added=1"]
    bad = admin.post("/blacklists/own/import", data={"csrf_token": token},
                     files={"file": ("x.html", io.BytesIO(b"<b>0611111111</b>"), "text/html")})
    assert "error=" in bad.headers["location"] and ".csv et .txt" in admin.get(bad.headers["location"]).text


def test_bl1_each_account_sees_only_its_own_blacklist(app):
    from pipelines.store.blacklists import add_numbers

    add_numbers(app.state.engine, "own", "autre", ["0699999999"], source="stop", text="STOP")
    admin = _logged(app, "admin@example.fr")
    assert "+33699999999" not in admin.get("/blacklists/own").text
    assert "+33699999999" not in admin.get("/blacklists/history").text
    other = _logged(app, "other@example.fr")
    history = other.get("/blacklists/history")
    assert "+33699999999" in history.text and "Réponse STOP" in history.text


def test_bl1_blacklist_pages_are_paged(app):
    from pipelines.store.blacklists import add_numbers

    add_numbers(app.state.engine, "own", "default", [f"+336{n:08d}" for n in range(1, 61)], source="cli")
    admin = _logged(app, "admin@example.fr")
    first = admin.get("/blacklists/own")
    assert "+33600000001" in first.text and "+33600000051" not in first.text and "Page 1 sur 2" in first.text
    second = admin.get("/blacklists/own", params={"page": 2})
    assert "+33600000051" in second.text and "+33600000001" not in second.text
    assert admin.get("/blacklists/nope").status_code == 404


@pytest.mark.parametrize("number", ["²", "٣", "-2", "0", "9" * 5000, str(2**63)])
def test_bl1_an_odd_page_number_shows_a_page_never_a_500(app, number):
    from pipelines.store.blacklists import add_numbers

    add_numbers(app.state.engine, "own", "default", [f"+336{n:08d}" for n in range(1, 61)], source="cli")
    admin = _logged(app, "admin@example.fr")
    for url in ("/blacklists/own", "/blacklists/history"):
        shown = admin.get(url, params={"page": number})
        assert shown.status_code == 200 and "Page " in shown.text


def test_bl1_a_forged_error_link_puts_no_words_on_the_page(app):
    admin = _logged(app, "admin@example.fr")
    assert "Appelez" not in admin.get("/blacklists/own", params={"error": "Appelez le 0899"}).text
    assert "Appelez" not in admin.get("/blacklists/own", params={"ok": "Appelez le 0899", "sig": "0" * 32}).text
