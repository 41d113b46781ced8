"""What to send (PLUS-1, PLUS-9): the sendable rows of a plan as SMS parts, and the submit_sm fields they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.dlr import keyed_rows, part_key
from pipelines.layout import CampaignPaths
from pipelines.smpp import parts as sms_parts
from pipelines.smpp import pdu as P

SHORT_CODE = "36184"


@dataclass(order=True)
class OutPart:
    order: int
    key: str = field(compare=False)  # dlr.part_key: number, message digest, occurrence, part
    destination: str = field(compare=False)
    short_message: bytes = field(compare=False)
    esm_class: int = field(compare=False)
    data_coding: int = field(compare=False)
    text: str = field(compare=False)
    row: int = field(compare=False)


def sendable_rows(plan_dir: Path) -> pl.DataFrame:
    """The rows of the plan that are sent, in plan order, numbered, each with its MESSAGE_KEY (PLUS-1)."""
    plan = pl.read_parquet(CampaignPaths.of_plan(plan_dir).recipients, columns=[
        "REF_LIST", "ID_LINE", "INT_MOBILE", "MESSAGE", "ENCODING", "PARTS", "STATUS_CODE"])
    return keyed_rows(plan).drop("STATUS_CODE")


def batch_count(plan_dir: Path, batch_size: int) -> int:
    rows = pl.scan_parquet(CampaignPaths.of_plan(plan_dir).recipients).filter(pl.col("STATUS_CODE").is_null()) \
        .select(pl.len()).collect().item()
    return max(1, -(-rows // batch_size))


def build_parts(rows: pl.DataFrame, campaign: str, packed: bool = False) -> list[OutPart]:
    """Every part of every row, in order; their count per row equals the plan's PARTS (tested)."""
    out: list[OutPart] = []
    for message_key, ref_list, id_line, number, message, encoding, planned, plan_row in rows.select(
            "MESSAGE_KEY", "REF_LIST", "ID_LINE", "INT_MOBILE", "MESSAGE", "ENCODING", "PARTS",
            "_plan_row").iter_rows():
        # The concatenation reference follows the message, not its list line: a resumed message keeps it.
        pieces = sms_parts.split(message, encoding, sms_parts.reference(f"{campaign}\x1f{message_key}"), packed)
        if len(pieces) != planned:
            raise AssertionError(f"{ref_list} line {id_line}: {len(pieces)} parts on the wire, {planned} planned")
        for index, piece in enumerate(pieces, start=1):
            out.append(OutPart(len(out), part_key(message_key, index), number.lstrip("+"),
                               piece.short_message, P.ESM_UDHI if piece.udh else 0,
                               sms_parts.DATA_CODING[encoding], piece.text, plan_row))
    return out


def source_address(sender: str) -> tuple[int, int, str]:
    """(TON, NPI, address): an alphanumeric sender is TON 5; the short code is a network-specific number."""
    if sender.isdigit():
        return 3, 0, sender
    return 5, 0, sender


def validity_period(until: datetime | None) -> str:
    """SMPP 3.4 §7.1.1 absolute time `YYMMDDhhmmsstnnp` (PLUS-9): the part expires when the window closes."""
    if until is None:
        return ""
    offset = until.utcoffset() or timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    sign = "-" if offset.total_seconds() < 0 else "+"
    return until.strftime("%y%m%d%H%M%S") + "0" + f"{quarters:02d}" + sign
