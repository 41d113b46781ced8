"""The plan's rules on whole columns: the number key, duplicates (NUM-3), the status precedence, late statuses
(ENC-2, ENC-5), the holdout group (PLUS-7), credits (SEND-5), status texts. Pure: no I/O, no state; each takes
and returns columns."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import polars as pl

from pipelines.render import MessageOptions
from pipelines.spec import CampaignSpec
from pipelines.status import (
    BLACKLIST_CLIENT, BLACKLIST_GLOBAL, BLACKLIST_OWN, DUPLICATE, FREQUENCY_CAPPED, HOLDOUT, INVALID, NO_CREDIT,
    NOT_ALLOWED, PERSONALISATION_ERROR, TOO_LONG, UCS2_NOT_ALLOWED, status_text,
)

BLACKLIST_STATUSES = {"own": BLACKLIST_OWN, "global": BLACKLIST_GLOBAL, "client": BLACKLIST_CLIENT}
STATUS_TEXTS = {code: status_text(code) for code in
                (INVALID, NOT_ALLOWED, DUPLICATE, BLACKLIST_OWN, BLACKLIST_GLOBAL, BLACKLIST_CLIENT,
                 FREQUENCY_CAPPED, PERSONALISATION_ERROR, UCS2_NOT_ALLOWED, TOO_LONG, HOLDOUT, NO_CREDIT)}
HOLDOUT_BUCKETS = 10_000  # PLUS-7: a holdout percent has two decimals (5.25 % = 525 buckets of 10 000)


def number_key(column: str = "INT_MOBILE") -> pl.Expr:
    """E.164 as an integer (a valid number has at most 15 digits): cheap to hash and compare."""
    return pl.col(column).str.slice(1).cast(pl.UInt64, strict=False)


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
                   empty_columns: Sequence[str] = (), capped: pl.Series | None = None) -> pl.Expr:
    """The status before the message is composed, the first rule that applies winning: invalid (NUM-1), not
    allowed (NUM-2), duplicate (NUM-3), own, global then client blacklist (BL-1), frequency cap reached (40,
    PLUS-7), a strict field empty (MSG-4).

    The whole plan's precedence (status.PRE_SEND_PRECEDENCE) goes on after this: UCS2 not allowed and too long
    (`late_status`), then the holdout group (41, `held_out`), then credits (8, `bill`). The cap is about the
    person, like a blacklist, so it comes with them and before what is wrong with the message. The holdout group
    is drawn among rows that could really be sent (so it is comparable with the rows sent, which is what an uplift
    measure needs) and before billing, so held-out rows never spend credits. `capped`: the number keys already
    at the account's cap (the caller passes them only for marketing campaigns: notifications are exempt).
    """
    status = pl.when(~pl.col("MF_VALID")).then(INVALID).when(~pl.col("MF_ALLOW")).then(NOT_ALLOWED)
    status = status.when(is_duplicate).then(DUPLICATE)
    for code in BLACKLIST_STATUSES.values():
        if code in blacklists:
            status = status.when(key.is_in(blacklists[code].implode())).then(code)
    if capped is not None and not capped.is_empty():
        status = status.when(key.is_in(capped.implode())).then(FREQUENCY_CAPPED)
    if empty_columns:
        status = status.when(pl.any_horizontal(pl.col(name) for name in empty_columns)).then(PERSONALISATION_ERROR)
    return status.otherwise(None).cast(pl.Int32)


def late_status(ucs2_allowed: bool, max_parts: int) -> pl.Expr:
    """The status known once the message is measured: UCS2 not allowed (ENC-2), then too long (ENC-5)."""
    return (pl.when((pl.col("ENCODING") == "UCS2") & pl.lit(not ucs2_allowed)).then(UCS2_NOT_ALLOWED)
            .when(pl.col("PARTS") > max_parts).then(TOO_LONG).otherwise(None).cast(pl.Int32))


def holdout_seed(seed: str) -> int:
    """A text seed as the 64-bit integer `held_out` mixes into each key (stable: blake2b, not Python's hash)."""
    return int.from_bytes(hashlib.blake2b(seed.encode("utf-8"), digest_size=8).digest(), "little")


def _mix64(value: pl.Expr) -> pl.Expr:
    """splitmix64's finaliser on UInt64 (wrapping arithmetic): every input bit moves every output bit. Written
    out rather than `Expr.hash`, whose values Polars does not promise to keep from one version to the next."""
    def shifted_xor(z: pl.Expr, bits: int) -> pl.Expr:
        return z.xor(z // pl.lit(1 << bits, dtype=pl.UInt64))

    z = value + pl.lit(0x9E3779B97F4A7C15, dtype=pl.UInt64)
    z = shifted_xor(z, 30) * pl.lit(0xBF58476D1CE4E5B9, dtype=pl.UInt64)
    z = shifted_xor(z, 27) * pl.lit(0x94D049BB133111EB, dtype=pl.UInt64)
    return shifted_xor(z, 31)


def held_out(key: pl.Expr, percent: float, seed: str) -> pl.Expr:
    """PLUS-7: whether a number is in the holdout group of `percent` % (two decimals), chosen by `seed`.

    Reproducible: the choice depends only on the seed and the number, so re-planning (or re-ordering the lists)
    keeps the same group, and another seed draws another one. Each number falls in one of 10 000 buckets by a
    hash of its key; the group is the first `percent` × 100 buckets. Null keys (invalid numbers) are never held.
    """
    threshold = round(percent * HOLDOUT_BUCKETS / 100)
    if threshold <= 0:
        return pl.lit(False)
    bucket = _mix64(key.cast(pl.UInt64).xor(pl.lit(holdout_seed(seed), dtype=pl.UInt64))) % HOLDOUT_BUCKETS
    return (bucket < threshold).fill_null(False)


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
