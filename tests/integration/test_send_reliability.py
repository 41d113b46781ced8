"""SEND-6, SEND-7, PLUS-1 (issue 7 review): a failed bind says why; overlapping batches never go out twice; a
resume waits for the bind processes of a killed sender; settling and lingering stop once the receipts are in."""

from __future__ import annotations

import socket

import pytest
from helpers import make_plan, mobiles, smsflow

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
