"""MSG-5: Jinja runs bounded in a sandbox — memory, loops, time, unsafe filters (pipelines/render/sandbox.py)."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.render import TemplateError, compile_template, render


def refusal(message: str) -> str:
    """The MSG-5 refusal of rendering `message` on two rows (the guard must trip before any allocation)."""
    template = compile_template(message, ["Nom"])
    with pytest.raises(TemplateError) as error:
        render(pl.DataFrame({"Nom": ["Ann", "Luc"]}), template, {})
    assert error.value.rule == "MSG-5" and str(error.value).startswith("message: ")
    return str(error.value)


@pytest.mark.parametrize("message, reason", [
    ('{{ "x" * 3000000000 }}', "3,000,000,000 characters"),
    ('{{ 3000000000 * ["x"] }}', "3,000,000,000 characters"),
    ('{{ "x" | center(3000000000) }}', "center(3,000,000,000)"),
    ('{{ "x".ljust(3000000000) }}', "ljust(3,000,000,000)"),
    ('{{ "{:>3000000000}".format(Nom) }}', "format width"),
    ('{{ "{:>{}}".format(Nom, 3000000000) }}', "format width"),
    ('{{ "%3000000000s" | format(Nom) }}', "format width"),
    ('{{ "%*s" % (3000000000, Nom) }}', "format width"),
    ('{{ 2 ** 3000000000 }}', "bits"),
    ('{{ ("x" * 4000) | replace("x", "y" * 4000) }}', "replace()"),
    ('{{ range(1000) | map("string") | join("y" * 4000) }}', "join()"),
    ('{% set ns = namespace(s="xx") %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}', "8,192"),
    ('{% set x %}{% for i in range(1000) %}{{ "y" * 4000 }}{% endfor %}{% endset %}{{ x | length }}',
     "characters written"),
])
def test_msg5_jinja_cannot_allocate_gigabytes(message, reason):
    assert reason in refusal(message)


@pytest.mark.parametrize("message, reason", [
    ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "range() of 100,000"),
    ("{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}"
     "{% endfor %}", "steps"),
    ("{% set x = range(1000) | list %}{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}", "steps"),
    ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}", "steps"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion"),
])
def test_msg5_jinja_cannot_loop_for_ever(message, reason):
    assert reason in refusal(message)


def test_msg5_jinja_render_time_budget(monkeypatch):
    from pipelines.render import sandbox

    monkeypatch.setattr(sandbox, "MAX_SECONDS", -1.0)  # already past the deadline: the first check trips
    assert "took more than" in refusal("{% for a in range(900) %}{{ a }}{% endfor %}")


@pytest.mark.parametrize("message", ['{{ "".__class__.__mro__ }}', "{% set x = [1] %}{{ x.append(2) }}",
                                     "{{ 1 / 0 }}"])
def test_msg5_jinja_sandbox_and_runtime_errors_are_rule_errors(message):
    refusal(message)


@pytest.mark.parametrize("message", ["{{ Nom | indent(3000000000) }}", "{{ lipsum(10) }}", "{% for %}"])
def test_msg5_jinja_unsafe_filters_and_globals_refused_at_compile(message):
    with pytest.raises(TemplateError) as error:
        compile_template(message, ["Nom"])
    assert error.value.rule in {"MSG-3", "MSG-5"}
