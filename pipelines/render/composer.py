"""Messages composed on whole columns (MSG-3, MSG-4, ENC-1…4): field values worked out once per distinct value,
`${Field}` templates as one `concat_str`, Jinja2 rendered once per distinct combination, then measured."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from pipelines import encoding as enc
from pipelines.render.template import Template, TemplateError
from pipelines.spec.problems import clip


def _is_empty(value: pl.Expr) -> pl.Expr:
    return value.is_null() | (value.str.len_bytes() == 0)


def empty_field(column: str) -> pl.Expr:
    """True where a list value is empty (null or only spaces)."""
    return pl.col(column).is_null() | pl.col(column).str.contains(r"^\s*$")


@dataclass(frozen=True)
class MessageOptions:
    """How a rendered text becomes the sent text (ENC-3, ENC-4)."""

    replace_non_gsm7: bool = True
    emojis: bool = False


def _finish(messages: pl.Series, options: MessageOptions) -> pl.Series:
    if options.replace_non_gsm7:
        messages = enc.replace_non_gsm7(messages)
    if options.emojis:
        messages = enc.emoticons_to_emoji(messages)
    return messages


_METRICS = ("gsm7", "chars", "extension", "astral")


def value_column(name: str) -> str:
    """The prepared column holding a field's inserted value."""
    return f"{name}\x00value"


def empty_column(name: str) -> str:
    """The prepared column telling whether a field's list value is empty."""
    return f"{name}\x00empty"


def prepare_fields(frame: pl.DataFrame, template: Template, defaults: dict[str, str],
                   options: MessageOptions) -> pl.DataFrame:
    """Per row, for each field the template uses: the value inserted and whether the list value is empty.

    Worked out once per *distinct* value of the field (names, cities and prices repeat a lot) and spread back
    with one join: trim, default (MSG-4), and for ${...} templates the GSM7 replacement (ENC-4: it maps single
    characters, so replacing each part equals replacing the whole) and the part's length metrics (ENC-1/2).
    Columns: `Field\x00value`, `Field\x00empty`, and `Field\x00gsm7|chars|extension|astral`.
    """
    measured = template.jinja is None and not options.emojis
    columns = []
    for name in template.fields:
        raw = frame.get_column(name) if name in frame.columns else pl.Series(name, [None] * frame.height,
                                                                              dtype=pl.String)
        distinct = raw.unique()
        table = pl.DataFrame({"_raw": distinct}).with_columns(pl.col("_raw").str.strip_chars().alias("_trimmed"))
        empty = _is_empty(pl.col("_trimmed"))
        table = table.with_columns(
            empty.alias(empty_column(name)),
            pl.when(empty).then(pl.lit(defaults.get(name), dtype=pl.String)).otherwise(pl.col("_trimmed"))
            .alias(value_column(name)),
        )
        if measured:
            value = table.get_column(value_column(name)).fill_null("")
            if options.replace_non_gsm7:
                value = enc.replace_non_gsm7(value)
            table = table.with_columns(value.alias(value_column(name))).hstack(
                enc.text_metrics(value).rename({metric: f"{name}\x00{metric}" for metric in _METRICS}))
        columns.append(
            pl.DataFrame({"_raw": raw}).join(table.drop("_trimmed"), on="_raw", how="left", nulls_equal=True,
                                             maintain_order="left").drop("_raw"))
    return pl.concat(columns, how="horizontal") if columns else pl.DataFrame({"_": [None] * frame.height})


def compose(frame: pl.DataFrame, template: Template, defaults: dict[str, str],
            options: MessageOptions = MessageOptions()) -> pl.DataFrame:
    """MESSAGE, ENCODING, LENGTH and PARTS for every row: rendered, made GSM7 where possible, measured."""
    return compose_prepared(prepare_fields(frame, template, defaults, options), template, options)


def compose_prepared(fields: pl.DataFrame, template: Template, options: MessageOptions) -> pl.DataFrame:
    """MESSAGE, ENCODING, LENGTH and PARTS from `prepare_fields` output.

    A ${...} template is measured from its parts: the literal text once, each field from its per-value
    metrics, so the long message column is never scanned by a regex.
    """
    height = fields.height
    if template.jinja is not None:
        return _compose_jinja(fields, height, template, options)
    literals = template.literal_parts
    if options.replace_non_gsm7:
        literals = enc.replace_non_gsm7(pl.Series(literals, dtype=pl.String)).to_list()
    pieces: list[pl.Expr] = []
    for literal, name in zip(literals, template.field_parts + [None]):
        if literal:
            pieces.append(pl.lit(literal))
        if name is not None:
            pieces.append(pl.col(value_column(name)).fill_null(""))
    if template.field_parts:
        messages = fields.select(pl.concat_str(pieces).alias("MESSAGE")).to_series()
    else:  # no ${Field}: one text for every row (a select of literals alone would give one row)
        messages = pl.repeat("".join(literals), height, dtype=pl.String, eager=True).alias("MESSAGE")
    if options.emojis:  # emoticons may straddle a field boundary: measure the whole text
        messages = enc.emoticons_to_emoji(messages)
        return enc.measure(messages).with_columns(messages.alias("MESSAGE"))
    literal_metrics = enc.text_metrics(pl.Series(literals, dtype=pl.String))
    gsm7 = pl.lit(bool(literal_metrics["gsm7"].all()))
    sums = {metric: pl.lit(int(literal_metrics[metric].sum()), dtype=pl.Int64) for metric in _METRICS[1:]}
    for name in template.field_parts:
        gsm7 = gsm7 & pl.col(f"{name}\x00gsm7")
        sums = {metric: total + pl.col(f"{name}\x00{metric}") for metric, total in sums.items()}
    metrics = fields.select(gsm7.alias("gsm7"), *(total.alias(metric) for metric, total in sums.items()))
    if metrics.height != height:  # only literals: one row of metrics for every row
        metrics = _broadcast(metrics, height)
    return enc.parts_from_metrics(messages, metrics).with_columns(messages.alias("MESSAGE"))


def _render_jinja(template: Template, context: dict[str, str]) -> str:
    """One Jinja2 render; a template refused by the sandbox or failing at run time is a MSG-5 error."""
    import jinja2

    try:
        return template.jinja.render(context)
    except (jinja2.TemplateError, RecursionError, MemoryError, ArithmeticError, TypeError, ValueError,
            LookupError, AttributeError) as error:
        reason = error.message if isinstance(error, jinja2.TemplateError) and error.message else str(error)
        raise TemplateError(f"the Jinja2 template is refused: {clip(str(reason))}", "MSG-5") from None


def _broadcast(row: pl.DataFrame, height: int) -> pl.DataFrame:
    """A one-row frame repeated `height` times, by one gather (not a concat of `height` frames)."""
    return row[pl.zeros(height, dtype=pl.UInt32, eager=True)]


def _compose_jinja(values: pl.DataFrame, height: int, template: Template, options: MessageOptions) -> pl.DataFrame:
    """Jinja2 renders once per distinct combination of the fields the template uses, then is measured."""
    assert template.jinja is not None
    fields = template.fields
    if not fields:
        message = _finish(pl.Series("MESSAGE", [_render_jinja(template, {})]), options)
        return _broadcast(enc.measure(message).with_columns(message.alias("MESSAGE")), height)
    values = values.select(pl.col(value_column(name)).alias(name) for name in fields)
    distinct = values.select(fields).unique()
    rendered = pl.Series("MESSAGE", [
        _render_jinja(template, _context(template, dict(zip(fields, row)))) for row in distinct.iter_rows()
    ], dtype=pl.String)
    rendered = _finish(rendered, options)
    distinct = distinct.with_columns(rendered, *enc.measure(rendered))
    return values.select(fields).join(distinct, on=fields, how="left", nulls_equal=True, maintain_order="left") \
        .select("MESSAGE", "ENCODING", "LENGTH", "PARTS")


def render(frame: pl.DataFrame, template: Template, defaults: dict[str, str]) -> pl.Series:
    """The personalised text of every row, before any encoding option."""
    return compose(frame, template, defaults, MessageOptions(replace_non_gsm7=False)).get_column("MESSAGE")


def _context(template: Template, row: dict[str, str | None]) -> dict[str, str]:
    context = {name: ("" if value is None else value) for name, value in row.items()}
    for index, name in enumerate(template.field_parts):
        context[f"__field_{index}"] = context[name]
    return context


def render_one(row: dict[str, str | None], template: Template, defaults: dict[str, str]) -> str:
    """One row's message (tests, SEND-3 test message), through the same column path as the whole list."""
    return render(one_row(template, row), template, defaults)[0]


def one_row(template: Template, row: Mapping[str, str | None]) -> pl.DataFrame:
    """A one-row frame of the fields `template` uses (a placeholder column when it uses none)."""
    return pl.DataFrame({name: [row.get(name)] for name in template.fields} or {"_": [None]},
                        schema={name: pl.String for name in template.fields} or {"_": pl.String})
