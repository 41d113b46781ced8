"""Personalised messages (MSG-3, MSG-4, MSG-5), rendered on whole columns.

`${Field}` inserts the trimmed value of a list column (names as in the list header, accents included), or
the campaign's default for that field when the value is empty. A `${...}` template compiles to one
`concat_str` expression: values are inserted literally, so a value containing `${Prix}` or `{{ x }}` is
never expanded. Jinja2 syntax (`{{ Prénom | title }}`, `{% if %}`) is accepted too; such a template renders
once per distinct combination of the fields it uses, not once per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import jinja2
import jinja2.meta
import polars as pl
from jinja2.sandbox import SandboxedEnvironment

FIELD = re.compile(r"\$\{([^{}]*)\}")
_JINJA_MARKERS = ("{{", "{%", "{#")


class TemplateError(ValueError):
    """A message that cannot be personalised from the lists: names the field, the columns and the rule."""

    def __init__(self, message: str, rule: str, field_name: str | None = None):
        self.rule, self.field = rule, field_name
        super().__init__(f"message: {message} [{rule}]")


@dataclass
class Template:
    """A message template resolved against the list columns."""

    source: str
    literal_parts: list[str] = field(default_factory=list)  # ${} mode: text around the fields
    field_parts: list[str] = field(default_factory=list)  # ${} mode: the field between two literal parts
    jinja: jinja2.Template | None = None
    jinja_fields: list[str] = field(default_factory=list)  # columns the Jinja part uses
    strict_fields: list[str] = field(default_factory=list)  # fields written ${Field}: empty → status 5 (MSG-4)

    @property
    def fields(self) -> list[str]:
        return list(dict.fromkeys(self.field_parts + self.jinja_fields))


def _resolve(name: str, columns: list[str]) -> str:
    """A field name as written in the message → the list column (exact, else case-insensitive if unique)."""
    name = name.strip()
    if name in columns:
        return name
    folded = [column for column in columns if column.casefold() == name.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise TemplateError(
        f"unknown field ${{{name}}}; fields available: {', '.join(columns) or 'none'}", "MSG-3", name
    )


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def compile_template(source: str, columns: list[str]) -> Template:
    """Resolve every field of the message against the columns (MSG-3); unknown fields are an error."""
    template = Template(source)
    if any(marker in source for marker in _JINJA_MARKERS):
        # ${Field} inside a Jinja template becomes a variable, so both syntaxes mix.
        names: list[str] = []

        def to_variable(match: re.Match) -> str:
            names.append(_resolve(match.group(1), columns))
            return "{{ __field_%d }}" % (len(names) - 1)

        jinja_source = FIELD.sub(to_variable, source)
        environment = _environment()
        try:
            parsed = environment.parse(jinja_source)
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(f"Jinja2 syntax error line {error.lineno}: {error.message}", "MSG-5") from None
        used = sorted(
            name for name in jinja2.meta.find_undeclared_variables(parsed)
            if not name.startswith("__field_") and name not in environment.globals
        )
        template.jinja = environment.from_string(jinja_source)
        template.jinja_fields = list(dict.fromkeys(names + [_resolve(name, columns) for name in used]))
        template.strict_fields = list(dict.fromkeys(names))
        template.field_parts = names
        return template
    position = 0
    for match in FIELD.finditer(source):
        template.literal_parts.append(source[position:match.start()])
        template.field_parts.append(_resolve(match.group(1), columns))
        position = match.end()
    template.literal_parts.append(source[position:])
    template.strict_fields = list(dict.fromkeys(template.field_parts))
    return template


def field_values(columns: list[str], defaults: dict[str, str]) -> list[pl.Expr]:
    """Each field as inserted: the trimmed value, or the default when empty (MSG-4); null when empty with
    no default."""
    exprs = []
    for column in columns:
        value = pl.col(column).str.strip_chars()
        empty = value.is_null() | (value == "")
        default = defaults.get(column)
        exprs.append(pl.when(empty).then(pl.lit(default, dtype=pl.String)).otherwise(value).alias(column))
    return exprs


def empty_field(column: str) -> pl.Expr:
    """True where a list value is empty (null or blank)."""
    value = pl.col(column).str.strip_chars()
    return value.is_null() | (value == "")


def render(frame: pl.DataFrame, template: Template, defaults: dict[str, str]) -> pl.Series:
    """The personalised message of every row of `frame` (columns already named as the list header)."""
    values = frame.select(field_values(template.fields, defaults)) if template.fields else pl.DataFrame(
        {"_": [None] * frame.height})
    if template.jinja is None:
        pieces: list[pl.Expr] = []
        for literal, name in zip(template.literal_parts, template.field_parts + [None]):
            if literal:
                pieces.append(pl.lit(literal))
            if name is not None:
                pieces.append(pl.col(name).fill_null(""))
        if not pieces:
            return pl.Series("MESSAGE", [""] * frame.height, dtype=pl.String)
        return values.select(pl.concat_str(pieces).alias("MESSAGE")).to_series()
    fields = template.fields
    if not fields:
        text = template.jinja.render()
        return pl.Series("MESSAGE", [text] * frame.height, dtype=pl.String)
    distinct = values.select(fields).unique()
    rendered = [
        template.jinja.render(_context(template, dict(zip(fields, row))))
        for row in distinct.iter_rows()
    ]
    distinct = distinct.with_columns(pl.Series("MESSAGE", rendered, dtype=pl.String))
    joined = values.select(fields).join(distinct, on=fields, how="left", nulls_equal=True, maintain_order="left")
    return joined.get_column("MESSAGE")


def _context(template: Template, row: dict[str, str | None]) -> dict[str, str]:
    context = {name: ("" if value is None else value) for name, value in row.items()}
    for index, name in enumerate(template.field_parts):
        context[f"__field_{index}"] = context[name]
    return context


def render_one(row: dict[str, str | None], template: Template, defaults: dict[str, str]) -> str:
    """One row's message (tests, SEND-3 test message), through the same column path as the whole list."""
    frame = pl.DataFrame({name: [row.get(name)] for name in template.fields} or {"_": [None]},
                         schema={name: pl.String for name in template.fields} or {"_": pl.String})
    return render(frame, template, defaults)[0]
