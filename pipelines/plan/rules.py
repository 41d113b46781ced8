"""The plan's rules on whole columns: the plan's columns, the number key, status texts. Pure: no I/O, no state."""

from __future__ import annotations

import polars as pl

from pipelines.render import MessageOptions
from pipelines.spec import CampaignSpec
from pipelines.status import (
    BLACKLIST_CLIENT, BLACKLIST_GLOBAL, BLACKLIST_OWN, DUPLICATE, INVALID, NO_CREDIT, NOT_ALLOWED,
    PERSONALISATION_ERROR, TOO_LONG, UCS2_NOT_ALLOWED, status_text,
)

PLAN_COLUMNS = {
    "REF_LIST": pl.String, "ID_LINE": pl.Int64, "MOBILE_RAW": pl.String, "INT_MOBILE": pl.String,
    "MF_VALID": pl.Boolean, "MF_ALLOW": pl.Boolean, "MF_COUNTRY": pl.String, "STATUS_CODE": pl.Int32,
    "STATUS_TEXT": pl.String, "MESSAGE": pl.String, "ENCODING": pl.String, "PARTS": pl.Int32,
}
BLACKLIST_STATUSES = {"own": BLACKLIST_OWN, "global": BLACKLIST_GLOBAL, "client": BLACKLIST_CLIENT}
STATUS_TEXTS = {code: status_text(code) for code in
                (INVALID, NOT_ALLOWED, DUPLICATE, BLACKLIST_OWN, BLACKLIST_GLOBAL, BLACKLIST_CLIENT,
                 PERSONALISATION_ERROR, UCS2_NOT_ALLOWED, TOO_LONG, NO_CREDIT)}


def number_key(column: str = "INT_MOBILE") -> pl.Expr:
    """E.164 as an integer (a valid number has at most 15 digits): cheap to hash and compare."""
    return pl.col(column).str.slice(1).cast(pl.UInt64, strict=False)


def original_name(column: str) -> str:
    """A list column as the plan names it: a name taken by the plan's own columns gets a suffix."""
    return f"{column} (list)" if column in PLAN_COLUMNS else column


def message_options(spec: CampaignSpec) -> MessageOptions:
    """How the spec's options turn a rendered text into the sent text (ENC-3, ENC-4)."""
    return MessageOptions(replace_non_gsm7=spec.options.replace_non_gsm7,
                          emojis=spec.options.ucs2 and spec.options.emojis)
