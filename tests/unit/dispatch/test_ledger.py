"""The send ledger (pipelines/dispatch/ledger.py) on its own: records written, state read back (PLUS-1, SEND-7)."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.dispatch import Ledger, ledger_state
from pipelines.dispatch.ledger import boot_id
from pipelines.smpp import pdu as P

DIGEST = "0123456789abcdef"


def key(number: int, part: int = 1) -> str:
    """A part key as dlr.part_key makes them: number, message digest, occurrence, part."""
    return f"3361000{number:04d}\x1f{DIGEST}\x1f1\x1f{part}"


def outcomes(directory: Path) -> dict[str, str]:
    state = ledger_state(directory)
    return dict(zip(state.get_column("key").to_list(), state.get_column("outcome").to_list()))


def write_lines(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records), encoding="utf-8")


def test_plus1_ledger_records_round_trip_through_ledger_state(tmp_path):
    ledger = Ledger(tmp_path, "batch-all-bind-0", group=2)
    ledger.intents([key(1), key(2), key(3), key(4, 2)])
    for k in (key(1), key(2), key(3), key(4, 2)):
        ledger.sent(k)
    ledger.outcome(key(1), P.ESME_ROK, "id-1")
    ledger.outcome(key(2), P.ESME_RINVDSTADR, None)
    ledger.outcome(key(3), P.ESME_RTHROTTLED, None)
    ledger.close()

    state = ledger_state(tmp_path).sort("key")
    assert dict(zip(state["key"], state["outcome"])) == {
        key(1): "accepted", key(2): "refused", key(3): "throttled", key(4, 2): "none"}
    accepted = state.filter(state["key"] == key(1)).row(0, named=True)
    assert (accepted["status"], accepted["message_id"]) == (0, "id-1")
    assert accepted["MESSAGE_KEY"] == f"33610000001\x1f{DIGEST}\x1f1" and accepted["PART"] == 1
    in_flight = state.filter(state["key"] == key(4, 2)).row(0, named=True)
    assert in_flight["PART"] == 2 and in_flight["status"] is None and in_flight["ts"] is not None


def test_plus1_intents_are_on_disk_before_any_part_is_sent(tmp_path):
    ledger = Ledger(tmp_path, "bind", group=1000)
    ledger.intents([key(1), key(2)])
    # Read by another process while this ledger is still open: the intents are already in the file.
    events = [json.loads(line)["event"] for line in ledger.path.read_text(encoding="utf-8").splitlines()]
    assert events == ["open", "intent", "intent"]
    assert outcomes(tmp_path) == {key(1): "unsent", key(2): "unsent"}
    ledger.close()


def test_send7_announced_but_never_marked_sent_is_unsent_not_in_flight(tmp_path):
    ledger = Ledger(tmp_path, "bind", group=64)
    ledger.intents([key(1), key(2)])
    ledger.sent(key(1))  # the process died before key(2) went on the wire
    ledger.flush()
    assert outcomes(tmp_path) == {key(1): "none", key(2): "unsent"}


def test_send7_intents_of_another_boot_count_as_sent(tmp_path):
    # The `sent` marks are not fsynced: after a reboot they may be lost, so an intent is assumed on the wire.
    write_lines(tmp_path / "a.jsonl", [{"event": "open", "boot": "another-boot", "ts": 1.0},
                                       {"key": key(1), "event": "intent", "ts": 2.0}])
    assert boot_id()  # Linux: this boot is known, so the file above is of another one
    assert outcomes(tmp_path) == {key(1): "none"}


def test_plus1_a_line_cut_by_a_crash_ends_its_file_not_the_ledger(tmp_path):
    ledger = Ledger(tmp_path, "bind", group=1)
    ledger.intents([key(1), key(2)])
    ledger.sent(key(1))
    ledger.sent(key(2))
    ledger.outcome(key(1), P.ESME_ROK, "id-1")
    ledger.close()
    with ledger.path.open("a", encoding="utf-8") as stream:
        stream.write('{"key":"%s","event":"accep' % key(2).replace("\x1f", "\\u001f"))  # cut mid-record
    later = Ledger(tmp_path, "bind", group=1)
    later.intents([key(3)])
    later.sent(key(3))
    later.outcome(key(3), P.ESME_ROK, "id-3")
    later.close()

    assert outcomes(tmp_path) == {key(1): "accepted", key(2): "none", key(3): "accepted"}


def test_plus1_ledger_state_orders_records_of_several_files_by_time(tmp_path):
    this_boot = boot_id()
    open_record = {"event": "open", "boot": this_boot, "ts": 0.0}
    # File names sort a < b, but b's throttled answer came first: the last outcome by time wins.
    write_lines(tmp_path / "a.jsonl", [open_record,
                                       {"key": key(1), "event": "intent", "ts": 1.0},
                                       {"key": key(1), "event": "sent"},
                                       {"key": key(1), "event": "accepted", "status": 0, "message_id": "late",
                                        "evidence": "submit_sm_resp", "ts": 9.0}])
    write_lines(tmp_path / "b.jsonl", [open_record,
                                       {"key": key(1), "event": "throttled", "status": 0x58, "message_id": None,
                                        "evidence": "submit_sm_resp", "ts": 5.0},
                                       # sent again after its outcome (an intent newer than it): in flight
                                       {"key": key(2), "event": "refused", "status": 0x0B, "message_id": None,
                                        "evidence": "submit_sm_resp", "ts": 2.0},
                                       {"key": key(2), "event": "intent", "ts": 3.0},
                                       {"key": key(2), "event": "sent"}])
    state = ledger_state(tmp_path)
    rows = {row["key"]: row for row in state.iter_rows(named=True)}
    assert rows[key(1)]["outcome"] == "accepted" and rows[key(1)]["message_id"] == "late"
    assert rows[key(2)]["outcome"] == "none" and rows[key(2)]["status"] is None and rows[key(2)]["ts"] == 3.0


def test_send7_decisions_are_the_last_outcome(tmp_path):
    ledger = Ledger(tmp_path, "bind", group=64)
    ledger.intents([key(1), key(2)])
    ledger.sent(key(1))
    ledger.sent(key(2))
    ledger.decide([key(1)], "held", "in flight when the sender stopped")
    ledger.decide([key(2)], "resend", "in flight when the sender stopped")
    ledger.close()
    assert outcomes(tmp_path) == {key(1): "held", key(2): "resend"}


def test_plus1_no_ledger_folder_is_an_empty_state(tmp_path):
    state = ledger_state(tmp_path / "missing")
    assert state.height == 0 and {"key", "outcome", "MESSAGE_KEY", "PART"} <= set(state.columns)


def test_send7_ledger_state_flags_parts_resent_after_their_later_outcome(tmp_path):
    first = Ledger(tmp_path, "bind", group=64)
    first.intents([key(1), key(2), key(3)])
    for k in (key(1), key(2), key(3)):
        first.sent(k)
    first.outcome(key(1), P.ESME_ROK, "id-1")
    first.close()  # the sender stops with key(2) and key(3) in flight
    resume = Ledger(tmp_path, "bind", group=64)
    resume.decide([key(2)], "resend", "in flight when the sender stopped")
    resume.decide([key(3)], "held", "in flight when the sender stopped")
    resume.intents([key(2)])
    resume.sent(key(2))
    resume.outcome(key(2), P.ESME_ROK, "id-2")
    resume.close()

    state = ledger_state(tmp_path)
    assert dict(zip(state["key"], zip(state["outcome"], state["resent"]))) == {
        key(1): ("accepted", False), key(2): ("accepted", True), key(3): ("held", False)}
