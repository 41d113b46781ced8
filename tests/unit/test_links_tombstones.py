"""PLUS-8, URL-3: clicks answered before an erasure but still in the links service's segments (not rolled yet) lose
their address and agent when they are rolled, like the batches already written; the others keep theirs."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.links.clicks import ClickLog, event_line, read_clicks, roll
from pipelines.links.erase import erase_links, purge_links
from pipelines.links.tombstones import remember, tombstones_file

AGENT = "Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile Safari/537.36"


def _clicks(bucket: Path, rows: list[tuple[str, str, int]]) -> ClickLog:
    """A live worker's log with one closed segment holding a click of each (campaign, list, line), not rolled."""
    log = ClickLog(bucket, worker="test")
    for number, (campaign, ref_list, id_line) in enumerate(rows):
        log.append(event_line(f"Tok{number:06d}", campaign, ref_list, id_line, 1, "click", 1_764_000_000_000_000,
                              "person", False, "192.0.2.0/24", AGENT))
    log.close_segment()
    return log


def _tracked_plan(bucket: Path, campaign: str, rows: list[tuple[str, int]]) -> None:
    plan = bucket / "campaigns" / campaign / "plan"
    plan.mkdir(parents=True)
    pl.DataFrame({"ref_list": [r for r, _ in rows], "id_line": [i for _, i in rows],
                  "target": [f"https://shop.fr/?id={i}" for _, i in rows], "title": "T", "description": "D"}
                 ).write_parquet(plan / "links.parquet")


def _personal(bucket: Path) -> dict[tuple[str, str, int], tuple]:
    return {(c, r, i): (ip, ua) for c, r, i, ip, ua in read_clicks(bucket).select(
        "campaign_id", "ref_list", "id_line", "ip_prefix", "user_agent").rows()}


def test_plus8_a_recipient_erased_before_the_roll_has_no_address_or_agent_in_the_rolled_batch(tmp_path):
    bucket = tmp_path / "bucket"
    log = _clicks(bucket, [("c1", "vip.csv", 1), ("c1", "vip.csv", 2), ("c2", "vip.csv", 1)])
    _tracked_plan(bucket, "c1", [("vip.csv", 1), ("vip.csv", 2)])
    erase_links(bucket, pl.DataFrame({"campaign_id": ["c1"], "ref_list": ["vip.csv"], "id_line": [1]}))
    assert roll(bucket)
    kept = ("192.0.2.0/24", AGENT)
    assert _personal(bucket) == {("c1", "vip.csv", 1): (None, None), ("c1", "vip.csv", 2): kept,
                                 ("c2", "vip.csv", 1): kept}
    log.close()


def test_plus8_a_campaign_purged_before_the_roll_keeps_no_address_or_agent_and_tombstones_add_up(tmp_path):
    bucket = tmp_path / "bucket"
    log = _clicks(bucket, [("c1", "a.csv", 1), ("c1", "b.csv", 7), ("c2", "a.csv", 1)])
    purge_links(bucket, "c1")  # retention: no links.parquet left to scrub, the tombstone still written
    remember(bucket, pl.DataFrame({"campaign_id": ["c2"], "ref_list": ["a.csv"], "id_line": [1]}))
    remember(bucket, pl.DataFrame({"campaign_id": ["c2"], "ref_list": ["a.csv"], "id_line": [1]}))  # once
    assert pl.read_parquet(tombstones_file(bucket)).height == 2
    assert roll(bucket)
    assert len(_personal(bucket)) == 3 and set(_personal(bucket).values()) == {(None, None)}
    log.close()


def test_plus8_a_roll_waits_for_an_erasure_in_progress_so_its_batch_is_scrubbed(tmp_path):
    import threading
    import time

    from pipelines.links.tombstones import erasing

    bucket = tmp_path / "bucket"
    log = _clicks(bucket, [("c1", "vip.csv", 1), ("c1", "vip.csv", 2)])
    rolled = []
    with erasing(bucket):  # the erasure has begun (its tombstone not written yet)
        roller = threading.Thread(target=lambda: rolled.extend(roll(bucket)))
        roller.start()
        time.sleep(0.3)
        assert roller.is_alive() and not rolled  # the roll waits for the erasure
        remember(bucket, pl.DataFrame({"campaign_id": ["c1"], "ref_list": ["vip.csv"], "id_line": [1]}))
    roller.join(timeout=30)
    assert rolled and _personal(bucket)[("c1", "vip.csv", 1)] == (None, None)
    assert _personal(bucket)[("c1", "vip.csv", 2)] == ("192.0.2.0/24", AGENT)
    log.close()
