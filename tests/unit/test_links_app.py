"""The links app's one request path (URL-3, URL-4, URL-5), called directly: what each request gets, the event in
the log before the answer is returned, and the cached pieces of an event line equal to a whole one."""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime, timezone

import numpy as np
import pytest

from pipelines.links.app import NOT_FOUND, LinksApp, ip_prefix, request_tail
from pipelines.links.clicks import event_line, log_folder, read_clicks, roll
from test_links_index import links_frame, plan

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"


@pytest.fixture
def app(tmp_path):
    bucket = tmp_path / "bucket"
    plan(bucket, "soldes", links_frame([f"tok{i:08d}" for i in range(1, 21)]))
    plan(bucket, "old", links_frame(["expired01"], expires_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    served = LinksApp(bucket, poll=3600, roll_seconds=3600)
    served.startup()
    yield served
    served.shutdown()


def log_lines(app: LinksApp) -> list[dict]:
    return [json.loads(line) for path in log_folder(app.bucket).glob("*.jsonl*")
            for line in path.read_bytes().splitlines()]


def test_url3_a_person_gets_the_target_and_the_click_is_logged_before(app):
    assert app.respond(b"/tok00000007", "GET", BROWSER, "203.0.113.9") == b"https://shop.example.com/p?id=7"
    (event,) = log_lines(app)  # in the segment when respond returns: before any server sends the 302
    assert {key: event[key] for key in ("token", "campaign_id", "ref_list", "id_line", "link", "kind",
                                        "agent_class", "bot", "ip_prefix", "user_agent")} == {
        "token": "tok00000007", "campaign_id": "soldes", "ref_list": "crm", "id_line": 7, "link": 1,
        "kind": "click", "agent_class": "person", "bot": False, "ip_prefix": "203.0.113.0/24", "user_agent": BROWSER}


def test_url4_a_crawler_or_a_head_gets_the_preview_and_is_logged_as_one(app):
    status, headers, page = app.respond(b"/tok00000003", "GET", "WhatsApp/2.23.20.0 A", None)
    assert status == 200 and (b"cache-control", b"private, no-store") in headers
    assert b'<meta property="og:title" content="Soldes">' in page
    assert app.respond(b"/tok00000003", "HEAD", BROWSER, None) == (status, headers, page)  # the body, for its length
    assert [(e["kind"], e["agent_class"], e["bot"]) for e in log_lines(app)] == [
        ("preview", "crawler:whatsapp", True), ("preview", "person", False)]


@pytest.mark.parametrize("path, method, status", [
    (b"/tok99999999", "GET", 404), (b"/short", "GET", 404), (b"/tok0000000!", "GET", 404), (b"/", "GET", 404),
    (b"/a/b/c", "GET", 404), (b"/tok0000000\xc3\xa9", "GET", 404), (b"/tok00000001" + b"1" * 6, "GET", 404),
    (b"/tok00000001", "POST", 405), (b"/expired01", "GET", 410), (b"/expired01/preview.jpg", "GET", 410),
    (b"/tok00000001/links.parquet", "GET", 404),
])
def test_url5_what_is_not_a_click_is_answered_and_never_logged(app, path, method, status):
    answer = app.respond(path, method, BROWSER, "203.0.113.9")
    assert answer[0] == status and log_lines(app) == []
    if status == 404:
        assert answer[2] == NOT_FOUND


def test_url3_health_counts_links_and_events(app):
    app.respond(b"/tok00000001", "GET", BROWSER, None)
    status, _, body = app.respond(b"/healthz", "GET", "", None)
    assert status == 200 and json.loads(body) == {"links": 21, "campaigns": 2, "events": 1}


def test_url3_events_of_the_request_path_roll_as_the_clicks_table(app):
    for token in (b"/tok00000001", b"/tok00000002"):
        app.respond(token, "GET", BROWSER, "2001:db8:abcd:12::1")
    app.clicks.close_segment()
    roll(app.bucket)
    clicks = read_clicks(app.bucket).sort("id_line")
    assert clicks["token"].to_list() == ["tok00000001", "tok00000002"]
    assert set(clicks["ip_prefix"]) == {"2001:db8:abcd::/48"} and set(clicks["kind"]) == {"click"}


def test_url3_the_cached_tail_makes_the_same_line_as_event_line():
    click, tail = request_tail(BROWSER, "198.51.100.7", False)
    line = b'{"token":"tok00000001","campaign_id":"c","ref_list":"l","id_line":3,"link":2,"at":5,' + tail
    assert click and line == event_line("tok00000001", "c", "l", 3, 2, "click", 5, "person", False,
                                        "198.51.100.0/24", BROWSER)
    assert request_tail("Twitterbot/1.0", None, False)[0] is False and request_tail(BROWSER, None, True)[0] is False


def test_url3_the_ipv4_shortcut_truncates_as_ipaddress_does():
    rng = np.random.default_rng(3)
    hosts = [".".join(str(octet) for octet in address) for address in rng.integers(0, 256, size=(2000, 4))]
    hosts += ["0.0.0.0", "255.255.255.255", "10.0.0.1", "1.2.3.04", "256.1.1.1", "1.2.3", "1.2.3.4.5", "1.2.3.4 "]
    for host in hosts:
        try:
            expected = str(ipaddress.ip_network(f"{host}/24", strict=False))
        except ValueError:
            expected = None
        assert ip_prefix(host) == expected, host
