"""The audit page (issue 14, USER-4): odd page numbers and times in Paris whatever the machine's zone."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from console_helpers import add_user, client, console_app, log_in


@pytest.fixture
def app(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "admin@example.fr", role="admin")
    return app


@pytest.mark.parametrize("number", ["²", "-3", "0", "abc", "9" * 30, "9" * 5000, str(2**63)])
def test_user4_an_odd_audit_page_number_is_a_page_never_a_500(app, number):
    browser = client(app)
    log_in(browser, "admin@example.fr")
    shown = browser.get("/audit", params={"page": number})
    assert shown.status_code == 200 and "page 1 sur 1" in shown.text and "Connexion" in shown.text


def test_user4_audit_times_are_paris_time_whatever_the_machines_zone(app, monkeypatch):
    from sqlalchemy import update

    from pipelines.store.schema import audit_log

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        browser = client(app)
        log_in(browser, "admin@example.fr")
        with app.state.engine.begin() as connection:  # a naive instant, as SQLite gives it back: UTC
            connection.execute(update(audit_log).values(at=datetime(2026, 1, 15, 12, 0, 0)))
        assert "15/01/2026 13:00:00" in browser.get("/audit").text
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
