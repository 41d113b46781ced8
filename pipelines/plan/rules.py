"""The plan's rules on whole columns: the number key, duplicates (NUM-3), the status precedence, late statuses
(ENC-2, ENC-5), credits (SEND-5), status texts. Pure: no I/O, no state; each takes and returns columns."""

from __future__ import annotations

from collections.abc import Sequence

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


def seen_before(keys: pl.Series, seen: pl.Series) -> pl.Series:
    """The keys of this batch among `seen`, the keys planned in earlier batches.

    The hash table is built on the batch (small) and the numbers seen so far are only probed, so a
    10M-row list costs a linear scan per batch instead of rebuilding a table of everything seen.
    """
    if seen.is_empty():
        return seen
    return seen.filter(seen.is_in(keys.drop_nulls().unique().implode()))


def duplicate(key: pl.Expr, earlier: pl.Series) -> pl.Expr:
    """NUM-3: a valid number planned in an earlier batch (`earlier`) or higher up in this one; the first stays."""
    return key.is_not_null() & (key.is_in(earlier.implode()) | ~key.is_first_distinct())


def presend_status(key: pl.Expr, is_duplicate: pl.Expr, blacklists: dict[int, pl.Series],
                   empty_columns: Sequence[str] = ()) -> pl.Expr:
    """The status before the message is composed, the first rule that applies winning: invalid (NUM-1), not
    allowed (NUM-2), duplicate (NUM-3), own, global then client blacklist (BL-1), a strict field empty (MSG-4)."""
    status = pl.when(~pl.col("MF_VALID")).then(INVALID).when(~pl.col("MF_ALLOW")).then(NOT_ALLOWED)
    status = status.when(is_duplicate).then(DUPLICATE)
    for code in BLACKLIST_STATUSES.values():
        if code in blacklists:
            status = status.when(key.is_in(blacklists[code].implode())).then(code)
    if empty_columns:
        status = status.when(pl.any_horizontal(pl.col(name) for name in empty_columns)).then(PERSONALISATION_ERROR)
    return status.otherwise(None).cast(pl.Int32)


def late_status(ucs2_allowed: bool, max_parts: int) -> pl.Expr:
    """The status known once the message is measured: UCS2 not allowed (ENC-2), then too long (ENC-5)."""
    return (pl.when((pl.col("ENCODING") == "UCS2") & pl.lit(not ucs2_allowed)).then(UCS2_NOT_ALLOWED)
            .when(pl.col("PARTS") > max_parts).then(TOO_LONG).otherwise(None).cast(pl.Int32))


def bill(composed: pl.DataFrame, spent: int, credits: int | None) -> tuple[pl.DataFrame, int]:
    """SEND-5: sendable rows (STATUS_CODE null) spend their PARTS in list order, after `spent` parts already;
    once the balance `credits` is passed (None: unlimited), every later sendable row gets status 8.

    Returns the rows with their STATUS_CODE, and the parts spent once this batch is counted.
    """
    billable = pl.when(pl.col("STATUS_CODE").is_null()).then(pl.col("PARTS")).otherwise(0)
    composed = composed.with_columns((billable.cum_sum() + spent).alias("_spent"))
    if composed.height:
        spent = int(composed.get_column("_spent").max() or spent)
    if credits is not None:
        over = pl.col("STATUS_CODE").is_null() & (pl.col("_spent") > credits)
        composed = composed.with_columns(pl.when(over).then(NO_CREDIT).otherwise(pl.col("STATUS_CODE"))
                                         .alias("STATUS_CODE"))
    return composed.drop("_spent"), spent


def status_texts(code: pl.Expr) -> pl.Expr:
    """The text of each status code; null (sendable) stays null."""
    return code.replace_strict(STATUS_TEXTS, default=None, return_dtype=pl.String)
