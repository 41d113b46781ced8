"""One batch of a list through the plan: numbers (NUM-1/2/3), blacklists (BL-1), rendering (MSG-3/4/5),
encoding (ENC-1…5) and credits (SEND-5), every step on whole columns."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.numbers import NumberStats, normalise_numbers
from pipelines.plan.context import Context
from pipelines.plan.io import Source
from pipelines.plan.rules import PLAN_COLUMNS, STATUS_TEXTS, message_options, number_key, original_name
from pipelines.plan.summary import note_fields, note_results, note_test_row
from pipelines.render import compose_prepared, empty_column, prepare_fields
from pipelines.status import (
    BLACKLIST_CLIENT, BLACKLIST_GLOBAL, BLACKLIST_OWN, DUPLICATE, INVALID, NO_CREDIT, NOT_ALLOWED,
    PERSONALISATION_ERROR, TOO_LONG, UCS2_NOT_ALLOWED,
)


@dataclass
class PreparedBatch:
    """A batch with the work that needs nothing from earlier batches already done (numbers, field values)."""

    frame: pl.DataFrame
    numbers: pl.DataFrame
    prepared: pl.DataFrame
    source_bytes: int
    number_stats: NumberStats


def _seen_before(keys: pl.Series, context: Context) -> pl.Series:
    """The keys of this batch already planned in an earlier batch.

    The hash table is built on the batch (small) and the numbers seen so far are only probed, so a
    10M-row list costs a linear scan per batch instead of rebuilding a table of everything seen.
    """
    if context.seen.is_empty():
        return context.seen
    return context.seen.filter(context.seen.is_in(keys.drop_nulls().unique().implode()))


def prepare_batch(frame: pl.DataFrame, source: Source, context: Context) -> PreparedBatch:
    """Runs in worker threads, ahead of `plan_batch`: Polars releases the GIL, so both cores work."""
    frame = frame.rename({c: original_name(c) for c in source.columns if c in PLAN_COLUMNS})
    stats = NumberStats()
    numbers = normalise_numbers(frame.get_column(original_name(source.mobile_column)), stats=stats)
    prepared = prepare_fields(frame, context.template, context.spec.defaults, message_options(context.spec))
    # Bytes of the batch as written (values + delimiters + line ends), for the progress bar.
    size = int(frame.select(pl.sum_horizontal(pl.col(original_name(c)).str.len_bytes() for c in source.columns)
                            .sum()).item() or 0) + frame.height * len(source.columns)
    return PreparedBatch(frame, numbers, prepared, size, stats)


def plan_batch(batch: PreparedBatch, source: Source, context: Context, columns: list[str]) -> pl.DataFrame:
    """The planned rows of one batch, in list order, with the plan's columns then `columns`."""
    spec = context.spec
    frame, numbers, prepared = batch.frame, batch.numbers, batch.prepared
    for name in ("fast", "full", "distinct_full"):
        setattr(context.numbers, name, getattr(context.numbers, name) + getattr(batch.number_stats, name))
    mobile = original_name(source.mobile_column)
    frame = frame.with_columns(
        pl.lit(source.name).alias("REF_LIST"),
        pl.col(mobile).alias("MOBILE_RAW"),
        numbers.get_column("INT_MOBILE"),
        numbers.get_column("MF_VALID"),
        numbers.get_column("MF_COUNTRY"),
    ).with_columns(
        pl.col("MF_COUNTRY").is_in(spec.account.allowed_countries).fill_null(False).alias("MF_ALLOW"),
        pl.when(pl.col("MF_VALID")).then(number_key()).alias("_key"),
    )

    # NUM-3: the first valid occurrence across all lists keeps its status; later copies are duplicates.
    key = pl.col("_key")
    seen_before = _seen_before(frame.get_column("_key"), context)
    duplicate = key.is_not_null() & (key.is_in(seen_before.implode()) | ~key.is_first_distinct())
    status = pl.when(~pl.col("MF_VALID")).then(INVALID).when(~pl.col("MF_ALLOW")).then(NOT_ALLOWED)
    status = status.when(duplicate).then(DUPLICATE)
    for code in (BLACKLIST_OWN, BLACKLIST_GLOBAL, BLACKLIST_CLIENT):
        if code in context.blacklists:
            status = status.when(key.is_in(context.blacklists[code].implode())).then(code)
    template = context.template
    options = message_options(spec)
    strict = [] if spec.options.allow_empty_fields else [f for f in template.strict_fields if f not in spec.defaults]
    if strict:  # MSG-4: a ${Field} empty with no default
        status = status.when(pl.any_horizontal(pl.col(empty_column(f)) for f in strict)).then(PERSONALISATION_ERROR)
    frame = frame.hstack(prepared.select(empty_column(f) for f in strict)) if strict else frame
    frame = frame.with_columns(status.otherwise(None).cast(pl.Int32).alias("STATUS_CODE"))
    context.seen.append(frame.filter(key.is_not_null() & ~duplicate.fill_null(False)).get_column("_key").unique())
    if context.seen.n_chunks() > 32:
        context.seen = context.seen.rechunk()
    note_fields(frame, prepared, source, context)
    note_test_row(frame, context)

    # Encode, measure and bill only what may still be sent.
    candidate_rows = frame.select(pl.arg_where(pl.col("STATUS_CODE").is_null())).to_series()
    composed = compose_prepared(prepared[candidate_rows], template, options)
    late = (
        pl.when((pl.col("ENCODING") == "UCS2") & pl.lit(not spec.options.ucs2)).then(UCS2_NOT_ALLOWED)
        .when(pl.col("PARTS") > spec.max_parts).then(TOO_LONG)
    )
    composed = composed.with_columns(late.otherwise(None).cast(pl.Int32).alias("STATUS_CODE"))
    # SEND-5: rows beyond the credit balance, in list order, get status 8.
    billable = pl.when(pl.col("STATUS_CODE").is_null()).then(pl.col("PARTS")).otherwise(0)
    composed = composed.with_columns((billable.cum_sum() + context.credits_used).alias("_spent"))
    if composed.height:
        context.credits_used = int(composed.get_column("_spent").max() or context.credits_used)
    if spec.account.credits is not None:
        over = pl.col("STATUS_CODE").is_null() & (pl.col("_spent") > spec.account.credits)
        composed = composed.with_columns(pl.when(over).then(NO_CREDIT).otherwise(pl.col("STATUS_CODE"))
                                         .alias("STATUS_CODE"))
    sendable = pl.col("STATUS_CODE").is_null()
    composed = composed.with_columns(
        pl.when(sendable).then(pl.col("MESSAGE")).alias("MESSAGE"),
        pl.when(sendable).then(pl.col("PARTS")).otherwise(0).cast(pl.Int32).alias("PARTS"),
    )
    late_status = frame.get_column("STATUS_CODE").scatter(candidate_rows, composed.get_column("STATUS_CODE"))
    empty_text = pl.Series([None] * frame.height, dtype=pl.String)
    frame = frame.with_columns(
        late_status.alias("STATUS_CODE"),
        empty_text.scatter(candidate_rows, composed.get_column("MESSAGE")).alias("MESSAGE"),
        empty_text.scatter(candidate_rows, composed.get_column("ENCODING")).alias("ENCODING"),
        pl.repeat(0, frame.height, dtype=pl.Int32, eager=True).scatter(candidate_rows, composed.get_column("PARTS"))
        .alias("PARTS"),
        pl.repeat(0, frame.height, dtype=pl.Int64, eager=True).scatter(candidate_rows, composed.get_column("LENGTH"))
        .alias("LENGTH"),
    ).with_columns(
        pl.col("STATUS_CODE").replace_strict(STATUS_TEXTS, default=None, return_dtype=pl.String).alias("STATUS_TEXT")
    )
    note_results(frame, source, context)
    for name in columns:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    return frame.select([pl.col(name).cast(dtype) for name, dtype in PLAN_COLUMNS.items()] + columns)
