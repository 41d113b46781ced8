"""SEND-7: parts in flight when a sender stopped: confirmed by a receipt, else held or resent by the policy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import polars as pl

from pipelines.dispatch.ledger import SendLedger
from pipelines.dispatch.parts import OutPart
from pipelines.dispatch.session import BindSession
from pipelines.dlr import HELD_REASON, read_events
from pipelines.smpp import pdu as P


def _excerpt(text: str) -> str:
    """A receipt's `text:` field as SMSCs write it: 20 characters, anything outside Latin-1 replaced."""
    return text[:20].encode("latin-1", errors="replace").decode("latin-1").strip()


def confirm_by_receipts(ambiguous: list[OutPart], receipts: list[dict], ledger: SendLedger) -> set[str]:
    """Ambiguous parts proven taken by a receipt from their handset quoting their text."""
    seen: dict[tuple[str, str], str] = {}
    for receipt in receipts:
        seen.setdefault((receipt["handset"].lstrip("+"), _excerpt(receipt["text"])), receipt["message_id"])
    confirmed = set()
    for part in ambiguous:
        message_id = seen.get((part.destination, _excerpt(part.text)))
        if message_id is not None:
            ledger.outcome(part.key, P.ESME_ROK, message_id, evidence="receipt")
            confirmed.add(part.key)
    return confirmed


def _all_proven(in_flight: list[OutPart], stored: list[dict], session: BindSession) -> Callable[[], bool]:
    """Whether every part in flight has a receipt proving it taken (stored, or in this session so far): the
    grace for receipts ends there instead of at its budget."""
    unproven = {(part.destination, _excerpt(part.text)) for part in in_flight}
    unproven -= {(receipt["handset"].lstrip("+"), _excerpt(receipt["text"])) for receipt in stored}
    read = 0

    def proven() -> bool:
        nonlocal read
        receipts = session.receipts[read:]
        read += len(receipts)
        unproven.difference_update((receipt["handset"].lstrip("+"), _excerpt(receipt["text"]))
                                   for receipt in receipts)
        return not unproven

    return proven


InFlight = Literal["hold", "resend"]


def in_flight_policy(campaign_type: str, configured: InFlight | None = None,
                     chosen: InFlight | None = None) -> InFlight:
    """SEND-7: the chosen policy, else the campaign's (options.in_flight), else hold for marketing, resend else."""
    return chosen or configured or ("hold" if campaign_type == "marketing" else "resend")


def settle_in_flight(session: BindSession, in_flight: list[OutPart], ledger: SendLedger, events_dir: Path,
                     policy: InFlight, grace: float) -> tuple[set[str], set[str]]:
    """SEND-7: parts written but never answered when a sender stopped; returns (confirmed, held) keys.

    Receipts the SMSC still holds arrive during `grace` (cut short once every part is proven), and those an
    earlier run stored count too: a receipt from the handset quoting the part's text proves it was taken. The
    others follow the policy: `hold` records them held (not sent again), `resend` records them to be sent
    again. Each decision is in the ledger.
    """
    stored = read_events(events_dir).filter(pl.col("kind") == "receipt").select("handset", "text",
                                                                               "message_id").to_dicts()
    session.listen(grace, until=_all_proven(in_flight, stored, session))
    confirmed = confirm_by_receipts(in_flight, stored + session.receipts, ledger)
    unproven = [part.key for part in in_flight if part.key not in confirmed]
    ledger.decide(unproven, "held" if policy == "hold" else "resend", HELD_REASON)
    return confirmed, set(unproven) if policy == "hold" else set()
