"""PLUS-1: one live sender per campaign; bind processes die with their sender (issue 7, items 2 and 3)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import frozen, make_plan, mobiles, smsflow, start_smsflow, wait_until

from pipelines.dispatch import CampaignBusy, PlanMissing, SmscSettings, campaign_dirs, send_plan


def _children(pid: int) -> set[int]:
    """Pids whose parent is `pid` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _copies(simulator) -> Counter:
    return Counter((p["destination"], p["ref"], p["seq"]) for p in simulator.records("part"))


def _start_send(simulator, plan_dir: Path, *options: str, **query) -> subprocess.Popen:
    return start_smsflow("send", str(plan_dir), "--smsc", simulator.url(**query), *options, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("binds", [1, 2])
def test_plus1_a_second_sender_of_the_campaign_is_refused_naming_the_folder_and_the_holder(smsc, bucket, binds):
    """The SMSC is frozen while the first sender is mid-send, so it holds the lock for as long as the checks take."""
    simulator = smsc()
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(600))])
    first = _start_send(simulator, plan_dir, "--tps", "150", "--binds", str(binds))
    try:
        wait_until(lambda: len(simulator.records("part")) >= 20, what="the first sender to start")
        with frozen(simulator):
            assert len(simulator.records("part")) < 600  # and it cannot finish while the SMSC is stopped
            with pytest.raises(CampaignBusy) as busy:
                send_plan(plan_dir, SmscSettings.from_url(simulator.url()))
            assert str(plan_dir.parent) in str(busy.value) and f"pid {first.pid}" in str(busy.value)
            with pytest.raises(CampaignBusy):  # a batch of the same plan is refused too
                send_plan(plan_dir, SmscSettings.from_url(simulator.url()), batch=0, batch_size=100)
            second = smsflow("send", str(plan_dir), "--smsc", simulator.url(), timeout=60)
            assert second.returncode != 0 and "being sent by another process" in " ".join(second.stderr.split())
    finally:
        first.communicate(timeout=60)
    assert first.returncode == 0
    copies = _copies(simulator)
    assert len(copies) == 600 and max(copies.values()) == 1


def test_plus1_distinct_batches_of_one_campaign_may_go_out_side_by_side(smsc, bucket):
    """Batch 1 takes its lock while batch 0 provably holds its own (the SMSC frozen mid-send of batch 0)."""
    simulator = smsc()
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(400))])
    first = _start_send(simulator, plan_dir, "--tps", "150", "--batch", "0", "--batch-size", "200")
    batch_1_lock = campaign_dirs(plan_dir)[0].parent / "sender-batch-1.lock"
    try:
        wait_until(lambda: len(simulator.records("part")) >= 10, what="batch 0 to start")
        with ThreadPoolExecutor(max_workers=1) as pool:
            with frozen(simulator):
                assert len(simulator.records("part")) < 200  # batch 0 is mid-send and holds its lock
                with pytest.raises(CampaignBusy, match="batch 0"):
                    send_plan(plan_dir, SmscSettings.from_url(simulator.url()), batch=0, batch_size=200)
                second = pool.submit(send_plan, plan_dir, SmscSettings.from_url(simulator.url()), batch=1,
                                     batch_size=200)
                wait_until(lambda: second.done() or (batch_1_lock.is_file() and
                                                      batch_1_lock.read_text() == f"{os.getpid()}\n"),
                           what="batch 1 to take its lock")
            assert second.result(timeout=60).accepted == 200
    finally:
        first.communicate(timeout=60)
    assert first.returncode == 0
    copies = _copies(simulator)
    assert len(copies) == 400 and max(copies.values()) == 1


def test_plus1_sigkill_of_a_two_bind_sender_kills_its_binds_and_the_resume_sends_each_part_once(smsc, bucket):
    simulator = smsc(receipt_delay=0.05)
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(3000))])
    sender = _start_send(simulator, plan_dir, "--tps", "600", "--binds", "2", ambiguous_grace=1.0)
    wait_until(lambda: len(simulator.records("part")) >= 300, what="both binds to send")
    binds = {pid for pid in _children(sender.pid) if "resource_tracker" not in
             Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")}
    assert len(binds) == 2
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait()
    # Dead binds send nothing more (the SMSC may still read what they wrote: no count is frozen in time here).
    wait_until(lambda: not any(_alive(pid) for pid in binds), timeout=10, what="the bind processes to die")
    assert len(simulator.records("part")) < 3000
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(ambiguous_grace=1.0, binds=2)))
    assert report.skipped > 0
    copies = _copies(simulator)
    assert len(copies) == 3000 and max(copies.values()) == 1


def test_plus1_a_missing_plan_is_named(bucket):
    with pytest.raises(PlanMissing, match=str(bucket / "nowhere")) as missing:
        send_plan(bucket / "nowhere", SmscSettings())
    assert isinstance(missing.value, FileNotFoundError)
