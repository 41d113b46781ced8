"""Personalised messages (MSG-3, MSG-4, MSG-5), rendered on whole columns.

`${Field}` inserts the trimmed value of a list column (names as in the list header, accents included), or
the campaign's default for that field when the value is empty. A `${...}` template compiles to one
`concat_str` expression: values are inserted literally, so a value containing `${Prix}` or `{{ x }}` is
never expanded. Jinja2 syntax (`{{ Prénom | title }}`, `{% if %}`) is accepted too; such a template renders
once per distinct combination of the fields it uses, not once per row.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from pipelines import encoding as enc

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
    jinja: Any = None  # a jinja2.Template (Jinja2 is imported only for templates that use it)
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


# MSG-5 bounds on Jinja2: an SMS is at most 918 characters, so a template needs little room; these limits
# trip long before a template can allocate gigabytes or loop for ever.
MAX_TEXT = 5_000  # characters (or items) of any value a template makes
MAX_OUTPUT = 50_000  # characters a template writes in one render, captured blocks and macros included
MAX_RANGE = 1_000  # items of range()
MAX_STEPS = 20_000  # calls, filter applications, loop iterations and writes in one render
MAX_SECONDS = 2.0  # wall clock of one render, a backstop behind MAX_STEPS
MAX_INT_BITS = 4_096  # integers a template computes
_SIZED = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "truncate", "batch", "slice"})
_FILTERS = frozenset({
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
    "float", "format", "groupby", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
    "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr", "slice", "sort", "string",
    "striptags", "sum", "title", "trim", "truncate", "unique", "upper", "urlencode", "wordcount",
})
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_ITERATE, _WRITE, _TEXT = "__smsflow_iterate", "__smsflow_write", "__smsflow_text"


class _Budget:
    """What one render may still spend (steps, characters written, time)."""

    def __init__(self) -> None:
        self.steps, self.written = 0, 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            _refuse(f"more than {MAX_STEPS:,} steps (calls, loop iterations, writes) in one message")
        if self.steps % 256 == 0 and time.monotonic() > self.deadline:
            _refuse(f"rendering one message took more than {MAX_SECONDS:g} s")

    def write(self, text_length: int) -> None:
        self.written += text_length
        if self.written > MAX_OUTPUT:
            _refuse(f"more than {MAX_OUTPUT:,} characters written for one message")


_BUDGET: Any = None  # a contextvars.ContextVar[_Budget], made with the first environment


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # a render that did not go through _BoundedTemplate.render: bounded all the same
        budget = _Budget()
        _BUDGET.set(budget)
    return budget


def _refuse(reason: str):
    from jinja2.sandbox import SecurityError

    raise SecurityError(reason)


def _sized(value: Any) -> Any:
    """`value`, refused when it is a text or sequence over MAX_TEXT, or an integer over MAX_INT_BITS."""
    if isinstance(value, (str, list, tuple, dict, set)) and len(value) > MAX_TEXT:
        _refuse(f"a value of {len(value):,} characters or items (the limit is {MAX_TEXT:,})")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        _refuse(f"an integer of more than {MAX_INT_BITS:,} bits")
    return value


def _check_width(name: str, args: tuple, kwargs: dict) -> None:
    """Widths and counts (center, ljust, truncate, batch ...) allocate what they ask for: cap them first."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_TEXT:
            _refuse(f"{name}({value:,}) asks for more than {MAX_TEXT:,} characters or items")


def _check_format(text: str) -> None:
    """Format specs with a width or precision over MAX_TEXT, or given by an argument, allocate unbounded."""
    import string

    widths = []
    for match in _PERCENT_SPEC.finditer(text):
        widths.extend(group for group in match.groups() if group)
    if "{" in text:
        try:
            specs = [spec for _, _, spec, _ in string.Formatter().parse(text) if spec]
        except ValueError:
            specs = []
        for spec in specs:
            if "{" in spec:
                _refuse("a format width given by an argument")
            widths.extend(re.findall(r"\d+", spec))
    if "*" in widths:
        _refuse("a format width given by an argument")
    if any(int(width) > MAX_TEXT for width in widths):
        _refuse(f"a format width over {MAX_TEXT:,}")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        grows = (text.count(old) if old else len(text) + 1) * len(new)
        if len(text) + grows > MAX_TEXT:
            _refuse(f"replace() would make more than {MAX_TEXT:,} characters")


def _check_join(separator: Any, items: Any) -> list:
    items = list(items)
    _sized(items)
    if isinstance(separator, str) and len(separator) * max(len(items) - 1, 0) > MAX_TEXT:
        _refuse(f"join() would make more than {MAX_TEXT:,} characters")
    return items


def _bounded_filter(name: str, function: Any) -> Any:
    """A built-in filter with its sizes checked before (widths, replace, join, format) and after (result)."""
    import functools

    from jinja2.utils import _PassArg

    passed = 1 if _PassArg.from_obj(function) is not None else 0  # environment / context comes first

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _budget().step()
        value, rest = args[passed] if len(args) > passed else None, args[passed + 1:]
        if name in _SIZED:
            _check_width(name, rest, kwargs)
        elif name == "replace" and len(rest) >= 2:
            _check_replace(str(value), rest[0], rest[1])
        elif name == "format" and isinstance(value, str):
            _check_format(value)
        elif name == "join":
            separator = rest[0] if rest else kwargs.get("d", "")
            args = (*args[:passed], _check_join(separator, value), *rest)
        return _sized(function(*args, **kwargs))

    return bounded


def _iterate(items: Any) -> Any:
    """A `for` loop's items, each iteration a step: nested loops run out of steps, not of time."""
    budget = _budget()
    for item in items:
        budget.step()
        yield item


def _write(value: Any) -> Any:
    """What an output node writes, counted (loops that write into a captured block included)."""
    budget = _budget()
    budget.step()
    budget.write(len(value) if isinstance(value, str) else len(str(value)))
    return value


def _bound_tree(tree: Any) -> Any:
    """Route every loop, output and `~` concatenation of a parsed template through the budget."""
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    def call(name: str, node: Any) -> Any:  # as a filter: a direct call, without the sandbox's checks per call
        return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)

    class Bound(NodeTransformer):
        def visit_For(self, node: Any) -> Any:
            node = self.generic_visit(node)
            node.iter = call(_ITERATE, node.iter)
            return node

        def visit_Concat(self, node: Any) -> Any:
            return call(_TEXT, self.generic_visit(node))

        def visit_Output(self, node: Any) -> Any:
            node = self.generic_visit(node)
            node.nodes = [call(_WRITE, nodes.Const(child.data, lineno=child.lineno)
                               if isinstance(child, nodes.TemplateData) else child) for child in node.nodes]
            return node

    return Bound().visit(tree)


_ENVIRONMENT_CLASS: Any = None


def _environment():
    """A sandbox that cannot touch Python internals, change lists, allocate gigabytes or loop for ever (MSG-5)."""
    global _ENVIRONMENT_CLASS
    if _ENVIRONMENT_CLASS is None:
        _ENVIRONMENT_CLASS = _bounded_environment_class()
    return _ENVIRONMENT_CLASS()


def _bounded_environment_class():
    import contextvars
    import operator

    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    global _BUDGET
    _BUDGET = contextvars.ContextVar("smsflow_jinja_budget", default=None)

    class BoundedTemplate(jinja2.Template):
        def render(self, *args: Any, **kwargs: Any) -> str:
            token = _BUDGET.set(_Budget())
            try:
                return super().render(*args, **kwargs)
            finally:
                _BUDGET.reset(token)

    def bounded_range(*args: Any) -> range:
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            _refuse(f"range() of {len(numbers):,} items (the limit is {MAX_RANGE:,})")
        return numbers

    def multiply(left: Any, right: Any) -> Any:
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, (str, list, tuple)) and isinstance(count, int):
                if len(sequence) * count > MAX_TEXT:
                    _refuse(f"a value of {len(sequence) * count:,} characters or items (the limit is {MAX_TEXT:,})")
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            _refuse(f"an integer of more than {MAX_INT_BITS:,} bits")
        return left * right

    def power(left: Any, right: Any) -> Any:
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 \
                and left.bit_length() * right > MAX_INT_BITS:
            _refuse(f"an integer of more than {MAX_INT_BITS:,} bits")
        return _sized(left ** right)

    def modulo(left: Any, right: Any) -> Any:
        if isinstance(left, str):
            _check_format(left)
        return _sized(left % right)

    class BoundedEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})
        template_class = BoundedTemplate

        def __init__(self) -> None:
            super().__init__(autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                             optimized=False)  # no constant folding: nothing is evaluated while compiling
            self.binop_table.update({"*": multiply, "**": power, "%": modulo,
                                     "+": lambda left, right: _sized(operator.add(left, right))})
            self.filters = {name: _bounded_filter(name, function) for name, function in self.filters.items()
                            if name in _FILTERS}
            self.filters.update({_ITERATE: _iterate, _WRITE: _write, _TEXT: _sized})
            self.globals = {"range": bounded_range, "dict": dict, "namespace": self.globals["namespace"],
                            "cycler": self.globals["cycler"], "joiner": self.globals["joiner"]}

        def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
            _budget().step()
            return super().call_binop(context, operator_, left, right)

        def wrap_str_format(self, value: Any) -> Any:
            wrapped = super().wrap_str_format(value)
            if wrapped is not None:
                _check_format(value.__self__)
            return wrapped

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            _budget().step()
            owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
            if isinstance(owner, str):
                if name in _SIZED:
                    _check_width(name, args, kwargs)
                elif name == "replace" and len(args) >= 2:
                    _check_replace(owner, args[0], args[1])
                elif name == "join" and args:
                    args = (_check_join(owner, args[0]), *args[1:])
            return _sized(super().call(__context, __obj, *args, **kwargs))

    return BoundedEnvironment


def compile_template(source: str, columns: list[str]) -> Template:
    """Resolve every field of the message against the columns (MSG-3); unknown fields are an error."""
    template = Template(source)
    if any(marker in source for marker in _JINJA_MARKERS):
        # ${Field} inside a Jinja template becomes a variable, so both syntaxes mix.
        names: list[str] = []

        def to_variable(match: re.Match) -> str:
            names.append(_resolve(match.group(1), columns))
            return "{{ __field_%d }}" % (len(names) - 1)

        import jinja2
        import jinja2.meta

        jinja_source = FIELD.sub(to_variable, source)
        environment = _environment()
        try:
            parsed = environment.parse(jinja_source)
            used = sorted(
                name for name in jinja2.meta.find_undeclared_variables(parsed)
                if not name.startswith("__field_") and name not in environment.globals
            )
            template.jinja = environment.from_string(_bound_tree(parsed))
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(f"Jinja2 syntax error line {error.lineno}: {_clip(error.message)}", "MSG-5") \
                from None
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
        default = defaults.get(column)
        exprs.append(pl.when(_is_empty(value)).then(pl.lit(default, dtype=pl.String)).otherwise(value).alias(column))
    return exprs


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
        raise TemplateError(f"the Jinja2 template is refused: {_clip(reason)}", "MSG-5") from None


def _clip(text: str, limit: int = 80) -> str:
    """Text echoed in an error, cut to `limit` characters (a refusal never prints a huge value)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


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
    frame = pl.DataFrame({name: [row.get(name)] for name in template.fields} or {"_": [None]},
                         schema={name: pl.String for name in template.fields} or {"_": pl.String})
    return render(frame, template, defaults)[0]
