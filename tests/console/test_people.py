"""USER-2, USER-4, ACC-3 (issue 14): an account's administrators manage its people in the extranet, and read the
audit log; a user of role `user` is refused, another account's people are not found."""

from __future__ import annotations

import email
import re
from datetime import datetime, timedelta, timezone

import pytest
from console_helpers import add_user, client, console_app, csrf_of, log_in
from sqlalchemy import insert, select

from pipelines.store.engine import now
from pipelines.store.schema import audit_log, console_sessions, trusted_devices, user_codes, users
from pipelines.store.users import get_user


@pytest.fixture
def app(tmp_path, monkeypatch):
    return console_app(tmp_path, monkeypatch)


def logged_in(app, login: str):
    browser = client(app)
    answer = log_in(browser, login)
    assert answer.status_code == 303, answer.text[:300]
    return browser


def post(browser, url: str, data: dict | None = None, *, form_page: str = "/users"):
    """POST a form as the page would: with the CSRF token of the browser's session."""
    return browser.post(url, data={**(data or {}), "csrf_token": csrf_of(browser.get(form_page))})


def outbox_mails(tmp_path) -> list[email.message.Message]:
    folder = tmp_path / "outbox"
    return [email.message_from_bytes(path.read_bytes()) for path in sorted(folder.glob("*.eml"))] \
        if folder.exists() else []


def body_of(mail) -> str:
    part = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def audited(app, action: str) -> list:
    with app.state.engine.connect() as connection:
        return connection.execute(select(audit_log).where(audit_log.c.action == action)).all()


def test_user4_a_user_of_role_user_gets_403_on_every_people_and_audit_route(app):
    from pipelines.console import people

    add_user(app, "admin@acme.fr", role="admin")
    member = add_user(app, "member@acme.fr", role="user")
    browser = logged_in(app, "member@acme.fr")
    for route in people.routes:
        url = route.path.replace("{user_id:int}", str(member.id))
        for method in route.methods - {"HEAD"}:
            if method == "GET":
                answer = browser.get(url)
            else:
                answer = browser.post(url, data={"role": "admin", "active": "0", "required": "1"},
                                      headers={"X-CSRF-Token": app_csrf(browser)})
            assert answer.status_code == 403, (method, url, answer.status_code)
    assert get_user(app.state.engine, member.id).role == "user"
    assert "/users" not in browser.get("/").text  # the navigation hides what they cannot open


def app_csrf(browser) -> str:
    """The CSRF token of the browser's session, from any page with a form (the logout form of every page)."""
    return csrf_of(browser.get("/"))


def test_acc3_a_user_id_of_another_account_is_not_found(app):
    add_user(app, "admin@acme.fr", role="admin")
    stranger = add_user(app, "boss@other.fr", account="other", role="admin")
    browser = logged_in(app, "admin@acme.fr")
    assert browser.get(f"/users/{stranger.id}").status_code == 404
    assert browser.get("/users/999999").status_code == 404
    for path, data in ((f"/users/{stranger.id}/active", {"active": "0"}), (f"/users/{stranger.id}/role",
                       {"role": "user"}), (f"/users/{stranger.id}/second-factor/reset", {}),
                       (f"/users/{stranger.id}", {"email": "x@acme.fr"})):
        assert post(browser, path, data).status_code == 404, path
    still = get_user(app.state.engine, stranger.id)
    assert (still.active, still.role, still.email) == (True, "admin", "boss@other.fr")
    assert "boss@other.fr" not in browser.get("/users").text


def activate(app, login: str, password: str, code: str):
    """USER-3's first login: the temporary password opens only the new-password page, the code sets a new one."""
    browser = client(app)
    answer = log_in(browser, login, password)
    assert (answer.status_code, answer.headers["location"]) == (303, "/password/new")
    done = browser.post("/password/new", data={"code": code, "password": "Choisi-par-moi-1", "password_again":
                                               "Choisi-par-moi-1", "csrf_token": csrf_of(browser.get("/password/new"))})
    assert done.status_code == 303, done.text[:300]
    return browser


def access_mails(tmp_path, first: int = 0) -> tuple[str, str]:
    """The temporary password and the activation code of the two emails from index `first` of the outbox."""
    password_mail, code_mail = outbox_mails(tmp_path)[first:first + 2]
    password = re.search(r"Mot de passe temporaire : (\S+)", body_of(password_mail)).group(1)
    code = re.search(r"code d'activation smsflow est : (\d{6})", body_of(code_mail)).group(1)
    return password, code


def test_user4_an_added_user_gets_a_temporary_password_by_email_and_it_logs_in(app, tmp_path):
    add_user(app, "admin@acme.fr", role="admin")
    browser = logged_in(app, "admin@acme.fr")
    added = post(browser, "/users", {"email": "New.Person@acme.fr", "first_name": "Zoé", "last_name": "Martin",
                                      "mobile": "+33612345678", "role": "user", "login": ""})
    assert added.status_code == 303 and re.match(r"/users/\d+\?ok=", added.headers["location"])
    shown = browser.get(added.headers["location"])
    assert "Zoé Martin" in shown.text and "new.person@acme.fr" in shown.text
    mails = outbox_mails(tmp_path)
    assert [mail["To"] for mail in mails] == ["new.person@acme.fr"] * 2
    password, code = access_mails(tmp_path)
    assert password not in shown.text and code not in shown.text  # given once, by email only
    newcomer = activate(app, "new.person@acme.fr", password, code)
    assert newcomer.get("/").status_code == 200
    [row] = audited(app, "user.add")
    assert (row.actor, row.target, row.account_id) == ("admin@acme.fr", "new.person@acme.fr", "default")


def test_user3_an_admin_sends_a_user_a_new_temporary_password_and_their_sessions_end(app, tmp_path):
    add_user(app, "admin@acme.fr", role="admin")
    member = add_user(app, "member@acme.fr")
    theirs = logged_in(app, "member@acme.fr")
    admin = logged_in(app, "admin@acme.fr")
    done = post(admin, f"/users/{member.id}/password", form_page=f"/users/{member.id}")
    assert done.status_code == 303
    assert theirs.get("/").status_code == 303  # logged out
    assert log_in(client(app), "member@acme.fr").status_code == 401  # the old password no longer opens
    password, code = access_mails(tmp_path)
    assert activate(app, "member@acme.fr", password, code).get("/").status_code == 200
    assert [row.target for row in audited(app, "user.temporary_password")] == ["member@acme.fr"]


def test_user4_a_taken_login_or_a_bad_email_is_refused_on_the_form_with_the_values_kept(app, tmp_path):
    add_user(app, "admin@acme.fr", role="admin")
    browser = logged_in(app, "admin@acme.fr")
    taken = post(browser, "/users", {"email": "admin@acme.fr", "first_name": "Jean", "role": "admin"})
    assert taken.status_code == 400 and "déjà pris" in taken.text and 'value="Jean"' in taken.text
    bad = post(browser, "/users", {"email": "not-an-email", "role": "user"})
    assert bad.status_code == 400 and "e-mail invalide" in bad.text
    landline = post(browser, "/users", {"email": "fixe@acme.fr", "mobile": "01 23 45 67 89", "role": "user"})
    assert landline.status_code == 400 and "mobile invalide" in landline.text
    assert outbox_mails(tmp_path) == [] and audited(app, "user.add") == []
    assert [row.target for row in audited(app, "user.add.refused")] == ["admin@acme.fr", "not-an-email",
                                                                         "fixe@acme.fr"]


def test_user4_a_deactivated_user_is_logged_out_at_their_next_request(app):
    add_user(app, "admin@acme.fr", role="admin")
    member = add_user(app, "member@acme.fr")
    other_browser_of_member = logged_in(app, "member@acme.fr")
    assert other_browser_of_member.get("/").status_code == 200
    admin = logged_in(app, "admin@acme.fr")
    done = post(admin, f"/users/{member.id}/active", {"active": "0"}, form_page=f"/users/{member.id}")
    assert done.status_code == 303
    with app.state.engine.connect() as connection:
        assert connection.execute(select(console_sessions).where(console_sessions.c.user_id == member.id)).all() == []
    answer = other_browser_of_member.get("/")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert log_in(client(app), "member@acme.fr").status_code == 401
    assert [row.target for row in audited(app, "user.deactivate")] == ["member@acme.fr"]
    post(admin, f"/users/{member.id}/active", {"active": "1"}, form_page=f"/users/{member.id}")
    assert log_in(client(app), "member@acme.fr").status_code == 303


def test_user4_the_last_active_admin_cannot_deactivate_or_demote_themselves(app):
    me = add_user(app, "admin@acme.fr", role="admin")
    add_user(app, "boss@other.fr", account="other", role="admin")  # another account's admin does not count
    browser = logged_in(app, "admin@acme.fr")
    for path, data in ((f"/users/{me.id}/active", {"active": "0"}), (f"/users/{me.id}/role", {"role": "user"})):
        refused = post(browser, path, data, form_page=f"/users/{me.id}")
        assert refused.status_code == 409 and "au moins un administrateur actif" in refused.text
    mine = get_user(app.state.engine, me.id)
    assert (mine.active, mine.role) == (True, "admin")
    assert len(audited(app, "user.deactivate.refused")) == len(audited(app, "user.role.refused")) == 1
    second = add_user(app, "second@acme.fr", role="user")
    assert post(browser, f"/users/{second.id}/role", {"role": "admin"}).status_code == 303
    demoted = post(browser, f"/users/{me.id}/role", {"role": "user"})
    assert demoted.status_code == 303 and demoted.headers["location"].startswith("/?ok=")
    assert get_user(app.state.engine, me.id).role == "user"
    assert browser.get("/users").status_code == 403  # no longer an administrator: the very next request knows it


def test_user4_an_admin_changes_a_users_details(app):
    add_user(app, "admin@acme.fr", role="admin")
    member = add_user(app, "member@acme.fr", first_name="Ana")
    browser = logged_in(app, "admin@acme.fr")
    done = post(browser, f"/users/{member.id}", {"email": "ana@acme.fr", "first_name": "Anna", "last_name": "Roy",
                                                 "mobile": "06 00 00 00 01"}, form_page=f"/users/{member.id}")
    assert done.status_code == 303
    changed = get_user(app.state.engine, member.id)
    assert (changed.login, changed.email, changed.name, changed.mobile) == (
        "member@acme.fr", "ana@acme.fr", "Anna Roy", "+33600000001")
    [row] = audited(app, "user.update")
    assert row.detail == "email, first_name, last_name, mobile"


def test_user2_an_admin_resets_a_users_second_factor(app):
    add_user(app, "admin@acme.fr", role="admin")
    member = add_user(app, "member@acme.fr")
    member_browser = logged_in(app, "member@acme.fr")  # a session from before the reset (a stolen one, say)
    assert member_browser.get("/account").status_code == 200
    stamp = now()
    with app.state.engine.begin() as connection:
        connection.execute(users.update().where(users.c.id == member.id).values(
            second_factor="totp", totp_secret="JBSWY3DPEHPK3PXP", totp_last_step=123))
        connection.execute(insert(user_codes).values(user_id=member.id, purpose="recovery", code_hash="x",
                                                     attempts=0, created_at=stamp))
        connection.execute(insert(trusted_devices).values(user_id=member.id, token_hash="t", created_at=stamp,
                                                          expires_at=stamp + timedelta(days=7)))
    browser = logged_in(app, "admin@acme.fr")
    assert "Application" in browser.get(f"/users/{member.id}").text
    done = post(browser, f"/users/{member.id}/second-factor/reset", form_page=f"/users/{member.id}")
    assert done.status_code == 303
    with app.state.engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.id == member.id)).one()
        assert (row.second_factor, row.totp_secret, row.totp_last_step) == (None, None, None)
        assert connection.execute(select(user_codes).where(user_codes.c.user_id == member.id)).all() == []
        assert connection.execute(select(trusted_devices).where(trusted_devices.c.user_id == member.id)).all() == []
    assert [row.target for row in audited(app, "user.second_factor_reset")] == ["member@acme.fr"]
    assert member_browser.get("/account").headers["location"].startswith("/login")  # the reset ended it


def test_user2_an_admin_requires_a_second_factor_for_the_account(app):
    from pipelines.store.accounts import get_account

    add_user(app, "admin@acme.fr", role="admin")
    add_user(app, "member@acme.fr")
    browser = logged_in(app, "admin@acme.fr")
    page = browser.get("/users")
    assert "Exiger la double authentification" in page.text and "au choix de chacun" in page.text
    assert post(browser, "/users/second-factor", {"required": "1"}).status_code == 303
    assert get_account(app.state.engine, "default").require_second_factor is True
    assert "exigée" in browser.get("/users").text
    answer = log_in(client(app), "member@acme.fr")  # no second factor yet: they enrol one before anything else
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login/second-factor")
    assert post(browser, "/users/second-factor", {"required": "0"}).status_code == 303
    assert get_account(app.state.engine, "default").require_second_factor is False
    assert [row.detail for row in audited(app, "account.require_second_factor")] == ["on", "off"]


def test_user4_only_a_superadmin_changes_a_superadmin(app):
    add_user(app, "admin@acme.fr", role="admin")
    platform = add_user(app, "root@smsflow.fr", role="admin", superadmin=True)
    browser = logged_in(app, "admin@acme.fr")
    assert post(browser, f"/users/{platform.id}/active", {"active": "0"}).status_code == 403
    assert get_user(app.state.engine, platform.id).active


def _audit_rows(app, account: str | None, count: int, action: str = "campaign.create", actor: str = "bot@acme.fr"):
    stamp = now() - timedelta(days=1)
    with app.state.engine.begin() as connection:
        connection.execute(insert(audit_log), [
            dict(account_id=account, actor=actor, action=action, target=f"camp-{index:03d}", detail=None,
                 ip="10.0.0.9", at=stamp + timedelta(seconds=index)) for index in range(count)])


def test_user4_the_audit_page_lists_the_accounts_actions_newest_first_with_filters_and_pages(app):
    member = add_user(app, "member@acme.fr")
    add_user(app, "admin@acme.fr", role="admin")
    add_user(app, "boss@other.fr", account="other", role="admin")
    _audit_rows(app, "default", 60)
    _audit_rows(app, "other", 3, action="campaign.delete", actor="boss@other.fr")
    _audit_rows(app, None, 2, action="global.blacklist", actor="root@smsflow.fr")
    browser = logged_in(app, "admin@acme.fr")
    post(browser, f"/users/{member.id}/role", {"role": "admin"})
    page = browser.get("/audit")
    assert page.status_code == 200
    assert page.text.index("user.role") < page.text.index("camp-059") < page.text.index("camp-020")
    assert "camp-001" not in page.text and "boss@other.fr" not in page.text and "global.blacklist" not in page.text
    assert "page 1 sur 2" in page.text and "10.0.0.9" in page.text and "testclient" in page.text
    older = browser.get(re.search(r'href="(/audit\?[^"]*page=2)"', page.text).group(1).replace("&amp;", "&"))
    assert "camp-001" in older.text and "camp-059" not in older.text
    only_roles = browser.get("/audit", params={"action": "user.role"})
    assert "member@acme.fr" in only_roles.text and "camp-" not in only_roles.text and "1 action " in only_roles.text
    assert "Rôle changé" in only_roles.text  # in people's words, the recorded action beside
    by_person = browser.get("/audit", params={"who": "admin@acme.fr"})
    assert "camp-" not in by_person.text and "user.role" in by_person.text
    with app.state.engine.begin() as connection:  # summer in Paris: UTC+2
        connection.execute(insert(audit_log).values(account_id="default", actor="ete@acme.fr", action="login",
                                                    at=datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc)))
    assert "01/07/2026 12:00:00" in browser.get("/audit", params={"who": "ete@acme.fr"}).text
    searched = browser.get("/audit", params={"q": "CAMP-04"})
    assert "10 actions" in searched.text and "camp-041" in searched.text and "camp-051" not in searched.text


def test_user4_a_superadmin_also_sees_the_platforms_lines_in_the_audit(app):
    add_user(app, "root@smsflow.fr", role="admin", superadmin=True)
    _audit_rows(app, None, 2, action="global.blacklist", actor="root@smsflow.fr")
    _audit_rows(app, "other", 1, action="campaign.delete", actor="boss@other.fr")
    page = logged_in(app, "root@smsflow.fr").get("/audit")
    assert "global.blacklist" in page.text and "plateforme" in page.text
    assert "boss@other.fr" not in page.text  # another account's lines stay theirs (ACC-3)
