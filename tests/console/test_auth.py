"""USER-1, USER-3 in a browser: login with lockout and backoff, no account enumeration, a new session key at each
step, the forgotten password end to end through the outbox; every step audited."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes, policy

from console_helpers import PASSWORD, add_user, client, console_app, csrf_of, log_in
from sqlalchemy import select, update

from pipelines.console.guard import COOKIE
from pipelines.store.engine import now
from pipelines.store.schema import audit_log, console_sessions, user_codes, users


def outbox_mails(tmp_path) -> list:
    """The emails in the outbox, oldest first."""
    return [message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted((tmp_path / "outbox").glob("*.eml"))]


def actions(app) -> list[tuple[str, str | None]]:
    with app.state.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(audit_log.c.action, audit_log.c.actor)
                                                         .order_by(audit_log.c.id))]


def without_tokens(html: str) -> str:
    return re.sub(r'(value=|X-CSRF-Token": )"[0-9a-f]{64}"', "", html)


def test_user1_login_opens_a_full_session_and_is_audited(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    answer = log_in(browser, "ANN@example.com ")
    assert (answer.status_code, answer.headers["location"]) == (303, "/")
    assert browser.get("/").status_code == 200
    assert ("login", "ann@example.com") in actions(app)


def test_user1_an_unknown_login_answers_exactly_like_a_wrong_password(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    wrong = log_in(client(app), "ann@example.com", "Pas-le-bon-2026")
    unknown = log_in(client(app), "ghost@example.com", "Pas-le-bon-2026")
    assert wrong.status_code == unknown.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in wrong.text
    assert without_tokens(wrong.text).replace("ann@", "x@") == without_tokens(unknown.text).replace("ghost@", "x@")
    assert [action for action in actions(app) if action[0] == "login_failed"] == [
        ("login_failed", "ann@example.com"), ("login_failed", "ghost@example.com")]


def test_user1_five_wrong_passwords_lock_the_login_with_the_time_left_then_it_doubles(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    ann = add_user(app, "ann@example.com")
    browser = client(app)
    for _ in range(5):
        assert log_in(browser, "ann@example.com", "Pas-le-bon-2026").status_code == 401
    locked = log_in(browser, "ann@example.com")  # the right password, but locked: not even checked
    assert locked.status_code == 429
    assert re.search(r"bloquée pendant encore (1 min 00 s|\d\d? s)", locked.text)
    assert ("login_locked", "ann@example.com") in actions(app)
    with app.state.engine.begin() as connection:  # the minute has passed
        connection.execute(update(users).where(users.c.id == ann.id).values(locked_until=now() - timedelta(seconds=1)))
    again = log_in(browser, "ann@example.com", "Pas-le-bon-2026")
    assert again.status_code == 401
    doubled = log_in(browser, "ann@example.com")
    assert re.search(r"encore (2 min 00 s|1 min [1-5]\d s)", doubled.text)  # the sixth failure doubled the lock
    with app.state.engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == ann.id).values(locked_until=now() - timedelta(seconds=1)))
    assert log_in(browser, "ann@example.com").headers["location"] == "/"
    with app.state.engine.connect() as connection:
        assert connection.execute(select(users.c.failed_logins).where(users.c.id == ann.id)).scalar_one() == 0


def test_user1_an_unknown_login_is_locked_too(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    browser = client(app)
    for _ in range(5):
        assert log_in(browser, "ghost@example.com", "Pas-le-bon-2026").status_code == 401
    assert log_in(browser, "ghost@example.com", "Pas-le-bon-2026").status_code == 429


def test_user1_the_session_key_changes_at_login_session_fixation(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    browser.get("/login")
    before = browser.cookies.get(COOKIE)
    log_in(browser, "ann@example.com")
    after = browser.cookies.get(COOKIE)
    assert before and after and before != after
    attacker = client(app)
    attacker.cookies.set(COOKIE, before)
    assert attacker.get("/").status_code == 303  # the key known before login opens nothing


def test_user1_the_next_page_is_of_this_site_only(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    token = csrf_of(browser.get("/login"))
    answer = browser.post("/login", data={"login": "ann@example.com", "password": PASSWORD, "csrf_token": token,
                                          "next": "//evil.example/"})
    assert answer.headers["location"] == "/"


def test_user3_forgotten_password_end_to_end_through_the_outbox(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    elsewhere = client(app)
    log_in(elsewhere, "ann@example.com")
    browser = client(app)
    token = csrf_of(browser.get("/password/forgot"))
    known = browser.post("/password/forgot", data={"login": "ann@example.com", "csrf_token": token})
    unknown = browser.post("/password/forgot", data={"login": "ghost@example.com", "csrf_token": token})
    assert known.status_code == unknown.status_code == 200
    assert without_tokens(known.text) == without_tokens(unknown.text)  # never says whether the login exists
    first, second = outbox_mails(tmp_path)
    assert first["To"] == second["To"] == "ann@example.com"
    temporary = re.search(r"temporaire smsflow : (\S+)", first.get_content()).group(1)
    code = re.search(r"code d'activation smsflow est : (\d{6})", second.get_content()).group(1)

    # the own password keeps working beside the temporary one: asking for a stranger's reset locks nobody out
    assert log_in(client(app), "ann@example.com").headers["location"] == "/"
    keys = [browser.cookies.get(COOKIE)]
    answer = log_in(browser, "ann@example.com", temporary)
    assert answer.headers["location"] == "/password/new"
    keys.append(browser.cookies.get(COOKIE))
    assert browser.get("/").headers["location"] == "/password/new"  # nothing else opens at this stage
    page = browser.get("/password/new")
    weak = browser.post("/password/new", data={"code": code, "password": "court", "password_again": "court",
                                               "csrf_token": csrf_of(page)})
    assert weak.status_code == 400 and "une majuscule" in weak.text
    wrong = browser.post("/password/new", data={"code": "000000" if code != "000000" else "111111",
                                                "password": "Nouveau-mot-2027", "password_again": "Nouveau-mot-2027",
                                                "csrf_token": csrf_of(page)})
    assert wrong.status_code == 400 and "Code d&#39;activation incorrect" in wrong.text
    done = browser.post("/password/new", data={"code": code, "password": "Nouveau-mot-2027",
                                               "password_again": "Nouveau-mot-2027", "csrf_token": csrf_of(page)})
    assert done.headers["location"] == "/"
    keys.append(browser.cookies.get(COOKIE))
    assert len(set(keys)) == 3  # a new session key at each step
    assert browser.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 303  # every other session ended
    assert log_in(client(app), "ann@example.com", temporary).status_code == 401
    assert log_in(client(app), "ann@example.com").status_code == 401  # the old password ended with the reset
    assert log_in(client(app), "ann@example.com", "Nouveau-mot-2027").headers["location"] == "/"
    assert {"password_forgot", "login_temporary", "password_reset"} <= {action for action, _ in actions(app)}


def test_user3_the_temporary_password_lasts_thirty_minutes(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    browser.post("/password/forgot", data={"login": "ann@example.com",
                                           "csrf_token": csrf_of(browser.get("/password/forgot"))})
    first, _ = outbox_mails(tmp_path)
    temporary = re.search(r"temporaire smsflow : (\S+)", first.get_content()).group(1)
    with app.state.engine.begin() as connection:
        connection.execute(update(user_codes).where(user_codes.c.purpose == "temporary")
                           .values(expires_at=now() - timedelta(seconds=1)))
    assert log_in(client(app), "ann@example.com", temporary).status_code == 401
    assert log_in(client(app), "ann@example.com").headers["location"] == "/"


def test_user3_the_activation_code_lasts_thirty_minutes(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    browser.post("/password/forgot", data={"login": "ann@example.com",
                                           "csrf_token": csrf_of(browser.get("/password/forgot"))})
    first, second = outbox_mails(tmp_path)
    temporary = re.search(r"temporaire smsflow : (\S+)", first.get_content()).group(1)
    code = re.search(r"est : (\d{6})", second.get_content()).group(1)
    with app.state.engine.begin() as connection:
        connection.execute(update(user_codes).where(user_codes.c.purpose == "activation")
                           .values(expires_at=now() - timedelta(seconds=1)))
    log_in(browser, "ann@example.com", temporary)
    late = browser.post("/password/new", data={"code": code, "password": "Nouveau-mot-2027",
                                               "password_again": "Nouveau-mot-2027",
                                               "csrf_token": csrf_of(browser.get("/password/new"))})
    assert late.status_code == 400


def test_user1_logout_ends_the_session(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    log_in(browser, "ann@example.com")
    token = csrf_of(browser.get("/account"))
    assert browser.post("/logout", data={"csrf_token": token}).headers["location"] == "/login"
    with app.state.engine.connect() as connection:
        assert connection.execute(select(console_sessions)).first() is None


class SmtpRelay:
    """A minimal SMTP server on a free port (RFC 5321's EHLO, MAIL, RCPT, DATA, QUIT), keeping what it receives."""

    def __init__(self):
        import socketserver
        import threading

        received = self.received = []

        class Conversation(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 relay\r\n")
                data = None
                while line := self.rfile.readline():
                    if data is not None:
                        if line.rstrip(b"\r\n") == b".":
                            received.append(b"".join(data))
                            data = None
                            self.wfile.write(b"250 queued\r\n")
                        else:
                            data.append(line[1:] if line.startswith(b"..") else line)
                        continue
                    command = line.strip().upper()
                    if command == b"DATA":
                        data = []
                        self.wfile.write(b"354 go on\r\n")
                    elif command == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Conversation)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_user3_mails_go_through_the_smtp_relay_when_one_is_set(tmp_path, monkeypatch):
    """settings.smtp (host:port): the forgotten-password mails reach the SMTP relay, not the outbox."""
    relay = SmtpRelay()
    try:
        app = console_app(tmp_path, monkeypatch, smtp=f"127.0.0.1:{relay.port}")
        add_user(app, "ann@example.com")
        browser = client(app)
        browser.post("/password/forgot", data={"login": "ann@example.com",
                                               "csrf_token": csrf_of(browser.get("/password/forgot"))})
    finally:
        relay.close()
    subjects = [message_from_bytes(data, policy=policy.default)["Subject"] for data in relay.received]
    assert subjects == ["Votre mot de passe temporaire smsflow", "Votre code d'activation smsflow"]
    assert not (tmp_path / "outbox").exists()


def test_user1_failed_logins_are_audited_lowered_so_the_unknown_login_lock_compares_them_exactly(tmp_path, monkeypatch):
    """The unknown-login lock counts `login_failed` lines with `actor = :login` (no lower/trim scan): the console
    writes the actor lowered and trimmed, so any spelling of the login counts towards one lock."""
    app = console_app(tmp_path, monkeypatch)
    spellings = ["Ghost@Example.com", " GHOST@example.com", "ghost@EXAMPLE.com ", "ghost@example.com", "Ghost@example.COM"]
    for spelling in spellings:
        assert log_in(client(app), spelling, "Pas-le-bon-2026").status_code == 401
    assert log_in(client(app), "GHOST@example.com", "Pas-le-bon-2026").status_code == 429
    assert {actor for action, actor in actions(app) if action == "login_failed"} == {"ghost@example.com"}


def asgi_post(app, browser, path: str, form: dict) -> tuple[object, list[int]]:
    """POST `form` to the app at the ASGI level with the browser's cookies: (the answer's status, how many mails
    were in the outbox when the answer's last byte was sent)."""
    from urllib.parse import urlencode

    import anyio

    body = urlencode(form).encode()
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(len(body)).encode()), (b"cookie", cookie.encode())],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    status, mails_at_answer = [], []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
        if message["type"] == "http.response.body" and not message.get("more_body"):
            mails_at_answer.append(len(outbox_mails(tmp_outbox(app))))

    async def call():
        await app(scope, receive, send)

    anyio.run(call)
    return status[0], mails_at_answer


def tmp_outbox(app):
    """The folder whose `outbox` holds the test's mails (console_app puts it beside the bucket)."""
    return app.state.bucket.parent


def test_user3_forgotten_password_mails_go_after_the_answer_and_once_a_minute(tmp_path, monkeypatch):
    """The answer leaves before the mails (an SMTP relay's 30 s cannot tell a real login from an unknown one), and a
    login gets one mail pair a minute at most (the same answer either way: no mailbox flooding)."""
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    token = csrf_of(browser.get("/password/forgot"))
    status, mails_at_answer = asgi_post(app, browser, "/password/forgot",
                                        {"login": "ann@example.com", "csrf_token": token})
    assert (status, mails_at_answer) == (200, [0])  # answered with no mail sent yet
    assert len(outbox_mails(tmp_path)) == 2  # then both were sent
    first = browser.post("/password/forgot", data={"login": "ann@example.com", "csrf_token": token})
    again = browser.post("/password/forgot", data={"login": "ANN@example.com", "csrf_token": token})
    unknown = browser.post("/password/forgot", data={"login": "ghost@example.com", "csrf_token": token})
    assert without_tokens(first.text) == without_tokens(again.text) == without_tokens(unknown.text)
    assert len(outbox_mails(tmp_path)) == 2  # within the minute: no new pair
    with app.state.engine.begin() as connection:
        connection.execute(update(user_codes).where(user_codes.c.purpose == "temporary")
                           .values(created_at=now() - timedelta(seconds=61)))
    browser.post("/password/forgot", data={"login": "ann@example.com", "csrf_token": token})
    assert len(outbox_mails(tmp_path)) == 4
