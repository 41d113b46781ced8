"""The serving index of short links (URL-3, URL-5): lookup, hash collisions, campaigns planned, re-planned, gone."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.layout import PLAN_MARKER
from pipelines.links.index import (
    IndexWatcher, Snapshot, build_campaign_cache, CampaignLinks, token_hash, token_hashes,
)

SHORT = "clic.fr"  # 7 + "/" + 11 = 19 (URL-1)


def links_frame(tokens: list[str], target: str = "https://shop.example.com/p?id=", expires_at=None) -> pl.DataFrame:
    """Links in the plan's contract (pipelines/links: links.parquet), one row per token."""
    n = len(tokens)
    return pl.DataFrame({
        "token": tokens, "short_url": [f"{SHORT}/{token}" for token in tokens], "ref_list": ["crm"] * n,
        "id_line": list(range(1, n + 1)), "link": [1] * n, "target": [f"{target}{i}" for i in range(1, n + 1)],
        "title": ["Soldes"] * n, "description": ["Jusqu'à -50 %"] * n, "image": ["preview.jpg"] * n,
        "expires_at": [expires_at] * n,
    }, schema_overrides={"token": pl.String, "short_url": pl.String, "ref_list": pl.String, "target": pl.String,
                         "id_line": pl.Int64, "link": pl.Int32, "title": pl.String, "description": pl.String,
                         "image": pl.String, "expires_at": pl.Datetime("us", "UTC")})


def plan(bucket: Path, campaign: str, frame: pl.DataFrame) -> Path:
    """Install a plan folder the way the plan does: written aside, renamed into place, marker inside."""
    final = bucket / "campaigns" / campaign / "plan"
    staging = final.with_name(f"plan.staging-{os.getpid()}")
    staging.mkdir(parents=True)
    frame.write_parquet(staging / "links.parquet")
    (staging / PLAN_MARKER).write_text("links.parquet\n")
    if final.exists():
        old = final.with_name("plan.old")
        final.rename(old)
        staging.rename(final)
        for path in old.iterdir():
            path.unlink()
        old.rmdir()
    else:
        staging.rename(final)
    return final


def test_url5_python_hash_equals_vectorised_hash():
    tokens = ["abcdefgh", "Zz09Zz09Zz0", "A" * 15, "0123456789abcdef"]
    packed = np.array([token.encode() for token in tokens], dtype="S16")
    assert token_hashes(packed).tolist() == [token_hash(token.encode()) for token in tokens]


def test_url3_lookup_finds_every_token_and_no_other(tmp_path):
    tokens = [f"tok{i:08d}" for i in range(5000)]
    planned = plan(tmp_path, "camp-a", links_frame(tokens))
    watcher = IndexWatcher(tmp_path)
    assert watcher.refresh()
    snapshot = watcher.snapshot
    assert len(snapshot) == 5000
    link = snapshot.lookup(b"tok00000041")
    assert (link.campaign, link.id_line, link.link, link.target) == ("camp-a", 42, 1,
                                                                      b"https://shop.example.com/p?id=42")
    assert (link.ref_list, link.title, link.image, link.plan_dir) == ("crm", "Soldes", "preview.jpg", planned)
    assert all(snapshot.lookup(token.encode()).token == token for token in tokens[::97])
    for unknown in (b"tok99999999", b"short", b"tok0000004!", b"../../etc/passwd", b"x" * 17, b""):
        assert snapshot.lookup(unknown) is None


def test_url3_hash_collisions_resolve_by_comparing_tokens(tmp_path):
    """A table of 2 buckets: every lookup walks a long bucket of other tokens."""
    tokens = [f"coll{i:06d}" for i in range(300)]
    plan(tmp_path, "camp-c", links_frame(tokens))
    watcher = IndexWatcher(tmp_path)
    watcher.refresh()
    loaded = watcher.snapshot.campaigns
    tiny = Snapshot.build(loaded, bits=1)
    assert int(tiny.starts[-1]) == 300 and max(np.diff(tiny.starts)) >= 150
    assert [tiny.lookup(token.encode()).id_line for token in tokens] == list(range(1, 301))
    assert tiny.lookup(b"coll999999") is None


def test_url5_malformed_rows_and_unsafe_targets_are_never_served(tmp_path):
    frame = links_frame(["goodtok01", "badtok02", "badtok03", "bad!tok04"])
    frame = frame.with_columns(target=pl.Series(["https://ok.example/1", "javascript:alert(1)",
                                                 "https://x.example/\r\nSet-Cookie: a=b", "https://ok.example/4"]))
    plan(tmp_path, "camp-u", frame)
    watcher = IndexWatcher(tmp_path)
    watcher.refresh()
    assert len(watcher.snapshot) == 1 and watcher.snapshot.lookup(b"goodtok01").target == b"https://ok.example/1"


def test_url3_campaign_planned_later_then_replanned_then_removed(tmp_path):
    plan(tmp_path, "camp-a", links_frame(["aaaaaaaa1", "aaaaaaaa2"]))
    watcher = IndexWatcher(tmp_path)
    watcher.refresh()
    assert not watcher.refresh()  # nothing changed: the snapshot is kept
    plan(tmp_path, "camp-b", links_frame(["bbbbbbbb1"]))
    assert watcher.refresh()
    assert watcher.snapshot.lookup(b"bbbbbbbb1").campaign == "camp-b"
    assert watcher.snapshot.lookup(b"aaaaaaaa2").campaign == "camp-a"
    plan(tmp_path, "camp-a", links_frame(["aaaaaaaa3"], target="https://new.example/"))  # re-planned
    assert watcher.refresh()
    assert watcher.snapshot.lookup(b"aaaaaaaa1") is None and watcher.snapshot.lookup(b"aaaaaaaa2") is None
    assert watcher.snapshot.lookup(b"aaaaaaaa3").target == b"https://new.example/1"
    for path in (tmp_path / "campaigns" / "camp-b" / "plan").iterdir():
        path.unlink()
    assert watcher.refresh()
    assert watcher.snapshot.lookup(b"bbbbbbbb1") is None and len(watcher.snapshot) == 1


def test_url5_same_token_in_two_campaigns_resolves_to_the_newest_plan(tmp_path):
    old = plan(tmp_path, "camp-old", links_frame(["dupdup001"], target="https://old.example/"))
    os.utime(old / PLAN_MARKER, ns=(1_000_000_000, 1_000_000_000))
    plan(tmp_path, "camp-new", links_frame(["dupdup001"], target="https://new.example/"))
    watcher = IndexWatcher(tmp_path)
    watcher.refresh()
    assert watcher.snapshot.lookup(b"dupdup001").campaign == "camp-new"


def test_url5_expiry_from_the_row_or_the_campaign_lifetime(tmp_path):
    past = datetime(2020, 1, 1, tzinfo=timezone.utc)
    plan(tmp_path, "camp-e", links_frame(["expired01"], expires_at=past))
    plan(tmp_path, "camp-f", links_frame(["forever01"]))
    watcher = IndexWatcher(tmp_path, lifetime_days=30)
    watcher.refresh()
    assert watcher.snapshot.lookup(b"expired01").expires_us == int(past.timestamp() * 1_000_000)
    forever = watcher.snapshot.lookup(b"forever01")
    planned_us = (tmp_path / "campaigns/camp-f/plan" / PLAN_MARKER).stat().st_mtime_ns // 1000
    assert forever.expires_us == planned_us + 30 * 86_400 * 1_000_000


def test_url3_a_plan_whose_links_cannot_be_read_does_not_stop_the_others(tmp_path, capsys):
    plan(tmp_path, "camp-ok", links_frame(["okokokok1"]))
    broken = tmp_path / "campaigns" / "camp-bad" / "plan"
    broken.mkdir(parents=True)
    (broken / "links.parquet").write_bytes(b"not parquet")
    (broken / PLAN_MARKER).write_text("")
    watcher = IndexWatcher(tmp_path)
    watcher.refresh()
    assert watcher.snapshot.lookup(b"okokokok1").campaign == "camp-ok"
    assert "camp-bad not served" in capsys.readouterr().err
    assert not watcher.refresh()  # refused once per version, not rebuilt at every poll


@pytest.mark.parametrize("rows", [0, 1])
def test_url3_cache_of_an_empty_or_tiny_plan(tmp_path, rows):
    source = tmp_path / "links.parquet"
    links_frame([f"tinytok{i:02d}" for i in range(rows)]).write_parquet(source)
    assert build_campaign_cache(str(source), str(tmp_path / "c.arrow")) == rows
    opened = CampaignLinks.open("c", tmp_path, (1, 1), tmp_path / "c.arrow")
    assert len(opened) == rows


def test_url3_each_link_keeps_its_list_line_number_and_preview(tmp_path):
    frame = links_frame(["listtok01", "listtok02", "listtok03"]).with_columns(
        ref_list=pl.Series(["a.csv", "b.csv", "a.csv"]), link=pl.Series([1, 2, 1], dtype=pl.Int32),
        title=pl.Series(["Marie", None, "Zoé"], dtype=pl.String))
    plan(tmp_path, "camp-l", frame)
    watcher = IndexWatcher(tmp_path)
    watcher.refresh()
    found = [watcher.snapshot.lookup(f"listtok0{i}".encode()) for i in (1, 2, 3)]
    assert [(f.ref_list, f.id_line, f.link, f.title) for f in found] == [
        ("a.csv", 1, 1, "Marie"), ("b.csv", 2, 2, ""), ("a.csv", 3, 1, "Zoé")]
    assert [f.short_url for f in found] == [f"{SHORT}/listtok0{i}" for i in (1, 2, 3)]


def test_url3_targets_are_stored_without_their_shared_affixes_and_come_back_whole(tmp_path):
    targets = ["https://shop.fr/p?id=1&utm=sms", "https://shop.fr/p?id=22&utm=sms", "https://shop.fr/p?id=&utm=sms",
               "https://other.example/a", "https://other.example/ab", "https://other.example/a"]
    frame = links_frame([f"afxtok0{i}" for i in range(6)]).with_columns(
        target=pl.Series(targets), link=pl.Series([1, 1, 1, 2, 2, 2], dtype=pl.Int32))
    plan(tmp_path, "camp-x", frame)
    watcher = IndexWatcher(tmp_path)
    watcher.refresh()
    assert [watcher.snapshot.lookup(f"afxtok0{i}".encode()).target.decode() for i in range(6)] == targets
    (campaign,) = watcher.snapshot.campaigns
    assert campaign.affixes == [(b"https://shop.fr/p?id=", b"&utm=sms"), (b"https://other.example/a", b"")]
