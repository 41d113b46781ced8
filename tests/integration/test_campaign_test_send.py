"""SEND-3: the one test-send orchestration (`campaign.send_test_message`) the DAG, the CLI and the demo share."""

from __future__ import annotations

from pathlib import Path

from helpers import write_list, write_spec

from pipelines.campaign import send_test_message
from pipelines.dispatch import SmscSettings
from pipelines.plan import plan_file


def planned(bucket: Path, **fields) -> Path:
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Łucja\n")
    spec = write_spec(bucket, lists=["a.csv"], sender="MABOUTIQUE", **fields)
    return plan_file(spec, bucket / "campaigns" / "soldes" / "plan").out_dir


def test_send3_test_message_sent_in_its_measured_encoding_with_a_ledger_of_its_own(smsc, bucket):
    """The demo sent its test as GSM7 whatever the message; the encoding is now measured, once, for all three."""
    simulator = smsc()
    plan_dir = planned(bucket, options={"ucs2": True}, test={"numbers": "0612345678; 0798765432", "row": 2})
    sent = send_test_message(plan_dir, SmscSettings.from_url(simulator.url()))
    assert (sent.message, sent.encoding) == ("Bonjour Łucja", "UCS2")
    assert [(result.number, result.status) for result in sent.results] == [("0612345678", 0), ("0798765432", 0)]
    assert {(m["destination"], m["text"], m["data_coding"]) for m in simulator.records("message")} == {
        ("33612345678", "Bonjour Łucja", 8), ("33798765432", "Bonjour Łucja", 8)}
    campaign = plan_dir.parent
    assert list((campaign / "dispatch" / "tests").glob("*.jsonl")) and not (campaign / "dispatch" / "ledger").exists()


def test_send3_no_test_message_when_the_lists_have_no_such_row(bucket):
    """A test row past the lists' end: nothing to send (the CLI refuses, the DAG goes on to the approval)."""
    plan_dir = planned(bucket, test={"numbers": "0612345678", "row": 3})
    assert send_test_message(plan_dir, SmscSettings(port=1)) is None
    assert not (plan_dir.parent / "dispatch").exists()
