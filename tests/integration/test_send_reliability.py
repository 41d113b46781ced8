"""SEND-6, SEND-7, PLUS-1 (issue 7 review): a failed bind says why; overlapping batches never go out twice; a
resume waits for the bind processes of a killed sender; settling and lingering stop once the receipts are in."""

from __future__ import annotations

import socket
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from helpers import frozen, make_plan, mobiles, smsflow, start_smsflow, wait_until

from pipelines.dispatch import DispatchError, SmscSettings, send_plan
from pipelines.dispatch.session import BindSession, Cleanup

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


def test_plus1_a_batch_of_another_size_overlapping_a_batch_being_sent_is_refused_naming_it(smsc, bucket):
    """Batch 1 of 200 rows is the second half of batch 0 of 400: refused while batch 0 of 400 is mid-send."""
    simulator = smsc()
    plan_dir = make_plan(bucket, [(m, f"Message {i}") for i, m in enumerate(mobiles(400))])
    first = _start_send(simulator, plan_dir, "--tps", "150", "--batch", "0", "--batch-size", "400")
    try:
        wait_until(lambda: len(simulator.records("part")) >= 10, what="batch 0 of 400 to start")
        with frozen(simulator):
            assert len(simulator.records("part")) < 400  # mid-send: it holds its locks for every check below
            second = smsflow("send", str(plan_dir), "--smsc", simulator.url(), "--batch", "1", "--batch-size", "200",
                             timeout=60)
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
