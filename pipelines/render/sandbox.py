"""The bounded Jinja2 sandbox (MSG-5): a template cannot touch Python internals, change lists, allocate
gigabytes or loop for ever. Jinja2 is imported only when a template uses it."""

from __future__ import annotations

import re
import time
from typing import Any


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


def bound_tree(tree: Any) -> Any:
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


def bounded_environment():
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
