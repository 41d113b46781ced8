"""What the account store says at plan time (ACC-1, BL-1, PLUS-7). The plan never opens the store: the caller
(`pipelines.account.prepare_account`) reads it and hands the plan these columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pipelines.plan.rules import BLACKLIST_STATUSES, number_key


@dataclass(frozen=True)
class AccountInputs:
    """The account's blacklists (kind → E.164 numbers: statuses 14, 15, 18) and the numbers at its frequency cap
    (PLUS-7: status 40 for marketing), as the store holds them when the campaign is planned."""

    blacklists: dict[str, pl.Series] = field(default_factory=dict)
    capped: pl.Series | None = None
    # PLUS-8: opt-outs of erased numbers are kept as keyed hashes; `erased.blocked(numbers)` names, per blacklist
    # kind, the numbers of a batch whose hash is listed (pipelines.store.erase.ErasedOptOuts).
    erased: object | None = None


def block_erased(blacklists: dict[int, pl.Series], erased, numbers: pl.Series) -> None:
    """BL-1, PLUS-8: add to `blacklists` (by status) the numbers of a batch whose erased opt-out (a hash) holds."""
    if not erased:
        return
    for kind, found in erased.blocked(numbers).items():
        keys = number_keys(found)
        if keys.len():
            code = BLACKLIST_STATUSES[kind]
            blacklists[code] = pl.concat([blacklists[code], keys]).unique() if code in blacklists else keys


def number_keys(numbers: pl.Series) -> pl.Series:
    """E.164 numbers as the plan's number keys (rules.number_key); what is not E.164 is left out."""
    return pl.DataFrame({"INT_MOBILE": numbers.cast(pl.String)}).select(number_key()).to_series() \
        .drop_nulls().unique()


def merged_blacklists(from_files: dict[int, pl.Series], inputs: AccountInputs | None) -> dict[int, pl.Series]:
    """The number keys of each blacklist, by status: the store's, plus the (deprecated) files the spec names."""
    merged = dict(from_files)
    for kind, numbers in (inputs.blacklists.items() if inputs is not None else ()):
        code = BLACKLIST_STATUSES[kind]
        keys = number_keys(numbers)
        merged[code] = pl.concat([merged[code], keys]).unique() if code in merged else keys
    return merged
