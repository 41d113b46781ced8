"""SEND-3: a test send of the personalised message to a few numbers, with its own ledger."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.dispatch.cleanup import Cleanup
from pipelines.dispatch.ledger import ledger_state, open_ledger
from pipelines.dispatch.parts import OutPart, source_address
from pipelines.dispatch.session import BindSession
from pipelines.dispatch.settings import SmscSettings
from pipelines.dlr import EventWriter, keyed_rows, part_key
from pipelines.smpp import parts as sms_parts
from pipelines.smpp import pdu as P


@dataclass
class TestSendResult:
    number: str
    status: int
    message_id: str | None


def send_test(message: str, encoding: str, numbers: list[str], settings: SmscSettings, sender: str,
              ledger_dir: Path, events_dir: Path) -> list[TestSendResult]:
    """SEND-3: the personalised message to each test number, over one bind; returns the SMSC's answers.

    A test is meant to be sent again after each correction, so it has its own ledger and never touches the
    campaign's.
    """
    from pipelines.numbers import normalise_numbers

    verdicts = normalise_numbers(pl.Series(numbers, dtype=pl.String))
    if not verdicts.get_column("MF_VALID").all():
        bad = [n for n, ok in zip(numbers, verdicts.get_column("MF_VALID").to_list()) if not ok]
        raise ValueError(f"not valid mobile numbers: {', '.join(bad)} [SEND-3]")
    stamp = time.time_ns()
    tests = keyed_rows(verdicts.select("INT_MOBILE").with_columns(pl.lit(message).alias("MESSAGE")))
    out: list[OutPart] = []
    for index, (number, message_key) in enumerate(tests.select("INT_MOBILE", "MESSAGE_KEY").iter_rows()):
        pieces = sms_parts.split(message, encoding, sms_parts.reference(f"test\x1f{stamp}\x1f{index}"),
                                 settings.gsm7_packed)
        for part_number, piece in enumerate(pieces, start=1):
            out.append(OutPart(len(out), part_key(message_key, part_number), number.lstrip("+"),
                               piece.short_message, P.ESM_UDHI if piece.udh else 0, sms_parts.DATA_CODING[encoding],
                               piece.text, index))
    with Cleanup() as cleanup:  # a refused bind is reported as such, never as the cleanup after it
        ledger = open_ledger(ledger_dir, f"test-{stamp}", settings.fsync_group)
        cleanup.push(ledger.close)
        events = EventWriter(events_dir, f"test-{stamp}")
        cleanup.push(events.flush)
        session = BindSession(settings, ledger, events, source_address(sender), "", settings.tps)
        cleanup.push(session.close)
        session.open()
        session.run(out)
    first_parts = {part.key: part.row for part in out if part.key.endswith("\x1f1")}
    state = ledger_state(ledger_dir).filter(pl.col("key").is_in(list(first_parts)))
    answers = {first_parts[key]: (status, message_id) for key, status, message_id in
               state.select("key", "status", "message_id").iter_rows()}
    return [TestSendResult(number, *answers.get(index, (None, None))) for index, number in enumerate(numbers)]


def send_notification(text: str, number: str, settings: SmscSettings, sender: str) -> TestSendResult:
    """One platform notification (the extranet's SMS login code, USER-2): one message over one bind, like a test
    send but outside any campaign, with a ledger of its own thrown away after; returns the SMSC's answer."""
    import tempfile

    from pipelines.encoding import is_gsm7

    encoding = "GSM7" if is_gsm7(text) else "UCS2"
    with tempfile.TemporaryDirectory(prefix="smsflow-notify-") as folder:
        (result, *_) = send_test(text, encoding, [number], settings, sender, Path(folder) / "ledger",
                                 Path(folder) / "events")
    return result
