"""« Mon compte » (USER-1, USER-2): my password, logging out of every device, new recovery codes, the browsers I
trust; every action audited."""

from __future__ import annotations

import time

import pyotp
from console_helpers import PASSWORD, add_user, client, console_app, csrf_of, log_in
from sqlalchemy import select
from test_second_factor import CODES, enrol_totp, log_out, second_step

from pipelines.store.schema import audit_log


def logged_in(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com", first_name="Ann", last_name="Lee", mobile="+33612345678")
    browser = client(app)
    log_in(browser, "ann@example.com")
    return app, browser


def audited(app) -> list[str]:
    with app.state.engine.connect() as connection:
        return connection.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars().all()


def test_user1_the_account_page_needs_a_login_and_shows_who_i_am(tmp_path, monkeypatch):
    app, browser = logged_in(tmp_path, monkeypatch)
    assert client(app).get("/account").headers["location"].startswith("/login")
    page = browser.get("/account")
    assert page.status_code == 200
    assert "Ann Lee" in page.text and "+33612345678" in page.text and "Aucun second facteur" in page.text


def test_user1_changing_my_password_says_what_it_lacks_in_french(tmp_path, monkeypatch):
    app, browser = logged_in(tmp_path, monkeypatch)
    page = browser.get("/account")
    weak = browser.post("/account/password", data={"current": PASSWORD, "password": "motdepasse",
                                                   "password_again": "motdepasse", "csrf_token": csrf_of(page)})
    assert weak.status_code == 400
    for missing in ("au moins 11 caractères", "une majuscule", "un chiffre", "un caractère spécial"):
        assert f"doit contenir {missing}" in weak.text
    wrong = browser.post("/account/password", data={"current": "Pas-le-bon-2026", "password": "Nouveau-mot-2027",
                                                    "password_again": "Nouveau-mot-2027", "csrf_token": csrf_of(page)})
    assert wrong.status_code == 400 and "mot de passe actuel est incorrect" in wrong.text
    differ = browser.post("/account/password", data={"current": PASSWORD, "password": "Nouveau-mot-2027",
                                                     "password_again": "Nouveau-mot-2028", "csrf_token": csrf_of(page)})
    assert differ.status_code == 400 and "pas identiques" in differ.text


def test_user1_a_new_password_ends_my_other_sessions_and_keeps_this_one(tmp_path, monkeypatch):
    app, browser = logged_in(tmp_path, monkeypatch)
    other = client(app)
    log_in(other, "ann@example.com")
    changed = browser.post("/account/password", data={
        "current": PASSWORD, "password": "Nouveau-mot-2027", "password_again": "Nouveau-mot-2027",
        "csrf_token": csrf_of(browser.get("/account"))})
    assert changed.headers["location"].startswith("/account?ok=")
    assert browser.get("/account").status_code == 200
    assert other.get("/account").status_code == 303
    assert log_in(client(app), "ann@example.com").status_code == 401
    assert log_in(client(app), "ann@example.com", "Nouveau-mot-2027").headers["location"] == "/"
    assert "password_change" in audited(app)


def test_user1_logout_everywhere_ends_another_clients_session(tmp_path, monkeypatch):
    app, browser = logged_in(tmp_path, monkeypatch)
    other = client(app)
    log_in(other, "ann@example.com")
    assert other.get("/account").status_code == 200
    answer = browser.post("/account/logout-everywhere", data={"csrf_token": csrf_of(browser.get("/account"))})
    assert answer.headers["location"] == "/login"
    assert other.get("/account").headers["location"].startswith("/login")
    assert browser.get("/account").headers["location"].startswith("/login")
    assert "logout_everywhere" in audited(app)


def test_user2_new_recovery_codes_void_the_old_ones(tmp_path, monkeypatch):
    app, browser = logged_in(tmp_path, monkeypatch)
    _, old = enrol_totp(browser)
    assert "Codes de secours restants : 10 sur 10" in browser.get("/account").text
    renewed = browser.post("/account/recovery-codes", data={"current": PASSWORD,
                                                            "csrf_token": csrf_of(browser.get("/account"))})
    new = CODES.findall(renewed.text)
    assert len(new) == 10 and not set(new) & set(old)
    other = client(app)
    log_in(other, "ann@example.com")
    assert second_step(other, recovery=old[0]).status_code == 401
    assert second_step(other, recovery=new[0]).headers["location"] == "/"
    assert "recovery_codes_renewed" in audited(app)


def test_user2_trusted_devices_are_listed_and_forgotten(tmp_path, monkeypatch):
    app, browser = logged_in(tmp_path, monkeypatch)
    secret, _ = enrol_totp(browser)
    log_out(browser)
    log_in(browser, "ann@example.com")
    second_step(browser, pyotp.TOTP(secret).at(time.time() + 30), trust="1")
    page = browser.get("/account")
    assert "Oublier cet appareil" in page.text and "testclient" in page.text
    forgotten = browser.post("/account/devices/forget", data={"csrf_token": csrf_of(page)})
    assert "Appareils" in browser.get(forgotten.headers["location"]).text
    assert "Oublier cet appareil" not in browser.get("/account").text
    log_out(browser)
    assert log_in(browser, "ann@example.com").headers["location"] == "/login/second-factor"
    assert "device_forgotten" in audited(app)


def test_user2_a_stolen_session_alone_cannot_replace_the_second_factor_or_its_recovery_codes(tmp_path, monkeypatch):
    """Changing (or adding) the method and new recovery codes ask for the current password again; a wrong one is
    refused (and counts towards the lockout), nothing changes."""
    from pipelines.store.second_factor import pending_totp

    app, browser = logged_in(tmp_path, monkeypatch)
    secret, old = enrol_totp(browser)
    choose = browser.get("/account/second-factor")
    assert 'name="current"' in choose.text and 'for="current"' in choose.text
    for typed in ({}, {"current": "Pas-le-bon-2026"}):
        refused = browser.post("/account/second-factor", data={"method": "totp", "csrf_token": csrf_of(choose),
                                                                **typed})
        assert refused.status_code == 400 and "Le mot de passe actuel est incorrect." in refused.text
    ann = browser.get("/account")
    assert pending_totp(app.state.engine, 1) is None
    refused = browser.post("/account/recovery-codes", data={"current": "Pas-le-bon-2026", "csrf_token": csrf_of(ann)})
    assert refused.status_code == 400 and not CODES.findall(refused.text)
    assert "password_recheck_failed" in audited(app)
    log_out(browser)
    log_in(browser, "ann@example.com")
    assert second_step(browser, recovery=old[0]).headers["location"] == "/"  # the old codes still work


def test_user2_a_device_id_that_is_no_store_id_is_a_400_and_forgets_nothing(tmp_path, monkeypatch):
    """"²".isdigit() is True and int("²") fails; 2**64 overflows SQLite's integers: neither is a 500, nor "all"."""
    app, browser = logged_in(tmp_path, monkeypatch)
    secret, _ = enrol_totp(browser)
    log_out(browser)
    log_in(browser, "ann@example.com")
    second_step(browser, pyotp.TOTP(secret).at(time.time() + 30), trust="1")
    for device in ("\u00b2", "-1", str(2 ** 64), "abc"):
        answer = browser.post("/account/devices/forget", data={"device": device,
                                                               "csrf_token": csrf_of(browser.get("/account"))})
        assert answer.status_code == 400 and "Appareil inconnu." in answer.text
    assert "Oublier cet appareil" in browser.get("/account").text
