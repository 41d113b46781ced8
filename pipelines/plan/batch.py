"""One batch of a list through the plan: numbers (NUM-1/2/3), blacklists (BL-1), the frequency cap (PLUS-7),
rendering (MSG-3/4/5), encoding (ENC-1…5), the holdout group (PLUS-7) and credits (SEND-5), every step on whole
columns."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.numbers import NumberStats, normalise_numbers
from pipelines.plan.context import Context
from pipelines.plan.inputs import block_erased
from pipelines.plan.io import Source
from pipelines.layout import PLAN_COLUMNS, original_name
from pipelines.plan.rules import (
    bill, duplicate, held_out, late_status, message_options, number_key, presend_status, seen_before, status_texts,
)
from pipelines.status import HOLDOUT
from pipelines.plan.summary import note_fields, note_results, note_test_row
from pipelines.render import compose_prepared, empty_column, prepare_fields


@dataclass
class PreparedBatch:
    """A batch with the work that needs nothing from earlier batches already done (numbers, field values)."""

    frame: pl.DataFrame
    numbers: pl.DataFrame
    prepared: pl.DataFrame
    source_bytes: int
    number_stats: NumberStats
    links: pl.DataFrame | None = None  # URL-1…5: each row's targets, short links and preview (LinkPlan.prepare)


def prepare_batch(frame: pl.DataFrame, source: Source, context: Context) -> PreparedBatch:
    """Runs in worker threads, ahead of `plan_batch`: Polars releases the GIL, so both cores work."""
    frame = frame.rename({c: original_name(c) for c in source.columns if c in PLAN_COLUMNS})
    stats = NumberStats()
    numbers = normalise_numbers(frame.get_column(original_name(source.mobile_column)), stats=stats)
    prepared = prepare_fields(frame, context.template, context.spec.defaults, message_options(context.spec))
    # Bytes of the batch as written (values + delimiters + line ends), for the progress bar.
    size = int(frame.select(pl.sum_horizontal(pl.col(original_name(c)).str.len_bytes() for c in source.columns)
                            .sum()).item() or 0) + frame.height * len(source.columns)
    links = context.links.prepare(frame) if context.links is not None else None
    return PreparedBatch(frame, numbers, prepared, size, stats, links)


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
    is_duplicate = duplicate(key, seen_before(frame.get_column("_key"), context.seen))
    template = context.template
    options = message_options(spec)
    strict = [] if spec.options.allow_empty_fields else [f for f in template.strict_fields if f not in spec.defaults]
    frame = frame.hstack(prepared.select(empty_column(f) for f in strict)) if strict else frame
    if context.links is not None and not spec.options.allow_empty_fields:  # URL-2: a URL's field too (MSG-4)
        url_strict = [f for f in context.links.target_fields if f not in spec.defaults and f not in strict]
        frame = frame.hstack(batch.links.select(empty_column(f) for f in url_strict)) if url_strict else frame
        strict += url_strict
    capped = context.capped if spec.type == "marketing" else None  # PLUS-7: notifications are exempt
    block_erased(context.blacklists, context.erased, frame.get_column("INT_MOBILE"))
    status = presend_status(key, is_duplicate, context.blacklists, [empty_column(f) for f in strict], capped)
    frame = frame.with_columns(status.alias("STATUS_CODE"))
    context.seen.append(frame.filter(key.is_not_null() & ~is_duplicate.fill_null(False)).get_column("_key").unique())
    if context.seen.n_chunks() > 32:
        context.seen = context.seen.rechunk()
    note_fields(frame, prepared, source, context)
    note_test_row(frame, context)

    # Encode, measure and bill only what may still be sent.
    candidate_rows = frame.select(pl.arg_where(pl.col("STATUS_CODE").is_null())).to_series()
    composed = compose_prepared(prepared[candidate_rows], template, options)
    composed = composed.with_columns(late_status(spec.options.ucs2, spec.max_parts).alias("STATUS_CODE"))
    if spec.options.holdout:  # PLUS-7: drawn among rows that could be sent, before they spend credits
        holdout = held_out(pl.col("_key"), spec.options.holdout, spec.options.holdout_seed or spec.name)
        composed = composed.with_columns(frame.get_column("_key").gather(candidate_rows)).with_columns(
            pl.when(pl.col("STATUS_CODE").is_null() & holdout).then(HOLDOUT).otherwise(pl.col("STATUS_CODE"))
            .cast(pl.Int32).alias("STATUS_CODE")).drop("_key")
    composed, context.credits_used = bill(composed, context.credits_used, spec.account.credits)
    sendable = pl.col("STATUS_CODE").is_null()
    composed = composed.with_columns(
        pl.when(sendable).then(pl.col("MESSAGE")).alias("MESSAGE"),
        pl.when(sendable).then(pl.col("PARTS")).otherwise(0).cast(pl.Int32).alias("PARTS"),
    )
    if context.links is not None:  # URL-1: the sendable rows' short links, in their messages and links.parquet
        composed, links = context.links.attach(composed, candidate_rows, batch.links,
                                               frame.select("REF_LIST", "ID_LINE"))
        context.links_writer.write(links.to_arrow())  # cast to LINKS_SCHEMA by the writer's thread
        test_row = spec.test.row - context.totals.rows - 1 if spec.test is not None else -1  # before note_results
        if 0 <= test_row < frame.height and context.totals.test_message:  # SEND-3: the test row's own links
            row = frame.row(test_row, named=True)
            context.totals.test_message = context.links.with_links(context.totals.test_message, links,
                                                                   row["REF_LIST"], row["ID_LINE"])
    statuses = frame.get_column("STATUS_CODE").scatter(candidate_rows, composed.get_column("STATUS_CODE"))
    empty_text = pl.Series([None] * frame.height, dtype=pl.String)
    frame = frame.with_columns(
        statuses.alias("STATUS_CODE"),
        empty_text.scatter(candidate_rows, composed.get_column("MESSAGE")).alias("MESSAGE"),
        empty_text.scatter(candidate_rows, composed.get_column("ENCODING")).alias("ENCODING"),
        pl.repeat(0, frame.height, dtype=pl.Int32, eager=True).scatter(candidate_rows, composed.get_column("PARTS"))
        .alias("PARTS"),
        pl.repeat(0, frame.height, dtype=pl.Int64, eager=True).scatter(candidate_rows, composed.get_column("LENGTH"))
        .alias("LENGTH"),
    ).with_columns(status_texts(pl.col("STATUS_CODE")).alias("STATUS_TEXT"))
    note_results(frame, source, context)
    for name in columns:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    return frame.select([pl.col(name).cast(dtype) for name, dtype in PLAN_COLUMNS.items()] + columns)
