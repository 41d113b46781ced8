"""SEND-6, SEND-7, PLUS-1 (issue 7 review): a failed bind says why; overlapping batches never go out twice; a
resume waits for the bind processes of a killed sender; settling and lingering stop once the receipts are in."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest
from helpers import ROOT, frozen, make_plan, mobiles, smsflow, start_smsflow, wait_until

from pipelines.dispatch import (
    CampaignBusy,
    DispatchError,
    SmscSettings,
    campaign_lock,
    ledger_state,
    send_plan,
)
from pipelines.dispatch import lock as dispatch_lock
from pipelines.dispatch.cleanup import Cleanup
from pipelines.dispatch.session import BindSession
from pipelines.dlr import read_events
from pipelines.layout import CampaignPaths

ROWS = 5


def _free_port() -> int:
    """A local port nothing listens on (bound then released)."""
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        return placeholder.getsockname()[1]


def _unreachable(smsc, case: str) -> tuple[str, str]:
    """(an smpp:// URL, the reason its bind fails) for each way an SMSC can refuse a sender."""
    if case == "nothing listening":
        port = _free_port()
        return f"smpp://acme:secret@127.0.0.1:{port}", f"127.0.0.1:{port} as 'acme' (transceiver): connection refused"
    if case == "bind refused":
        simulator = smsc()
        return (f"smpp://smsflow:wrong@{simulator.host}:{simulator.port}",
                f"{simulator.host}:{simulator.port} as 'smsflow' (transceiver): bind refused with status 0x0E "
                f"(ESME_RINVPASWD)")
    simulator = smsc(bind_delay=30)  # answers long after the sender gives up
    return (simulator.url(bind_timeout=0.5),
            f"{simulator.host}:{simulator.port} as 'smsflow' (transceiver): no bind answer after 0.5 s")


CASES = ["nothing listening", "bind refused", "bind timeout"]


@pytest.mark.parametrize(("case", "binds"), [*((case, 1) for case in CASES), ("nothing listening", 2)])
def test_send6_a_failed_bind_stops_send_plan_with_the_smsc_and_the_reason(smsc, bucket, case, binds):
    """The bind's own error reaches the caller (the Airflow dispatch task too), not the cleanup after it."""
    url, reason = _unreachable(smsc, case)
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(ROWS))])
    with pytest.raises(DispatchError) as error:
        send_plan(plan_dir, SmscSettings.from_url(url, binds=binds))
    assert str(error.value).startswith(f"cannot bind to {reason}")
    assert "secret" not in str(error.value)


@pytest.mark.parametrize("case", CASES)
def test_send6_a_failed_bind_stops_the_cli_with_exit_3_and_the_reason(smsc, bucket, case):
    url, reason = _unreachable(smsc, case)
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(ROWS))])
    result = smsflow("send", str(plan_dir), "--smsc", url, timeout=60)
    said = " ".join(result.stderr.split())
    assert result.returncode == 3, result.stderr
    assert f"Stopped: cannot bind to {reason}" in said
    assert "Traceback" not in result.stderr and "AttributeError" not in said and "secret" not in said


def test_send6_closing_a_session_that_never_bound_does_nothing(bucket):
    session = BindSession(SmscSettings(port=_free_port()), None, None, ("", 0, ""), "", None)
    with pytest.raises(DispatchError, match="connection refused"):
        session.open()
    session.close()
    session.close()  # twice: still nothing to unbind


def test_send6_a_cleanup_error_never_hides_the_error_that_ended_the_send():
    closed = []

    def broken_close() -> None:
        closed.append("session")
        raise OSError("socket already gone")

    with pytest.raises(DispatchError, match="bind refused"):
        with Cleanup() as cleanup:
            cleanup.push(lambda: closed.append("ledger"))
            cleanup.push(broken_close)
            raise DispatchError("bind refused")
    assert closed == ["session", "ledger"]  # every step ran, the last opened first
    with pytest.raises(OSError, match="socket already gone"):  # with nothing else wrong, the cleanup error shows
        with Cleanup() as cleanup:
            cleanup.push(broken_close)


def _copies(simulator) -> Counter:
    """How many times the SMSC took each part (destination, concatenation reference, part number)."""
    return Counter((p["destination"], p["ref"], p["seq"]) for p in simulator.records("part"))


def _start_send(simulator, plan_dir: Path, *options: str, **query) -> subprocess.Popen:
    return start_smsflow("send", str(plan_dir), "--smsc", simulator.url(**query), *options, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)


# Each policy once, each receipt mode once (the lock check is the same code under all four pairs; 15 s each)
@pytest.mark.parametrize("policy, receipts", [("hold", "stored"), ("resend", "session")])
def test_plus1_a_batch_of_another_size_overlapping_a_batch_being_sent_is_refused_naming_it(smsc, bucket, receipts,
                                                                                           policy):
    """Batch 1 of 200 rows is the second half of batch 0 of 400: refused while batch 0 of 400 is mid-send."""
    simulator = smsc(receipts=receipts)
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(400))])
    first = _start_send(simulator, plan_dir, "--tps", "200", "--batch", "0", "--batch-size", "400", "--in-flight",
                        policy)
    try:
        wait_until(lambda: len(simulator.records("part")) >= 10, what="batch 0 of 400 to start")
        with frozen(simulator):
            assert len(simulator.records("part")) < 400  # mid-send: it holds its locks for every check below
            second = smsflow("send", str(plan_dir), "--smsc", simulator.url(), "--batch", "1", "--batch-size", "200",
                             "--in-flight", policy, timeout=60)
            said = " ".join(second.stderr.split())
            assert second.returncode == 3, second.stderr
            assert "batches of 400 rows" in said and f"pid {first.pid}" in said and "Traceback" not in said
    finally:
        first.communicate(timeout=60)
    assert first.returncode == 0
    copies = _copies(simulator)
    assert len(copies) == 400 and max(copies.values()) == 1
    again = smsflow("send", str(plan_dir), "--smsc", simulator.url(), "--batch", "1", "--batch-size", "200")
    assert again.returncode == 0, again.stderr  # its rows are in the ledger already: nothing goes out again
    assert len(simulator.records("part")) == 400


def test_plus1_two_senders_of_different_batch_sizes_started_together_never_both_send(smsc, bucket):
    """Whichever order their lock checks interleave in, at least one of them is refused and no part goes twice."""
    simulator = smsc()
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(400))])
    with frozen(simulator):  # the one that passes waits for its bind answer, holding its locks
        senders = [_start_send(simulator, plan_dir, "--batch", batch, "--batch-size", size, bind_timeout=120)
                   for batch, size in (("0", "400"), ("1", "200"))]
        wait_until(lambda: any(sender.poll() is not None for sender in senders), timeout=60,
                   what="one of the senders to be refused")
    outputs = [sender.communicate(timeout=60) for sender in senders]
    codes = [sender.returncode for sender in senders]
    assert 3 in codes and set(codes) <= {0, 3}, outputs
    assert all("being sent by another process" in " ".join(err.split())
               for (_, err), code in zip(outputs, codes) if code == 3)
    copies = _copies(simulator)
    assert max(copies.values(), default=1) == 1


@pytest.mark.parametrize("id_format", ["decimal", "hex"])
def test_send6_the_linger_ends_once_every_receipt_of_the_run_is_in_not_at_its_budget(smsc, bucket, id_format):
    """A 60 s linger is a ceiling: the send returns as soon as each accepted part has its final receipt."""
    simulator = smsc(message_id_format=id_format, intermediate=["ENROUTE"])
    plan_dir = make_plan(bucket, [(m, f"Message {i}" + " long" * 40 * (i % 2)) for i, m in enumerate(mobiles(40))])
    started = time.monotonic()
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(linger=60.0)))
    assert time.monotonic() - started < 30
    finals = read_events(CampaignPaths.of_plan(plan_dir).events).filter(pl.col("stat") == "DELIVRD")
    assert report.accepted == finals.height == 60  # 20 one-part and 20 two-part messages, every receipt in


def test_send6_the_linger_waits_its_budget_for_a_receipt_that_does_not_come(smsc, bucket):
    simulator = smsc(rules=[{"value": "22", "outcome": "NONE"}])
    plan_dir = make_plan(bucket, [("0611111111", "A"), ("0611111122", "B")])
    started = time.monotonic()
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(linger=1.0)))
    assert time.monotonic() - started >= 1.0 and (report.accepted, report.receipts) == (2, 1)


def _bind_processes(sender: subprocess.Popen) -> set[int]:
    """The bind processes a sender started (its children but Python's resource tracker), from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if parent == sender.pid and "resource_tracker" not in command:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _in_flight(plan_dir: Path) -> int:
    """Parts the ledger shows written to the SMSC and never answered."""
    return ledger_state(CampaignPaths.of_plan(plan_dir).ledger).filter(pl.col("outcome") == "none").height


def _sent_per_bind(plan_dir: Path, binds: int) -> list[int]:
    """How many parts each bind process has put on the wire so far (its ledger's `sent` marks)."""
    ledger = CampaignPaths.of_plan(plan_dir).ledger
    return [sum(path.read_text(encoding="utf-8").count('"event":"sent"') for path in ledger.glob(f"*-bind-{i}-*.jsonl"))
            for i in range(binds)]


WINDOW = 16


@pytest.mark.parametrize("receipts", ["stored", "session"])
@pytest.mark.parametrize("policy", ["hold", "resend"])
def test_send7_a_killed_two_bind_sender_resumed_follows_the_policy(smsc, bucket, receipts, policy):
    """Both binds fill their window against a frozen SMSC, the sender is killed (its binds die with it), and the
    resume settles what was in flight: hold sends no part twice; resend loses none, and sends again at most the
    parts that were in flight."""
    rows = 2000  # 5 s at 400 parts/s: both binds are still sending when the SMSC is frozen
    simulator = smsc(receipts=receipts)
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(rows))])
    sender = _start_send(simulator, plan_dir, "--tps", "400", "--binds", "2", "--window", str(WINDOW))
    wait_until(lambda: min(_sent_per_bind(plan_dir, 2)) >= 50, timeout=60, what="both binds to send")
    binds = _bind_processes(sender)
    assert len(binds) == 2
    with frozen(simulator):
        wait_until(lambda: _in_flight(plan_dir) == 2 * WINDOW, what="both windows full")
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait()
        wait_until(lambda: not any(_alive(pid) for pid in binds), what="the bind processes to die with the sender")
    in_flight = _in_flight(plan_dir)
    assert in_flight == 2 * WINDOW
    # session: the receipts died with the killed binds. stored: a stored receipt ends the grace for its part, so
    # the resume never waits out the 180 s budget (it takes seconds; the bound is generous for a loaded machine).
    grace = 180.0 if receipts == "stored" else 1.0
    started = time.monotonic()
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(ambiguous_grace=grace, binds=2)),
                       in_flight=policy)
    assert receipts == "session" or time.monotonic() - started < grace / 2
    assert report.confirmed_by_receipt + report.held + report.resent == in_flight
    copies = _copies(simulator)
    duplicates = sum(count - 1 for count in copies.values())
    if policy == "hold":
        assert duplicates == 0 and rows - len(copies) <= report.held
    else:
        assert len(copies) == rows and duplicates <= in_flight and report.held == 0


def test_plus1_a_resume_waits_while_a_bind_process_of_the_dead_sender_lives_then_sends_each_part_once(
        smsc, bucket, monkeypatch):
    """A bind process outlives its sender (started under the sender's lock, which is then released as by a
    kill): the resume takes the sender lock but sends nothing until that process is gone, then every part once."""
    monkeypatch.setattr(dispatch_lock, "_ORPHAN_WAIT", 120.0)  # long enough that only the orphan's death ends it
    simulator = smsc()
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(50))])
    orphan = _orphan_bind_process(plan_dir)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            resume = pool.submit(send_plan, plan_dir, SmscSettings.from_url(simulator.url()))
            wait_until(lambda: _flock_held_by(CampaignPaths.of_plan(plan_dir).sender_lock, os.getpid()),
                       what="the resume to take the sender lock")
            assert not resume.done() and simulator.records("part") == []  # it waits for the orphan, sending nothing
            os.kill(orphan.pid, signal.SIGKILL)
            orphan.wait()
            assert resume.result(timeout=60).accepted == 50
    finally:
        orphan.kill()
        orphan.wait()
    copies = _copies(simulator)
    assert len(copies) == 50 and max(copies.values()) == 1


def test_plus1_a_resume_is_refused_naming_a_bind_process_of_the_dead_sender_that_does_not_die(smsc, bucket,
                                                                                                monkeypatch):
    monkeypatch.setattr(dispatch_lock, "_ORPHAN_WAIT", 0.5)
    simulator = smsc()
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(5))])
    orphan = _orphan_bind_process(plan_dir)
    try:
        with pytest.raises(CampaignBusy, match=rf"bind processes of a sender that died, pid {orphan.pid}\)"):
            send_plan(plan_dir, SmscSettings.from_url(simulator.url()))
        assert simulator.records("part") == []
    finally:
        orphan.kill()
        orphan.wait()


def _orphan_bind_process(plan_dir: Path) -> subprocess.Popen:
    """A process that became a bind process of a sender (dispatch.lock.bind_process_started, under the sender's
    lock) and is still alive after that sender let go of its lock."""
    code = ("import signal, sys\nfrom pipelines.dispatch.lock import bind_process_started\n"
            "bind_process_started(sys.argv[1], int(sys.argv[2]))\nprint('bound', flush=True)\nsignal.pause()\n")
    with campaign_lock(plan_dir) as pattern:
        orphan = subprocess.Popen([sys.executable, "-c", code, str(pattern), str(os.getpid())], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True)
        assert orphan.stdout.readline() == "bound\n"
    return orphan


def _flock_held_by(path: Path, pid: int) -> bool:
    """Whether `pid` holds a flock on `path` (Linux /proc/locks)."""
    inode = str(path.stat().st_ino) if path.exists() else None
    return any(fields[1] == "FLOCK" and fields[4] == str(pid) and fields[5].rsplit(":", 1)[-1] == inode
               for fields in (line.split() for line in Path("/proc/locks").read_text().splitlines())
               if len(fields) > 5)
