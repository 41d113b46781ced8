"""The extranet in tests (issue 14): an app on the test's own store and bucket, users, and a browser-like client
that logs in as a person does (the login form's CSRF token, then the password)."""

from __future__ import annotations

import re

PASSWORD = "Motdepasse-2026!"  # USER-1: 11+ characters, upper, lower, digit, special
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_app(tmp_path, monkeypatch, **settings):
    """The extranet on the test's store (SMSFLOW_DB, set by conftest) and a bucket and outbox in `tmp_path`."""
    from pipelines.console import ConsoleSettings, create_app

    bucket = tmp_path / "bucket"
    bucket.mkdir(exist_ok=True)
    monkeypatch.setenv("SMSFLOW_BUCKET", str(bucket))
    monkeypatch.setenv("SMSFLOW_OUTBOX", str(tmp_path / "outbox"))
    return create_app(ConsoleSettings.from_env(**settings))


def add_user(app, email: str, *, account: str = "default", role: str = "user", password: str = PASSWORD, **fields):
    """A user of `account` (the account made when missing)."""
    from pipelines.store import AccountError, create_account
    from pipelines.store.users import create_user

    if account != "default":
        try:
            create_account(app.state.engine, account)
        except AccountError:
            pass
    return create_user(app.state.engine, account, email, password, role=role, **fields)


def client(app):
    """A client that keeps cookies like a browser and shows redirects instead of following them."""
    from starlette.testclient import TestClient

    return TestClient(app, follow_redirects=False)


def csrf_of(response) -> str:
    """The CSRF token in a page's form."""
    found = CSRF.search(response.text)
    assert found, f"no CSRF field in {response.url}: {response.text[:500]}"
    return found.group(1)


def log_in(browser, login: str, password: str = PASSWORD):
    """GET /login, then POST the form with its token; returns the POST's response."""
    token = csrf_of(browser.get("/login"))
    return browser.post("/login", data={"login": login, "password": password, "csrf_token": token})


def logged_in(tmp_path, monkeypatch, login: str = "ana@example.fr", account: str = "default", role: str = "user"):
    """(the app, a client logged in as a new user of `account` with `role`)."""
    app = console_app(tmp_path, monkeypatch)
    add_user(app, login, account=account, role=role)
    browser = client(app)
    log_in(browser, login)
    return app, browser
