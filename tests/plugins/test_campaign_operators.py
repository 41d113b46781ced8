"""SEND-1, SEND-2: the wait operator defers to the send time and, for marketing, to the send window's next opening."""

from __future__ import annotations

from datetime import datetime

import pytest
from helpers import write_list, write_spec

from pipelines.window import PARIS
from smsflow_provider.operators.campaign import CANCEL_CHECK


@pytest.fixture
def clock(monkeypatch):
    """The time the operator and `send_target` read, set by the test (`clock.moment = ...`)."""
    import pipelines.campaign
    from smsflow_provider.operators import campaign as operators

    class Clock(datetime):
        moment: datetime

        @classmethod
        def now(cls, tz=None):
            return cls.moment.astimezone(tz)

    monkeypatch.setattr(operators, "datetime", Clock)
    monkeypatch.setattr(pipelines.campaign, "datetime", Clock)
    return Clock


def wait_operator(spec):
    from smsflow_provider.operators.campaign import WaitForSendTimeOperator

    write_list(spec.parent / "a.csv", "Mobile\n0611111111\n")  # the spec's list exists: load_spec checks it
    return WaitForSendTimeOperator(task_id="wait", spec_path=str(spec))


def test_send2_wait_operator_defers_a_marketing_send_outside_the_window_to_its_next_opening(tmp_path, clock,
                                                                                            capsys):
    from airflow.sdk.exceptions import TaskDeferred

    clock.moment = datetime(2026, 12, 24, 20, 30, tzinfo=PARIS)  # Thursday, past the seed window's 20:00
    operator = wait_operator(write_spec(tmp_path, lists=["a.csv"], type="marketing", message="Promo STOP 36184"))
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    # Its log (Airflow's task log: structlog, on stdout here) says what it waits for and why, in Paris time.
    assert "Waiting for Saturday 08:00 Paris (SEND-2): marketing messages are sent Mon–Sat 08:00–20:00 in each " \
           "recipient's own time, never on public holidays." in capsys.readouterr().out
    opening = datetime(2026, 12, 26, 8, 0, tzinfo=PARIS)  # Friday is Christmas: Saturday at 08:00
    # It wakes every CANCEL_CHECK to see a cancel (CAMP-3), and defers again until the opening.
    assert deferred.value.trigger.moment == clock.moment + CANCEL_CHECK
    assert deferred.value.method_name == "execute_complete"
    clock.moment = opening - CANCEL_CHECK / 2
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute_complete({})
    assert deferred.value.trigger.moment == opening
    clock.moment = opening  # the trigger fires: checked again, the window is open, the task goes on
    assert operator.execute_complete({}) == opening.isoformat()


def test_send2_wait_operator_lets_a_marketing_send_inside_the_window_go_at_once(tmp_path, clock):
    clock.moment = datetime(2026, 12, 24, 19, 59, tzinfo=PARIS)
    operator = wait_operator(write_spec(tmp_path, lists=["a.csv"], type="marketing", message="Promo STOP 36184"))
    assert operator.execute({}) == clock.moment.isoformat()


def test_send1_wait_operator_defers_a_notification_to_its_send_at_whatever_the_window(tmp_path, clock):
    from airflow.sdk.exceptions import TaskDeferred

    clock.moment = datetime(2026, 12, 24, 20, 30, tzinfo=PARIS)
    operator = wait_operator(write_spec(tmp_path, lists=["a.csv"], type="notification", message="Colis",
                                        send_at="2026-12-25T23:00:00+01:00"))  # Christmas night: not bound by SEND-2
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    assert deferred.value.trigger.moment == clock.moment + CANCEL_CHECK  # wakes to see a cancel (CAMP-3)
    clock.moment = datetime(2026, 12, 25, 22, 50, tzinfo=PARIS)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute_complete({})
    assert deferred.value.trigger.moment == datetime(2026, 12, 25, 23, 0, tzinfo=PARIS)
