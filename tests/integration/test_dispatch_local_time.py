"""PLUS-10 (with SEND-2, PLUS-9): a real send to the simulator of a list mixing metropolitan and overseas numbers,
the window judged in each recipient's own time zone."""

from __future__ import annotations

import functools
import logging
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from helpers import make_plan, mobiles

from pipelines.dispatch import SmscSettings, WindowClosed, send_plan, validity_period
from pipelines.window import PARIS, Place, closing_time, policy

REUNION, TAHITI = Place("Indian/Reunion", "974"), Place("Pacific/Tahiti", "PF")


def _numbers(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{100_000 + index:06d}" for index in range(count)]


def _plan(bucket: Path, paris: int, reunion: int, tahiti: int) -> Path:
    numbers = mobiles(paris) + _numbers("+262692", reunion) + _numbers("+68987", tahiti)
    return make_plan(bucket, [(number, f"Promo {index}") for index, number in enumerate(numbers)],
                     type="marketing", message="${Texte} STOP 36184",
                     account={"allowed_countries": ["FR", "RE", "PF"]})


def _fixed(moment: datetime):
    """A clock stopped at `moment` that a bind process can be sent (pickled): binds=2 judges the window by it."""
    return functools.partial(datetime.fromtimestamp, moment.timestamp(), timezone.utc)


def _sent(simulator) -> Counter:
    """Parts on the wire per destination prefix (33, 262, 689)."""
    return Counter(next(code for code in ("33", "262", "689") if part["destination"].startswith(code))
                   for part in simulator.records("part"))


def _assert_every_part_once(simulator, plan_dir: Path) -> None:
    plan = pl.read_parquet(plan_dir / "recipients.parquet").filter(pl.col("STATUS_CODE").is_null())
    parts = simulator.records("part")
    counts = Counter((part["destination"], part["ref"], part["seq"]) for part in parts)
    assert max(counts.values()) == 1, [key for key, count in counts.items() if count > 1][:5]
    assert len(parts) == plan.get_column("PARTS").sum()


@pytest.mark.parametrize("binds", [1, 2])
def test_plus10_only_rows_open_in_their_own_time_zone_go_out_the_others_at_their_opening(smsc, bucket, binds,
                                                                                        caplog):
    simulator = smsc()
    plan_dir = _plan(bucket, paris=60, reunion=40, tahiti=30)
    assert pl.read_parquet(plan_dir / "recipients.parquet").get_column("STATUS_CODE").null_count() == 130
    settings = SmscSettings.from_url(simulator.url(binds=binds))
    # Tuesday 10:00 in Paris: 13:00 in Réunion (open), Monday 23:00 in Tahiti (closed until 08:00 there).
    morning = datetime(2026, 11, 24, 10, 0, tzinfo=PARIS)
    with pytest.raises(WindowClosed) as closed:
        send_plan(plan_dir, settings, clock=_fixed(morning))
    tahiti_opens = datetime(2026, 11, 24, 19, 0, tzinfo=PARIS)  # 08:00 in Tahiti
    assert closed.value.reopens == tahiti_opens and closed.value.reopens.utcoffset() == PARIS.utcoffset(morning)
    assert _sent(simulator) == {"33": 60, "262": 40}
    assert (closed.value.sent, closed.value.waiting) == (100, 30)
    assert "30 parts wait for their recipients' local window" in str(closed.value)
    # PLUS-9: each part expires when its recipient's own window closes (20:00 Paris; 20:00 Réunion = 17:00 Paris)
    validity = {part["destination"][:3]: part["validity_period"] for part in simulator.records("part")}
    assert validity["336"] == validity_period(datetime(2026, 11, 24, 20, 0, tzinfo=PARIS))
    assert validity["262"] == validity_period(closing_time(policy("seed"), morning, REUNION))
    assert validity["262"] != validity["336"]

    with pytest.raises(WindowClosed):  # still night in Tahiti: nothing more goes out, nothing twice
        send_plan(plan_dir, settings, clock=_fixed(datetime(2026, 11, 24, 18, 59, tzinfo=PARIS)))
    assert sum(_sent(simulator).values()) == 100

    caplog.set_level(logging.WARNING, logger="pipelines.dispatch.batch")
    report = send_plan(plan_dir, settings, clock=_fixed(tahiti_opens))  # Réunion is closed by then: all sent
    assert _sent(simulator) == {"33": 60, "262": 40, "689": 30}
    assert (report.accepted, report.skipped) == (30, 100)
    _assert_every_part_once(simulator, plan_dir)
    tahiti = {part["validity_period"] for part in simulator.records("part") if part["destination"][:3] == "689"}
    assert tahiti == {validity_period(closing_time(policy("seed"), tahiti_opens, TAHITI))}
    # +262 and +689 mobiles have several zones in phonenumbers: the region's zone stood in, and the send says so
    assert report.zone_fallback == 70 and "time zone phonenumbers could not name" in report.describe()
    if binds == 1:
        assert "Indian/Reunion (by region)" in caplog.text and "[PLUS-10]" in caplog.text


def test_plus10_plus9_a_place_whose_window_closes_mid_batch_stops_alone_and_resumes_at_its_opening(smsc, bucket):
    simulator = smsc()
    plan_dir = _plan(bucket, paris=300, reunion=300, tahiti=0)
    # Tuesday 16:30 in Paris, 19:30 in Réunion: Réunion's window closes first (20:00 there, 17:00 Paris), so its
    # rows go first; the clock reaches 17:00 Paris after 100 answers.
    clock = type("Clock", (), {"moment": datetime(2026, 11, 24, 16, 30, tzinfo=PARIS),
                               "__call__": lambda self: self.moment})()

    def progress(count: int) -> None:
        progress.answered += count
        if progress.answered >= 100:
            clock.moment = datetime(2026, 11, 24, 17, 0, tzinfo=PARIS)

    progress.answered = 0
    settings = SmscSettings.from_url(simulator.url(window=16))
    with pytest.raises(WindowClosed) as closed:
        send_plan(plan_dir, settings, clock=clock, progress=progress)
    sent = _sent(simulator)
    assert 100 <= sent["262"] <= 100 + 16  # what was in flight is answered, no more
    assert sent["33"] == 300  # Paris's window is still open: its rows all went out
    assert closed.value.waiting == 300 - sent["262"] and closed.value.sent == sum(sent.values())
    assert closed.value.reopens == datetime(2026, 11, 25, 5, 0, tzinfo=PARIS)  # Wednesday 08:00 in Réunion
    clock.moment = closed.value.reopens  # 05:00 in Paris: closed there, but nothing is left for Paris
    report = send_plan(plan_dir, settings, clock=clock)
    assert report.accepted == 300 - sent["262"]
    _assert_every_part_once(simulator, plan_dir)
