"""The click log (URL-3, URL-4): appended before the answer, rolled once into Parquet, never lost nor doubled;
who is a preview crawler; how much of the client's address is kept."""

from __future__ import annotations

import fcntl
import os

import polars as pl
import pytest

from pipelines.links.app import classify, ip_prefix
from pipelines.links.clicks import (
    CLICKS_SCHEMA, CLOSED, OPEN, ClickLog, event_line, events_folder, log_folder, read_clicks, roll,
)


def click(token: str = "Tok00000001", kind: str = "click", user_agent: str = "Mozilla/5.0 é") -> bytes:
    return event_line(token, "soldes", "crm.csv", 7, 2, kind, 1_764_000_000_123_456, "person", False,
                      "203.0.113.0/24", user_agent)


def test_url3_events_are_in_the_file_when_append_returns(tmp_path):
    log = ClickLog(tmp_path, worker="w1")
    for _ in range(3):
        log.append(click())
    (segment,) = log_folder(tmp_path).glob(f"*{OPEN}")
    assert segment.read_bytes().count(b"\n") == 3  # in the kernel, before any fsync or close
    log.sync()
    log.close()


def test_url3_rolled_parquet_has_the_clicks_schema_and_values(tmp_path):
    log = ClickLog(tmp_path, worker="w1")
    log.append(click())
    log.append(click(kind="preview", user_agent='WhatsApp/2 "quoted"\\'))
    log.close()
    clicks = read_clicks(tmp_path)
    assert dict(clicks.schema) == CLICKS_SCHEMA
    first = clicks.row(0, named=True)
    assert (first["token"], first["campaign_id"], first["ref_list"], first["id_line"], first["link"]) == (
        "Tok00000001", "soldes", "crm.csv", 7, 2)
    assert first["at"].isoformat() == "2025-11-24T16:00:00.123456+00:00" and first["user_agent"] == "Mozilla/5.0 é"
    assert clicks["user_agent"][1] == 'WhatsApp/2 "quoted"\\' and clicks["kind"].to_list() == ["click", "preview"]
    assert list(log_folder(tmp_path).iterdir()) == []
    assert not list(events_folder(tmp_path).parent.glob("*.parquet"))  # bucket/events/ is the receiver's


def test_url3_a_dead_writers_segment_is_rolled_a_live_ones_is_not(tmp_path):
    folder = log_folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / f"links-1-1{OPEN}").write_bytes(click("Dead0000001") + click("Dead0000002"))  # no flock: dead
    live = ClickLog(tmp_path, worker="w2")
    live.append(click("Live0000001"))
    roll(tmp_path)
    assert sorted(read_clicks(tmp_path)["token"]) == ["Dead0000001", "Dead0000002"]
    live.close()
    assert sorted(read_clicks(tmp_path)["token"]) == ["Dead0000001", "Dead0000002", "Live0000001"]


def test_url3_a_roll_redone_after_a_crash_writes_the_same_file_once(tmp_path):
    folder = log_folder(tmp_path)
    folder.mkdir(parents=True)
    segment = folder / f"links-9-9{CLOSED}"
    segment.write_bytes(click("Once0000001"))
    (written,) = roll(tmp_path)
    segment.write_bytes(click("Once0000001"))  # as if the roller died after the Parquet, before the unlink
    assert roll(tmp_path) == [written]
    assert read_clicks(tmp_path).height == 1


def test_url3_a_torn_last_line_is_left_out(tmp_path):
    folder = log_folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / f"links-3-3{CLOSED}").write_bytes(click("Torn0000001") + click("Torn0000002")[:20])
    roll(tmp_path)
    assert read_clicks(tmp_path)["token"].to_list() == ["Torn0000001"]


def test_url3_segments_close_and_a_new_one_opens_locked(tmp_path):
    log = ClickLog(tmp_path, worker="w3")
    assert log.close_segment() is None  # nothing written: nothing to close
    log.append(click())
    closed = log.close_segment()
    assert closed.name.endswith(CLOSED) and closed.exists()
    (current,) = log_folder(tmp_path).glob(f"*{OPEN}")
    probe = os.open(current, os.O_RDONLY)
    with pytest.raises(BlockingIOError):
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(probe)
    log.close()
    assert read_clicks(tmp_path).height == 1


@pytest.mark.parametrize("agent, expected", [
    ("WhatsApp/2.23.20.0 A", ("crawler:whatsapp", True)),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 "
     "Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0", ("crawler:imessage", True)),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", ("crawler:facebook", True)),
    ("Twitterbot/1.0", ("crawler:twitter", True)),
    ("TelegramBot (like TwitterBot)", ("crawler:telegram", True)),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", ("crawler:slack", True)),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile "
     "Safari/537.36 GoogleMessages/20.1", ("crawler:google-messages", True)),
    # Android Messages' fetchers (the snippet fetcher, Google-PageRenderer) and Samsung Messages' disguised agent
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/56.0.2924.87 Safari/537.36 "
     "Google (+https://developers.google.com/+/web/snippet/)", ("crawler:google-messages", True)),
    ("Mozilla/5.0 (Linux; Android 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0 Mobile Safari/537.36 "
     "Google-PageRenderer", ("crawler:google-messages", True)),
    ("Mozilla/5.0 (X11; Ubuntu; Linux i686; rv:24.0) Gecko/20100101 Firefox/24.0", ("crawler:samsung-messages", True)),
    ("curl/8.5.0", ("crawler:other", True)),
    ("", ("crawler:empty", True)),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile "
     "Safari/537.36", ("person", False)),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", ("person", False)),
])
def test_url5_preview_crawlers_are_told_apart_from_people(agent, expected):
    assert classify(agent) == expected


@pytest.mark.parametrize("agent", [
    "Mozilla/5.0 (Linux; Android 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0 Mobile Safari/537.36 "
    "Google-PageRenderer", "Mozilla/5.0 (X11; Ubuntu; Linux i686; rv:24.0) Gecko/20100101 Firefox/24.0"])
def test_url5_crawlerdetect_alone_misses_what_the_named_list_adds(agent):
    from crawlerdetect import CrawlerDetect

    assert not CrawlerDetect().isCrawler(agent) and classify(agent)[1]


@pytest.mark.parametrize("host, expected", [
    ("203.0.113.77", "203.0.113.0/24"), ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"), (None, None), ("not-an-ip", None),
])
def test_url3_client_addresses_are_truncated_for_privacy(host, expected):
    assert ip_prefix(host) == expected


def test_url3_the_log_schema_is_the_clicks_table_but_time(tmp_path):
    assert pl.DataFrame(schema=CLICKS_SCHEMA).columns == ["token", "campaign_id", "ref_list", "id_line", "link",
                                                          "kind", "at", "agent_class", "bot", "ip_prefix",
                                                          "user_agent"]
