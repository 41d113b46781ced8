"""Logins attacked (issue 14 §3, USER-1, USER-2): repeated wrong passwords lock the login, a TOTP code is used
once, every login step gives a new session key (no fixation), and the cookies are HttpOnly, SameSite=Lax and
Secure behind HTTPS."""

from __future__ import annotations

import time

from console_helpers import PASSWORD, client, console_app, csrf_of, log_in
from security_helpers import enrol_totp, logged_in, one_account, token_of
from sqlalchemy import select

def test_user1_five_wrong_passwords_lock_the_login_even_against_the_right_password(tmp_path, monkeypatch):
    app, ours = one_account(tmp_path, monkeypatch)
    browser = client(app)
    for _ in range(5):
        assert log_in(browser, ours.login, "Mauvais-mot-2026!").status_code == 401
    locked = log_in(browser, ours.login, PASSWORD)
    assert locked.status_code == 429 and "bloquée" in locked.text, locked.text[:800]
    assert browser.get("/").headers["location"] == "/login"  # no session came of the right password
    for _ in range(6):  # an unknown login is locked alike: guessing reveals no account
        unknown = log_in(browser, "personne@acme.example", "Mauvais-mot-2026!")
    assert unknown.status_code == 429 and "bloquée" in unknown.text
    from pipelines.store.schema import audit_log

    with app.state.engine.connect() as connection:
        actions = [row.action for row in connection.execute(select(audit_log.c.action).where(
            audit_log.c.actor == ours.login).order_by(audit_log.c.id))]
    assert actions == ["login_failed"] * 5 + ["login_locked"], actions



def _second_factor(browser, login: str, code: str):
    """The password, then `code` at /login/second-factor; the answer to the code."""
    assert log_in(browser, login).headers["location"].startswith("/login/second-factor")
    token = csrf_of(browser.get("/login/second-factor"))
    return browser.post("/login/second-factor", data={"code": code, "csrf_token": token})


def test_user2_a_totp_code_is_used_once_its_time_step_never_again(tmp_path, monkeypatch):
    app, ours = one_account(tmp_path, monkeypatch)
    browser = logged_in(app, ours.login)
    totp, first = enrol_totp(browser)
    browser.post("/logout", data={"csrf_token": token_of(browser)})
    following = totp.at(time.time() + 30)  # the next time step's code, valid now (±1 step), not used yet
    accepted = _second_factor(browser, ours.login, following)
    assert accepted.status_code == 303 and browser.get("/").status_code == 200
    browser.post("/logout", data={"csrf_token": token_of(browser)})
    for reused in (following, first):  # the same code again, and the enrolment's (an older step)
        refused = _second_factor(browser, ours.login, reused)
        assert refused.status_code != 303, refused.headers
        assert browser.get("/").headers["location"].startswith("/login/second-factor")  # still half-way
        browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/login/second-factor"))})


def _cookie_key(browser) -> str:
    from pipelines.console.guard import COOKIE

    return browser.cookies.get(COOKIE)


def test_user1_login_gives_a_new_session_key_and_the_one_known_before_is_void(tmp_path, monkeypatch):
    from pipelines.console.guard import COOKIE

    app, ours = one_account(tmp_path, monkeypatch)
    browser = client(app)
    planted_token = csrf_of(browser.get("/login"))
    planted = _cookie_key(browser)  # the key a fixation attacker would have set in the victim's browser  # what an attacker could have set
    assert log_in(browser, ours.login).status_code == 303
    after = _cookie_key(browser)
    assert planted and after and after != planted
    assert csrf_of(browser.get("/")) != planted_token
    attacker = client(app)
    attacker.cookies.set(COOKIE, planted)
    assert attacker.get("/").headers["location"] == "/login"  # the pre-login key opens nothing
    refused = browser.post("/logout", data={"csrf_token": planted_token})
    assert refused.status_code == 403  # the token of the old key is void too
    # with a second factor: a new key at the password step, and another at the end
    totp, _ = enrol_totp(browser)
    browser.post("/logout", data={"csrf_token": token_of(browser)})
    browser.get("/login")
    keys = [_cookie_key(browser)]
    assert log_in(browser, ours.login).status_code == 303
    keys.append(_cookie_key(browser))
    token = csrf_of(browser.get("/login/second-factor"))
    code = totp.at(time.time() + 30)  # not the enrolment's code: that time step is used
    assert browser.post("/login/second-factor", data={"code": code, "csrf_token": token}).status_code == 303
    keys.append(_cookie_key(browser))
    assert len(set(keys)) == 3, keys
    for old in keys[:2]:
        stale = client(app)
        stale.cookies.set(COOKIE, old)
        assert stale.get("/").headers["location"] == "/login"




def _set_cookies(answer) -> dict[str, str]:
    return {value.split("=", 1)[0]: value.lower() for value in answer.headers.get_list("set-cookie")}


def test_user1_cookies_are_httponly_samesite_lax_and_secure_behind_https(tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    from pipelines.console.guard import COOKIE

    app, ours = one_account(tmp_path, monkeypatch, https=True)
    browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
    first = _set_cookies(browser.get("/login"))[COOKIE]
    logged = _set_cookies(log_in(browser, ours.login))[COOKIE]
    totp, _ = enrol_totp(browser)
    browser.post("/logout", data={"csrf_token": token_of(browser)})
    log_in(browser, ours.login)
    trusted = browser.post("/login/second-factor", data={
        "code": totp.at(time.time() + 30), "trust": "1", "csrf_token": csrf_of(browser.get("/login/second-factor"))})
    cookies = _set_cookies(trusted)
    assert set(cookies) >= {COOKIE, "smsflow_device"}, cookies
    for value in (first, logged, *cookies.values()):
        assert "httponly" in value and "samesite=lax" in value and "secure" in value and "path=/" in value, value
    plain_app = console_app(tmp_path, monkeypatch)  # the same store, served over plain HTTP (development)
    plain_cookie = _set_cookies(log_in(client(plain_app), ours.login))[COOKIE]
    assert "httponly" in plain_cookie and "samesite=lax" in plain_cookie and "secure" not in plain_cookie


def test_user1_login_never_redirects_to_another_site(tmp_path, monkeypatch):
    app, ours = one_account(tmp_path, monkeypatch)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
                   "\\\\evil.example", "/%2F%2Fevil.example"):
        browser = client(app)
        token = csrf_of(browser.get("/login", params={"next": target}))
        answer = browser.post("/login", data={"login": ours.login, "password": PASSWORD, "next": target,
                                              "csrf_token": token})
        location = answer.headers["location"]
        assert answer.status_code == 303 and location.startswith("/") and not location.startswith(("//", "/\\")), \
            (target, location)
