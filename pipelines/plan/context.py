"""What one plan run carries from batch to batch: the campaign, the numbers seen, the credits spent, totals, and
the numbers at the account's frequency cap (PLUS-7)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from pipelines.numbers import NumberStats
from pipelines.render import Template
from pipelines.spec import CampaignSpec


@dataclass
class Totals:
    """What the summary needs, accumulated batch by batch."""

    rows: int = 0
    status: Counter = field(default_factory=Counter)
    parts: Counter = field(default_factory=Counter)
    encodings: Counter = field(default_factory=Counter)
    detected: Counter = field(default_factory=Counter)
    accepted: Counter = field(default_factory=Counter)
    empty: Counter = field(default_factory=Counter)
    list_rows: Counter = field(default_factory=Counter)
    credits: int = 0
    longest_message: int = 0
    longest_values: dict[str, str] = field(default_factory=dict)
    test_message: str | None = None
    test_row_found: bool = False


@dataclass
class Context:
    """The state of one plan run."""

    spec: CampaignSpec
    template: Template
    blacklists: dict[int, pl.Series]
    seen: pl.Series = field(default_factory=lambda: pl.Series("key", [], dtype=pl.UInt64))
    credits_used: int = 0
    numbers: NumberStats = field(default_factory=NumberStats)
    totals: Totals = field(default_factory=Totals)
    # PLUS-7: the number keys (rules.number_key) already at the account's frequency cap across its other
    # campaigns, as the account store counts them; its marketing rows to these numbers get status 40.
    capped: pl.Series = field(default_factory=lambda: pl.Series("key", [], dtype=pl.UInt64))
    erased: object | None = None  # PLUS-8: the account's erased opt-outs (plan.inputs.block_erased)
    links: object | None = None  # URL-1…5: a tracked plan's pipelines.links.plan.LinkPlan
    links_writer: object | None = None  # where each batch's links go (plan.io.BackgroundWriter of links.parquet)
