"""PLUS-1, SEND-7 (issue 13): with the send ledger in the account store on PostgreSQL, a batch killed on one worker
is resumed by another that has none of its files (a copy of only the plan folder), against the real SMSC simulator;
the sender and batch locks are advisory locks any worker sees, released when their holder is killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import frozen, make_plan, mobiles, start_smsflow, wait_until
from sqlalchemy import func, select, text

from pipelines.dispatch import CampaignBusy, SmscSettings, campaign_dirs, ledger_state, send_plan
from pipelines.store import open_store
from pipelines.store.schema import send_ledger

WINDOW = 16
ROWS = 400
BOTH = pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)  # locks: flock / advisory
POSTGRESQL = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)


@pytest.fixture(autouse=True)
def _ledger_in_the_store(store_url, monkeypatch):
    monkeypatch.setenv("SMSFLOW_LEDGER", "store")  # inherited by the senders the tests start


def _events(store_url: str) -> Counter:
    with open_store(store_url).connect() as connection:
        return Counter(dict(connection.execute(select(send_ledger.c.event, func.count())
                                               .group_by(send_ledger.c.event)).all()))


def _two_workers(tmp_path: Path, rows: int) -> tuple[Path, Path]:
    """The campaign's plan on worker 1, and on worker 2 a copy of only its plan folder (same campaign id)."""
    plan_1 = make_plan(tmp_path / "worker-1", [(m, f"Message {i}") for i, m in enumerate(mobiles(rows))])
    plan_2 = tmp_path / "worker-2" / plan_1.parent.name / plan_1.name
    shutil.copytree(plan_1, plan_2)
    return plan_1, plan_2


def _no_ledger_files(*plans: Path) -> bool:
    return not any(any(campaign_dirs(plan)[0].glob("*.jsonl")) for plan in plans)


def _holds_batch(store_url: str, batch: int) -> bool:
    """Whether this test process's sender holds the advisory lock of `batch` (pg_locks, by its application_name)."""
    query = text("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = "
                 "'advisory' AND l.granted AND l.objsubid = 2 AND l.objid::bigint = :batch AND NOT l.mode LIKE "
                 "'Share%' AND a.application_name LIKE :name")
    with open_store(store_url).connect() as connection:
        return bool(connection.execute(query, {"batch": batch, "name": f"smsflow sender pid {os.getpid()} on %"})
                    .scalar())


def _asleep(pid: int, still: float = 0.3) -> bool:
    """The process sleeps (waits on a socket) now and still does `still` seconds later."""
    import psutil

    process = psutil.Process(pid)
    if process.status() != psutil.STATUS_SLEEPING:
        return False
    time.sleep(still)
    return process.status() == psutil.STATUS_SLEEPING


def _when_free(send, timeout: float = 30.0):
    """`send()` once the campaign's lock is free (a CampaignBusy retried for up to `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return send()
        except CampaignBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _start_send(simulator, plan_dir: Path, *options: str, **query) -> subprocess.Popen:
    return start_smsflow("send", str(plan_dir), "--smsc", simulator.url(**query), *options, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)


@BOTH
@pytest.mark.parametrize("policy", ["hold", "resend"])
def test_send7_plus1_a_sender_killed_on_one_worker_is_resumed_on_another_from_the_store(smsc, tmp_path, store_url,
                                                                                       policy):
    """The SMSC is frozen while the sender fills its window, so exactly WINDOW parts are written and unanswered at
    the SIGKILL; the receipts die with the session, so nothing proves them taken: the policy decides."""
    simulator = smsc(receipt_delay=0.05, receipts="session")
    plan_1, plan_2 = _two_workers(tmp_path, ROWS)
    sender = start_smsflow("send", str(plan_1), "--smsc", simulator.url(), "--tps", "400", "--window", str(WINDOW))
    try:
        wait_until(lambda: len(simulator.records("part")) >= 100, what="the send to be under way")
        os.kill(simulator.process.pid, signal.SIGSTOP)
        wait_until(lambda: (lambda c: c["sent"] - c["accepted"] == WINDOW)(_events(store_url)),
                   what="a full window in flight, in the store")
        # a part is marked sent just before its bytes go out: wait until the sender sleeps on its full window (its
        # last burst written), or a loaded machine kills it between the mark and the write
        wait_until(lambda: _asleep(sender.pid), what="the sender to wait on its full window")
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait()
    finally:
        os.kill(simulator.process.pid, signal.SIGCONT)
    written = _events(store_url)["sent"]
    wait_until(lambda: len(simulator.records("part")) == written, what="the SMSC to take the written parts")
    report = send_plan(plan_2, SmscSettings.from_url(simulator.url(ambiguous_grace=0.5)), in_flight=policy)
    copies = Counter(p["destination"] for p in simulator.records("part"))
    assert len(copies) == ROWS  # nothing unsent forgotten
    duplicates = sum(count - 1 for count in copies.values())
    if policy == "hold":  # at most once
        assert (report.held, report.resent, duplicates) == (WINDOW, 0, 0)
    else:  # at least once: the window in flight sent again
        assert (report.held, report.resent, duplicates) == (0, WINDOW, WINDOW)
    assert report.skipped == written - WINDOW
    outcomes = Counter(ledger_state(campaign_dirs(plan_2)[0]).get_column("outcome").to_list())
    assert outcomes == Counter({"accepted": ROWS - report.held, **({"held": report.held} if report.held else {})})
    assert ledger_state(campaign_dirs(plan_1)[0]).equals(ledger_state(campaign_dirs(plan_2)[0]))  # one ledger
    assert _no_ledger_files(plan_1, plan_2)  # nothing of it on either worker's disk


@BOTH
def test_plus1_the_lock_refuses_a_sender_in_another_working_folder_and_dies_with_its_holder(smsc, tmp_path,
                                                                                           store_url):
    """PostgreSQL: advisory locks (any host); SQLite (one host): file locks beside the store's file, not in either
    working folder."""
    simulator = smsc(receipt_delay=0.05)
    plan_1, plan_2 = _two_workers(tmp_path, 600)
    first = _start_send(simulator, plan_1, "--tps", "150")
    try:
        wait_until(lambda: len(simulator.records("part")) >= 20, what="the first sender to start")
        with frozen(simulator):
            with pytest.raises(CampaignBusy) as busy:
                send_plan(plan_2, SmscSettings.from_url(simulator.url()))
            said = str(busy.value)
            assert f"pid {first.pid}" in said and "one live sender per campaign" in said and "[PLUS-1]" in said
            with pytest.raises(CampaignBusy, match="batch 0 needs the plan free"):
                send_plan(plan_2, SmscSettings.from_url(simulator.url()), batch=0, batch_size=100)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    # Its session ended with it: worker 2 takes the campaign over and sends the rest, each part once (PostgreSQL
    # frees the advisory lock when its server process sees the killed client's socket close: soon, not at once).
    report = _when_free(lambda: send_plan(plan_2, SmscSettings.from_url(simulator.url(ambiguous_grace=1.0)),
                                          in_flight="hold"))
    copies = Counter(p["destination"] for p in simulator.records("part"))
    assert max(copies.values()) == 1 and len(copies) + report.held == 600
    assert _no_ledger_files(plan_1, plan_2)


@POSTGRESQL
def test_plus1_batches_on_two_workers_go_out_side_by_side_and_a_batch_is_sent_by_one(smsc, tmp_path, store_url):
    simulator = smsc(receipt_delay=0.05)
    plan_1, plan_2 = _two_workers(tmp_path, 400)
    first = _start_send(simulator, plan_1, "--tps", "150", "--batch", "0", "--batch-size", "200")
    try:
        wait_until(lambda: len(simulator.records("part")) >= 10, what="batch 0 to start")
        with ThreadPoolExecutor(max_workers=1) as pool:
            with frozen(simulator):
                with pytest.raises(CampaignBusy, match="batch 0"):
                    send_plan(plan_2, SmscSettings.from_url(simulator.url()), batch=0, batch_size=200)
                with pytest.raises(CampaignBusy, match="batches of 200 rows, which overlap batches of 100 rows"):
                    send_plan(plan_2, SmscSettings.from_url(simulator.url()), batch=1, batch_size=100)
                with pytest.raises(CampaignBusy, match="the whole plan"):
                    send_plan(plan_2, SmscSettings.from_url(simulator.url()))
                second = pool.submit(send_plan, plan_2, SmscSettings.from_url(simulator.url()), batch=1,
                                     batch_size=200)
                wait_until(lambda: second.done() or _holds_batch(store_url, 1),
                           what="batch 1 to take its lock while batch 0 holds its own")
            assert second.result(timeout=60).accepted == 200
    finally:
        first.communicate(timeout=60)
    assert first.returncode == 0, first.stderr
    copies = Counter(p["destination"] for p in simulator.records("part"))
    assert len(copies) == 400 and max(copies.values()) == 1


@BOTH
def test_plus1_a_two_bind_sender_killed_on_one_worker_is_resumed_on_another_once_its_binds_are_gone(smsc, tmp_path,
                                                                                                    store_url):
    simulator = smsc(receipt_delay=0.05)
    plan_1, plan_2 = _two_workers(tmp_path, 3000)
    sender = _start_send(simulator, plan_1, "--tps", "600", "--binds", "2", ambiguous_grace=1.0)
    wait_until(lambda: len(simulator.records("part")) >= 300, what="both binds to send")
    os.kill(sender.pid, signal.SIGKILL)
    sender.communicate()
    report = send_plan(plan_2, SmscSettings.from_url(simulator.url(ambiguous_grace=1.0, binds=2)))
    assert report.skipped > 0
    copies = Counter((p["destination"], p["ref"], p["seq"]) for p in simulator.records("part"))
    assert len(copies) == 3000 and max(copies.values()) == 1


@POSTGRESQL
def test_plus1_bind_processes_left_alive_on_another_host_hold_back_a_resume_of_their_rows(tmp_path, store_url,
                                                                                          monkeypatch):
    """A bind process whose sender died (on another host: no flock here sees it) holds its bind lock in the store;
    a sender of its rows waits for it to end, then is refused naming it; other batches' rows are free."""
    import sys

    from pipelines.dispatch import lock_advisory
    from pipelines.dispatch.lock import campaign_lock

    monkeypatch.setattr(lock_advisory, "_ORPHAN_WAIT", 0.5)
    plan_1, plan_2 = _two_workers(tmp_path, 10)
    root = plan_1.parent
    orphan = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from pipelines.dispatch.lock_advisory import hold_bind_lock\n"
        "from pipelines.layout import CampaignPaths\n"
        "from pipelines.store import open_store\n"
        f"hold_bind_lock(open_store({store_url!r}), CampaignPaths(Path({str(root)!r})), 'rows-0-200')\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert orphan.stdout.readline().strip() == "held"
        with pytest.raises(CampaignBusy, match=f"bind processes of a sender that died, pid {orphan.pid} on "):
            with campaign_lock(plan_2, batch=0, batch_size=200):
                pass
        with pytest.raises(CampaignBusy, match="bind processes of a sender that died"):
            with campaign_lock(plan_2):  # the whole plan overlaps every batch
                pass
        with campaign_lock(plan_2, batch=1, batch_size=200):  # rows 200-400: not the orphan's
            pass
        with pytest.raises(CampaignBusy, match="bind processes of a sender that died"):
            with campaign_lock(plan_2, batch=1, batch_size=150):  # rows 150-300: another size, overlapping its rows
                pass
        with campaign_lock(plan_2, batch=2, batch_size=100):  # rows 200-300: another size, none of its rows
            pass
    finally:
        orphan.kill()
        orphan.wait()
    wait_until(lambda: _free(plan_2), what="the lock to be free once the bind process is gone")


def _free(plan_dir: Path) -> bool:
    from pipelines.dispatch.lock import campaign_lock

    try:
        with campaign_lock(plan_dir, batch=0, batch_size=200):
            return True
    except CampaignBusy:
        return False


@POSTGRESQL
def test_send3_test_sends_keep_a_ledger_of_their_own_in_the_store(smsc, tmp_path, store_url):
    """A test send (SEND-3) with the ledger in the store: its rows are the campaign's `/tests` ledger, never the
    campaign's own (whose resume they must not skip), and the SMSC's answers come back from them."""
    from pipelines.dispatch import send_test
    from pipelines.layout import CampaignPaths

    simulator = smsc()
    paths = CampaignPaths(tmp_path / "worker-1" / "campaigns" / "c1")
    results = send_test("Bonjour", "GSM7", ["0611111111", "0622222222"], SmscSettings.from_url(simulator.url()),
                        "SHOP", paths.tests, paths.test_events)
    assert [result.message_id is not None for result in results] == [True, True]
    with open_store(store_url).connect() as connection:
        assert set(connection.execute(select(send_ledger.c.campaign)).scalars()) == {"c1/tests"}
    assert ledger_state(paths.ledger).is_empty() and ledger_state(paths.tests).height == 2
    assert not any(paths.tests.glob("*.jsonl")) and not any(paths.ledger.glob("*.jsonl"))
