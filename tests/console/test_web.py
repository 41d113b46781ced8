"""What every page shares (issue 14): the integer parser odd input never breaks, Paris time whatever the machine's
zone, and flash messages only our own redirects can put on a page (signed)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from console_helpers import add_user, client, console_app, log_in


@pytest.mark.parametrize("raw", ["", " ", "²", "٣", "1e3", "+", "-", "1.0", "0x10", "9" * 5000, "1_000"])
def test_whole_number_refuses_what_is_not_a_plain_number(raw):
    from pipelines.console.web import whole_number

    assert whole_number(raw) is None


def test_whole_number_keeps_its_bounds_and_signs_only_when_asked():
    from pipelines.console.web import whole_number

    assert whole_number("42") == 42 and whole_number(" 7 ") == 7
    assert whole_number("0") is None and whole_number("0", lower=0) == 0
    assert whole_number(str(10**9 + 1)) is None and whole_number("-5") is None
    assert whole_number("-5", lower=-10, signed=True) == -5 and whole_number("+5", signed=True) == 5


def test_paris_time_reads_a_naive_instant_as_utc_whatever_the_machines_zone(monkeypatch):
    from pipelines.console.web import paris_time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert paris_time(datetime(2026, 7, 1, 12, 0)) == "01/07/2026 14:00"
        assert paris_time(datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)) == "01/01/2026 13:00"
        assert paris_time("2026-01-01T12:00:00") == "01/01/2026 13:00" and paris_time(None) == ""
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.fixture
def app(tmp_path, monkeypatch):
    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ana@example.fr", role="user")
    return app


def _signed(app, url: str, message: str, kind: str = "ok") -> str:
    from pipelines.console import web

    secret = app.state.secret
    token = web.SIGNING_KEY.set(secret if isinstance(secret, bytes) else secret.encode())
    try:
        return web.flash_url(url, message, kind)
    finally:
        web.SIGNING_KEY.reset(token)


def test_flash_a_signed_message_shows_a_forged_or_altered_one_does_not(app):
    browser = client(app)
    log_in(browser, "ana@example.fr")
    signed = _signed(app, "/lists", "Liste « Clients » supprimée.")
    assert "sig=" in signed and "Liste « Clients » supprimée." in browser.get(signed).text
    failed = _signed(app, "/lists", "Refusé : liste vide.", "error")
    assert 'role="alert">Refusé : liste vide.' in browser.get(failed).text
    assert "Appelez" not in browser.get("/lists", params={"ok": "Appelez le 0899 000 000"}).text
    altered = signed.replace("Clients", "Appelez")
    assert "Appelez" not in browser.get(altered).text
    as_error = signed.replace("?ok=", "?error=")
    assert "Clients" not in browser.get(as_error).text


def test_flash_without_the_request_key_is_never_shown(app):
    from pipelines.console.web import flash_url

    browser = client(app)
    log_in(browser, "ana@example.fr")
    unsigned = flash_url("/lists", "Sans clé")
    assert "sig=" not in unsigned and "Sans clé" not in browser.get(unsigned).text
