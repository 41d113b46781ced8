"""Personalised messages (MSG-3, MSG-4, MSG-5), rendered on whole columns.

`${Field}` inserts the trimmed value of a list column (names as in the list header, accents included), or
the campaign's default for that field when the value is empty. A `${...}` template compiles to one
`concat_str` expression: values are inserted literally, so a value containing `${Prix}` or `{{ x }}` is
never expanded. Jinja2 syntax (`{{ Prénom | title }}`, `{% if %}`) is accepted too; such a template renders
once per distinct combination of the fields it uses, not once per row.

template: compile_template and its errors; composer: field values and messages on columns; sandbox: the
bounded Jinja2 environment.
"""

from pipelines.render.composer import (
    MessageOptions, compose, compose_prepared, empty_column, empty_field, one_row, prepare_fields,
    render, render_one, value_column,
)
from pipelines.render.sandbox import MAX_INT_BITS, MAX_OUTPUT, MAX_RANGE, MAX_SECONDS, MAX_STEPS, MAX_TEXT
from pipelines.render.template import (
    FIELD, Template, TemplateError, compile_template, nearest_field, referenced_fields, resolve_field,
    unknown_field_message,
)

__all__ = [
    "FIELD", "MAX_INT_BITS", "MAX_OUTPUT", "MAX_RANGE", "MAX_SECONDS", "MAX_STEPS", "MAX_TEXT", "MessageOptions",
    "Template", "TemplateError", "compile_template", "compose", "compose_prepared", "empty_column", "empty_field",
    "nearest_field", "one_row", "prepare_fields", "referenced_fields", "render", "render_one", "resolve_field",
    "unknown_field_message", "value_column",
]
