"""The extranet's guard (issue 14 §3): odd CSRF tokens are refused, never a crash; request bodies are bounded before
login and after it, whichever way the token comes."""

from __future__ import annotations

from console_helpers import add_user, client, console_app, csrf_of, log_in


def test_csrf_a_non_ascii_token_is_a_403_not_a_crash(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    browser = client(app)
    browser.get("/login")
    in_form = browser.post("/login", data={"login": "x@example.com", "password": "y", "csrf_token": "é"})
    in_header = browser.post("/login", data={"login": "x@example.com", "password": "y"},
                             headers={"X-CSRF-Token": "١٢٣".encode()})  # read by the server as latin-1
    assert in_form.status_code == in_header.status_code == 403


def test_before_login_a_form_is_small_a_big_body_is_refused_unread(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    browser = client(app)
    token = csrf_of(browser.get("/login"))
    answer = browser.post("/login", data={"login": "x" * 70_000, "password": "y", "csrf_token": token})
    assert answer.status_code == 413 and "64 Ko" in answer.text
    answer = browser.post("/password/forgot", content=b"a" * 70_000,
                          headers={"X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413


def test_after_login_an_upload_over_the_limit_is_a_413_even_with_the_token_in_a_header(tmp_path, monkeypatch):
    from pipelines.console import guard

    monkeypatch.setattr(guard, "MAX_BODY", 200_000)
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ann@example.com")
    browser = client(app)
    assert log_in(browser, "ann@example.com").status_code == 303
    token = csrf_of(browser.get("/lists"))
    files = {"file": ("big.csv", b"mobile\n" + b"0612345678\n" * 30_000, "text/csv")}
    assert browser.post("/lists/preview", files=files, headers={"X-CSRF-Token": token}).status_code == 413
    small = {"file": ("small.csv", b"mobile\n0612345678\n", "text/csv")}
    assert browser.post("/lists/preview", files=small, headers={"X-CSRF-Token": token}).status_code == 200
