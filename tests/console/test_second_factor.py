"""USER-2 in a browser: enrolling an authenticator app from the QR page's secret, SMS (through the real SMSC
simulator) or email (through the outbox); the second step of login with each, one use per code, recovery codes,
trusted devices, forced enrolment, and a new session key at each step."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
from console_helpers import PASSWORD, add_user, client, console_app, csrf_of, log_in
from sqlalchemy import select, update
from test_auth import outbox_mails

from pipelines.console.guard import COOKIE
from pipelines.store.engine import now
from pipelines.store.schema import accounts, audit_log, trusted_devices, user_codes, users

CODES = re.compile(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>")


def enrol_totp(browser) -> tuple[str, list[str]]:
    """Enrol the app from the page's secret and a first code; (the secret, the recovery codes shown)."""
    choose = browser.get("/account/second-factor")
    started = browser.post("/account/second-factor", data={"method": "totp", "current": PASSWORD,
                                                            "csrf_token": csrf_of(choose)})
    assert started.headers["location"] == "/account/second-factor?method=totp"
    page = browser.get(started.headers["location"])
    assert '<div class="qr"><svg' in page.text and "style=" not in page.text  # CSP: no inline style
    secret = re.search(r'<code class="secret" id="secret">([A-Z2-7]+)</code>', page.text).group(1)
    confirmed = browser.post("/account/second-factor/confirm", data={
        "method": "totp", "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(page)})
    assert confirmed.status_code == 200, confirmed.text
    return secret, CODES.findall(confirmed.text)


def enrol_email(browser, tmp_path) -> None:
    choose = browser.get("/account/second-factor")
    browser.post("/account/second-factor", data={"method": "email", "current": PASSWORD,
                                                 "csrf_token": csrf_of(choose)})
    page = browser.get("/account/second-factor?method=email")
    code = last_code(tmp_path)
    assert browser.post("/account/second-factor/confirm", data={
        "method": "email", "code": code, "csrf_token": csrf_of(page)}).status_code == 200


def last_code(tmp_path) -> str:
    return re.search(r"\b(\d{6})\b", outbox_mails(tmp_path)[-1].get_content()).group(1)


def age_sends(app, seconds: float) -> None:
    """Every code sent so far, as if sent `seconds` earlier (the resend limits count them from the audit log)."""
    with app.state.engine.begin() as connection:
        rows = connection.execute(select(audit_log.c.id, audit_log.c.at)
                                  .where(audit_log.c.action == "second_factor_code_sent")).all()
        for row in rows:
            connection.execute(update(audit_log).where(audit_log.c.id == row.id)
                               .values(at=row.at - timedelta(seconds=seconds)))


def log_out(browser) -> None:
    assert browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/account"))}).status_code == 303


def second_step(browser, code: str = "", **fields):
    page = browser.get("/login/second-factor")
    assert page.status_code == 200, page.headers.get("location")
    return browser.post("/login/second-factor", data={"code": code, "csrf_token": csrf_of(page), **fields})


def test_user2_totp_enrolled_from_the_qr_page_then_asked_at_login_with_a_new_key_each_step(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    first = client(app)
    log_in(first, "ann@example.com")
    secret, recovery = enrol_totp(first)
    assert len(recovery) == 10

    browser = client(app)
    browser.get("/login")
    keys = [browser.cookies.get(COOKIE)]
    assert log_in(browser, "ann@example.com").headers["location"] == "/login/second-factor"
    keys.append(browser.cookies.get(COOKIE))
    assert browser.get("/campaigns").headers["location"] == "/login/second-factor"  # half-open: nothing else
    later = pyotp.TOTP(secret).at(time.time() + 30)  # the next step: accepted (±1), not used yet
    assert second_step(browser, later).headers["location"] == "/"
    keys.append(browser.cookies.get(COOKIE))
    assert len(set(keys)) == 3  # no session fixation: a new key at each step
    assert browser.get("/account").status_code == 200
    stale = client(app)
    stale.cookies.set(COOKIE, keys[1])
    assert stale.get("/login/second-factor").headers["location"].startswith("/login")


def test_user2_a_totp_code_is_used_once(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    secret, _ = enrol_totp(browser)
    code = pyotp.TOTP(secret).at(time.time() + 30)
    one, two = client(app), client(app)
    log_in(one, "ann@example.com"), log_in(two, "ann@example.com")
    assert second_step(one, code).headers["location"] == "/"
    reused = second_step(two, code)
    assert reused.status_code == 401 and "Code incorrect" in reused.text
    with app.state.engine.connect() as connection:
        assert "second_factor_failed" in connection.execute(select(audit_log.c.action)).scalars().all()


def test_user2_email_code_at_login_through_the_outbox_single_use(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    enrol_email(browser, tmp_path)
    again = client(app)
    assert log_in(again, "ann@example.com").headers["location"] == "/login/second-factor"
    mail = outbox_mails(tmp_path)[-1]
    assert (mail["To"], mail["Subject"]) == ("ann@example.com", "Votre code de connexion smsflow")
    assert "par email" in again.get("/login/second-factor").text
    code = last_code(tmp_path)
    assert second_step(again, code).headers["location"] == "/"
    third = client(app)
    log_in(third, "ann@example.com")
    assert second_step(third, code).status_code == 401  # the first code was used, and voided by the new one


def test_user2_an_expired_email_code_is_refused_and_resend_sends_a_new_one(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    enrol_email(browser, tmp_path)
    again = client(app)
    log_in(again, "ann@example.com")
    code = last_code(tmp_path)
    with app.state.engine.begin() as connection:
        connection.execute(update(user_codes).where(user_codes.c.purpose == "login")
                           .values(created_at=now() - timedelta(minutes=6), expires_at=now() - timedelta(minutes=1)))
    assert second_step(again, code).status_code == 401
    page = again.get("/login/second-factor")
    assert "Renvoyer le code" in page.text
    age_sends(app, seconds=31)  # the 30 s cooldown since the login's code has passed
    resent = again.post("/login/second-factor/resend", data={"csrf_token": csrf_of(page)})
    assert resent.headers["location"].startswith("/login/second-factor?ok=")
    fresh = last_code(tmp_path)
    assert second_step(again, fresh).headers["location"] == "/"


def test_user2_a_recovery_code_works_once_instead_of_the_code(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    _, recovery = enrol_totp(browser)
    one = client(app)
    log_in(one, "ann@example.com")
    assert second_step(one, recovery=recovery[0]).headers["location"] == "/"
    two = client(app)
    log_in(two, "ann@example.com")
    assert second_step(two, recovery=recovery[0]).status_code == 401
    assert second_step(two, recovery=recovery[1]).headers["location"] == "/"


def test_user2_a_trusted_device_skips_the_second_factor_for_seven_days(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    ann = add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    secret, _ = enrol_totp(browser)
    log_out(browser)
    log_in(browser, "ann@example.com")
    trusted = second_step(browser, pyotp.TOTP(secret).at(time.time() + 30), trust="1")
    cookie = trusted.headers.get_list("set-cookie")
    assert any(value.startswith("smsflow_device=") and "HttpOnly" in value and "Max-Age=604800" in value
               for value in cookie)
    log_out(browser)
    assert log_in(browser, "ann@example.com").headers["location"] == "/"  # skipped on this browser
    assert log_in(client(app), "ann@example.com").headers["location"] == "/login/second-factor"  # not elsewhere
    with app.state.engine.begin() as connection:
        connection.execute(update(trusted_devices).where(trusted_devices.c.user_id == ann.id)
                           .values(expires_at=now() - timedelta(seconds=1)))
    log_out(browser)
    assert log_in(browser, "ann@example.com").headers["location"] == "/login/second-factor"  # expired


def test_user2_an_account_that_requires_a_second_factor_makes_its_users_enrol_at_login(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    with app.state.engine.begin() as connection:
        connection.execute(update(accounts).where(accounts.c.id == "default").values(require_second_factor=True))
    browser = client(app)
    assert log_in(browser, "ann@example.com").headers["location"] == "/login/second-factor"
    partial = browser.cookies.get(COOKIE)
    assert browser.get("/login/second-factor").headers["location"] == "/account/second-factor"
    assert browser.get("/account").headers["location"] == "/login/second-factor"  # the account page needs more
    assert 'name="current"' not in browser.get("/account/second-factor").text  # the password was just typed
    choose = browser.get("/account/second-factor")
    assert browser.post("/account/second-factor", data={"method": "totp", "csrf_token": csrf_of(choose)}
                        ).status_code == 303  # a forced enrolment does not ask for it again
    secret, codes = enrol_totp(browser)
    assert len(codes) == 10 and browser.cookies.get(COOKIE) != partial
    assert browser.get("/account").status_code == 200
    with app.state.engine.connect() as connection:
        assert connection.execute(select(users.c.second_factor)).scalar_one() == "totp"
    assert secret


def test_user2_sms_code_sent_through_smsflows_own_smpp_client(tmp_path, monkeypatch, smsc):
    simulator = smsc()
    app = console_app(tmp_path, monkeypatch, smsc=f"{simulator.host}:{simulator.port}")
    add_user(app, "ann@example.com", mobile="+33612345678")
    browser = client(app)
    log_in(browser, "ann@example.com")
    choose = browser.get("/account/second-factor")
    assert browser.post("/account/second-factor", data={
        "method": "sms", "current": PASSWORD, "csrf_token": csrf_of(choose)}).headers["location"] == "/account/second-factor?method=sms"
    sent = simulator.records("message")
    assert [(message["destination"], message["data_coding"]) for message in sent] == [("33612345678", 0)]
    code = re.search(r"\b(\d{6})\b", sent[-1]["text"]).group(1)
    page = browser.get("/account/second-factor?method=sms")
    assert browser.post("/account/second-factor/confirm", data={
        "method": "sms", "code": code, "csrf_token": csrf_of(page)}).status_code == 200
    again = client(app)
    assert log_in(again, "ann@example.com").headers["location"] == "/login/second-factor"
    assert "par SMS" in again.get("/login/second-factor").text
    login_code = re.search(r"\b(\d{6})\b", simulator.records("message")[-1]["text"]).group(1)
    assert second_step(again, login_code).headers["location"] == "/"


def test_user2_sms_is_refused_as_a_method_without_an_smsc(tmp_path, monkeypatch):
    monkeypatch.delenv("SMSFLOW_SMSC", raising=False)
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com", mobile="+33612345678")
    browser = client(app)
    log_in(browser, "ann@example.com")
    choose = browser.get("/account/second-factor")
    assert "envoi de SMS non configuré" in choose.text
    refused = browser.post("/account/second-factor", data={"method": "sms", "current": PASSWORD,
                                                           "csrf_token": csrf_of(choose)})
    assert refused.status_code == 400 and "pas configuré" in refused.text


def test_user2_a_second_factor_reset_meanwhile_lets_the_password_suffice(tmp_path, monkeypatch):
    """The second factor was reset between the two steps (in the store: an administrator's reset also ends the
    session): no loop between pages, and the GET changes nothing: a "Continuer" button (a POST) opens the session."""
    app = console_app(tmp_path, monkeypatch)
    ann = add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    enrol_totp(browser)
    log_out(browser)
    assert log_in(browser, "ann@example.com").headers["location"] == "/login/second-factor"
    with app.state.engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == ann.id).values(second_factor=None, totp_secret=None))
    page = browser.get("/login/second-factor")
    assert page.status_code == 200 and "Continuer" in page.text
    assert browser.get("/account").headers["location"].startswith("/login")  # still half-open after the GET
    go = browser.post("/login/second-factor", data={"csrf_token": csrf_of(page)})
    assert go.headers["location"] == "/"
    assert browser.get("/account").status_code == 200


def test_user2_wrong_codes_lock_the_login_like_wrong_passwords(tmp_path, monkeypatch):
    """Five wrong second-factor codes in a row lock the login: a 6-digit code cannot be guessed by brute force."""
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    secret, _ = enrol_totp(browser)
    log_out(browser)
    log_in(browser, "ann@example.com")
    right = pyotp.TOTP(secret).at(time.time() + 30)
    wrong = f"{(int(right) + 500_000) % 10 ** 6:06d}"
    for _ in range(5):
        assert second_step(browser, wrong).status_code == 401
    locked = second_step(browser, right)
    assert locked.status_code == 429 and "bloquée pendant encore" in locked.text


ARABIC_DIGITS = "\u0661\u0662\u0663\u0664\u0665\u0666"  # "١٢٣٤٥٦".isdigit() is True in Python


def test_user2_a_code_of_non_ascii_digits_is_a_wrong_code_not_a_500(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    choose = browser.get("/account/second-factor")
    browser.post("/account/second-factor", data={"method": "totp", "current": PASSWORD, "csrf_token": csrf_of(choose)})
    page = browser.get("/account/second-factor?method=totp")
    refused = browser.post("/account/second-factor/confirm", data={
        "method": "totp", "code": ARABIC_DIGITS, "csrf_token": csrf_of(page)})
    assert refused.status_code == 400 and "Code incorrect" in refused.text
    enrol_totp(browser)
    log_out(browser)
    log_in(browser, "ann@example.com")
    wrong = second_step(browser, ARABIC_DIGITS)
    assert wrong.status_code == 401 and "Code incorrect" in wrong.text
    assert second_step(browser, recovery="\u00b2" * 10).status_code == 401


def test_user2_parallel_wrong_codes_cannot_slip_past_the_lock(tmp_path, monkeypatch):
    """Each try is counted before its code is checked: after four failures, of 20 tries at once only one is
    checked, the others find the lock (429)."""
    from concurrent.futures import ThreadPoolExecutor

    import pipelines.console.auth as auth

    app = console_app(tmp_path, monkeypatch)
    ann = add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    enrol_totp(browser)
    log_out(browser)
    log_in(browser, "ann@example.com")
    token = csrf_of(browser.get("/login/second-factor"))
    with app.state.engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == ann.id).values(failed_logins=4))
    checked, real = [], auth._check

    def slow_check(*args):  # as slow as an SMTP round trip or a busy store, so that the tries overlap
        time.sleep(0.05)
        checked.append(args)
        return real(*args)

    monkeypatch.setattr(auth, "_check", slow_check)

    def attempt(_):
        other = client(app)
        other.cookies.set(COOKIE, browser.cookies.get(COOKIE))
        return other.post("/login/second-factor", data={"code": "000000", "csrf_token": token}).status_code

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(attempt, range(20)))
    assert len(checked) <= 1 and answers.count(429) >= 19


def test_user2_resending_the_code_waits_30_seconds_and_ten_an_hour(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    enrol_email(browser, tmp_path)
    again = client(app)
    log_in(again, "ann@example.com")  # a code sent now
    sent = len(outbox_mails(tmp_path))

    def resend():
        return again.post("/login/second-factor/resend", data={"csrf_token": csrf_of(again.get("/login/second-factor"))})

    early = resend()
    assert early.status_code == 429 and "vous pourrez en demander un nouveau dans" in early.text
    assert len(outbox_mails(tmp_path)) == sent
    for _ in range(8):  # the enrolment's, the login's and 8 resends: ten codes in the hour
        age_sends(app, seconds=31)
        assert resend().headers["location"].startswith("/login/second-factor?ok=")
    age_sends(app, seconds=31)
    eleventh = resend()
    assert eleventh.status_code == 429 and "min" in eleventh.text
    assert len(outbox_mails(tmp_path)) == sent + 8
    age_sends(app, seconds=3600)
    assert resend().status_code == 303
