"""Recovery on its own (pipelines/dispatch/recovery.py): parts in flight when a sender stopped (SEND-7), and what
crosses to a bind process (SEND-2, SEND-6)."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone

from pipelines.dispatch import (DispatchReport, Ledger, OutPart, SendJob, SmscSettings, WindowClosed,
                                in_flight_policy, ledger_state)
from pipelines.dispatch.recovery import confirm_by_receipts, settle_in_flight
from pipelines.dlr import HELD_REASON, EventWriter

DIGEST = "0123456789abcdef"


def part(number: int, text: str, order: int = 0) -> OutPart:
    key = f"3361000{number:04d}\x1f{DIGEST}\x1f1\x1f1"
    return OutPart(order, key, f"3361000{number:04d}", text.encode("utf-16-be"), 0, 8, text, order)


class ListeningSession:
    """Stands in for a bound session (a socket cannot run here): the receipts it got while listening."""

    def __init__(self, receipts: list[dict]):
        self.receipts = receipts
        self.listened: list[float] = []

    def listen(self, seconds: float, until=None) -> None:
        self.listened.append(seconds)


def receipt(number: int, text: str, message_id: str) -> dict:
    return {"handset": f"+3361000{number:04d}", "text": text, "message_id": message_id}


def state_of(directory) -> dict[str, tuple[str, str | None]]:
    state = ledger_state(directory)
    return {row["key"]: (row["outcome"], row["message_id"]) for row in state.iter_rows(named=True)}


def in_flight_ledger(directory, parts: list[OutPart]) -> Ledger:
    """A ledger whose parts went on the wire and were never answered, as a killed sender leaves it."""
    ledger = Ledger(directory, "bind", group=64)
    ledger.intents([p.key for p in parts])
    for p in parts:
        ledger.sent(p.key)
    return ledger


def test_send7_a_receipt_from_the_handset_quoting_the_text_confirms_the_part(tmp_path):
    ours = part(1, "Bonjour Anne, votre commande est prête")
    other_text = part(2, "Bonjour Paul, votre commande est prête")
    other_handset = part(3, "Bonjour Zoé, votre commande est prête")
    ledger = in_flight_ledger(tmp_path, [ours, other_text, other_handset])
    receipts = [receipt(1, "Bonjour Anne, votre ", "id-1"),  # SMSCs quote the first 20 characters
                receipt(2, "Bonjour Anne, votre ", "id-x"),  # another person's text: no proof
                receipt(9, "Bonjour Zo?, votre c", "id-9")]  # the text, but from another handset
    confirmed = confirm_by_receipts([ours, other_text, other_handset], receipts, ledger)
    ledger.close()
    assert confirmed == {ours.key}
    assert state_of(tmp_path) == {ours.key: ("accepted", "id-1"), other_text.key: ("none", None),
                                  other_handset.key: ("none", None)}


def test_send7_a_receipt_quotes_text_outside_latin1_as_replaced(tmp_path):
    ours = part(3, "Zoë 😀 votre colis")
    ledger = in_flight_ledger(tmp_path, [ours])
    assert confirm_by_receipts([ours], [receipt(3, "Zoë ? votre colis", "id-3")], ledger) == {ours.key}
    ledger.close()


def test_send7_hold_records_unproven_parts_held_and_confirmed_ones_accepted(tmp_path):
    ledger_dir, events_dir = tmp_path / "ledger", tmp_path / "events"
    taken, stored, unproven = part(1, "Message one", 0), part(2, "Message two", 1), part(3, "Message three", 2)
    ledger = in_flight_ledger(ledger_dir, [taken, stored, unproven])
    # A receipt an earlier run stored counts as much as one arriving now.
    earlier = EventWriter(events_dir, "receiver")
    earlier.add(kind="receipt", message_id="id-2", stat="DELIVRD", handset="+33610000002", text="Message two")
    earlier.flush()
    session = ListeningSession([receipt(1, "Message one", "id-1")])

    confirmed, held = settle_in_flight(session, [taken, stored, unproven], ledger, events_dir, "hold", grace=2.5)
    ledger.close()

    assert session.listened == [2.5]
    assert confirmed == {taken.key, stored.key} and held == {unproven.key}
    assert state_of(ledger_dir) == {taken.key: ("accepted", "id-1"), stored.key: ("accepted", "id-2"),
                                    unproven.key: ("held", None)}
    evidence = [line for line in next(ledger_dir.glob("*.jsonl")).read_text().splitlines() if '"held"' in line]
    assert len(evidence) == 1 and HELD_REASON.split()[0] in evidence[0]


def test_send7_resend_records_unproven_parts_to_send_again_and_holds_none(tmp_path):
    ledger_dir = tmp_path / "ledger"
    taken, unproven = part(1, "Message one", 0), part(2, "Message two", 1)
    ledger = in_flight_ledger(ledger_dir, [taken, unproven])
    confirmed, held = settle_in_flight(ListeningSession([receipt(1, "Message one", "id-1")]), [taken, unproven],
                                       ledger, tmp_path / "events", "resend", grace=0.0)
    ledger.close()
    assert confirmed == {taken.key} and held == set()
    assert state_of(ledger_dir) == {taken.key: ("accepted", "id-1"), unproven.key: ("resend", None)}


def test_send7_policy_is_the_chosen_one_else_the_campaigns_else_by_type():
    assert in_flight_policy("marketing") == "hold"
    assert in_flight_policy("notification") == "resend"
    assert in_flight_policy("marketing", "resend") == "resend"
    assert in_flight_policy("notification", "hold") == "hold"
    assert in_flight_policy("marketing", "resend", "hold") == "hold"


def test_send2_window_closed_crosses_from_a_bind_process_to_its_parent():
    # A bind process returns WindowClosed to send_plan through a pickle; unpickling rebuilt it from its message
    # and failed, so the parent saw "a bind process died" instead of when the batch resumes.
    reopens = datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)
    closed = pickle.loads(pickle.dumps(WindowClosed(reopens, 1234)))
    assert (closed.reopens, closed.sent) == (reopens, 1234)
    assert "1,234 parts went out" in str(closed) and "resumes at Wednesday 25/11/2026 07:00" in str(closed)


def test_send6_a_send_job_and_its_report_cross_to_a_bind_process_whole(tmp_path):
    job = SendJob(tmp_path / "plan", SmscSettings(port=2776, binds=2, tps=100), batch=3, batch_size=500,
                  bind_index=1, binds=2, in_flight="hold", release_held=True, sender="SHOP",
                  valid_until=datetime(2026, 11, 25, 19, 0, tzinfo=timezone.utc))
    assert pickle.loads(pickle.dumps(job)) == job
    assert job.name == "batch-3-bind-1"
    report = DispatchReport(batch=3, accepted=10, held=2)
    assert pickle.loads(pickle.dumps(report)) == report
