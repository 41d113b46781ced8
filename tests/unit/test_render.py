"""MSG-3, MSG-4, MSG-5: personalisation, literally, column-wise."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.render import MessageOptions, TemplateError, compile_template, compose, render, render_one


def rendered(message: str, rows: dict[str, list], defaults: dict | None = None) -> list[str]:
    template = compile_template(message, list(rows))
    return render(pl.DataFrame(rows, schema={k: pl.String for k in rows}), template, defaults or {}).to_list()


def test_msg3_fields_named_as_the_header_with_accents():
    assert rendered("Bonjour ${Prénom} ${Nom} !", {"Prénom": ["Zoé", " Loïc "], "Nom": ["Bégué", "Côté"]}) == [
        "Bonjour Zoé Bégué !", "Bonjour Loïc Côté !"]


def test_msg3_unknown_field_names_the_field_and_the_columns():
    with pytest.raises(TemplateError) as error:
        compile_template("Bonjour ${Prenom}", ["Prénom", "Nom"])
    assert "${Prenom}" in str(error.value) and "Prénom, Nom" in str(error.value) and "MSG-3" in str(error.value)
    assert error.value.field == "Prenom"


def test_msg3_values_are_inserted_literally_never_expanded():
    rows = {"Nom": ["${Prix}", "{{ Prix }}", "{% if 1 %}x{% endif %}"], "Prix": ["10 €", "20 €", "30 €"]}
    assert rendered("${Nom}: ${Prix}", rows) == ["${Prix}: 10 €", "{{ Prix }}: 20 €", "{% if 1 %}x{% endif %}: 30 €"]
    assert rendered("{{ Nom }}: ${Prix}", rows) == ["${Prix}: 10 €", "{{ Prix }}: 20 €",
                                                    "{% if 1 %}x{% endif %}: 30 €"]


def test_msg4_default_replaces_empty_values():
    rows = {"Civilité": ["Mme", "", None, "  "], "Nom": ["A", "B", "C", "D"]}
    assert rendered("Bonjour ${Civilité} ${Nom}", rows, {"Civilité": "Mme/M"}) == [
        "Bonjour Mme A", "Bonjour Mme/M B", "Bonjour Mme/M C", "Bonjour Mme/M D"]


def test_msg5_jinja_filters_and_conditions():
    rows = {"Prénom": ["élodie", "JEAN"], "Civilité": ["Mme", ""]}
    message = "Bonjour {% if Civilité %}{{ Civilité }} {% endif %}{{ Prénom | title }}"
    assert rendered(message, rows) == ["Bonjour Mme Élodie", "Bonjour Jean"]


def test_msg5_jinja_renders_once_per_distinct_combination(monkeypatch):
    template = compile_template("{{ Ville | upper }} ${Civilité}", ["Ville", "Civilité", "Nom"])
    calls = []
    original = template.jinja.render
    monkeypatch.setattr(template.jinja, "render", lambda *a, **k: calls.append(1) or original(*a, **k))
    frame = pl.DataFrame({"Ville": ["Paris", "Nîmes"] * 5000, "Civilité": ["M."] * 10000, "Nom": ["x"] * 10000})
    messages = render(frame, template, {})
    assert len(calls) == 2
    assert messages[:2].to_list() == ["PARIS M.", "NÎMES M."]


def test_msg5_jinja_unknown_variable_and_syntax_error():
    with pytest.raises(TemplateError, match="MSG-3"):
        compile_template("{{ Inconnu }}", ["Nom"])
    with pytest.raises(TemplateError, match="MSG-5"):
        compile_template("{% if %}", ["Nom"])


def test_msg3_render_one_row():
    template = compile_template("Code ${CP}", ["CP"])
    assert render_one({"CP": "01000"}, template, {}) == "Code 01000"


@pytest.mark.parametrize("rows", [0, 1, 2, 1000])
@pytest.mark.parametrize("message", ["Votre colis arrive demain.", "Votre {{ 'colis' | upper }} arrive demain."])
def test_msg3_message_without_fields_renders_on_every_row(message, rows):
    expected = message.replace("{{ 'colis' | upper }}", "COLIS")
    frame = pl.DataFrame({"Nom": ["x"] * rows}, schema={"Nom": pl.String})
    composed = compose(frame, compile_template(message, ["Nom"]), {}, MessageOptions(emojis=True))
    assert composed.get_column("MESSAGE").to_list() == [expected] * rows
    assert composed.select("ENCODING", "LENGTH", "PARTS").rows() == [("GSM7", len(expected), 1)] * rows


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


def test_msg5_bounded_jinja_still_renders_real_templates():
    message = ('{{ Nom | title }}: {{ "%.2f" | format(2.5) }} € {{ "{:>4}".format("a") }} {{ "ab" * 2 }} '
               '{% for i in range(3) %}{{ loop.cycle("x", "y") }}{% endfor %} {{ ["a", Nom] | join("-") }}')
    assert rendered(message, {"Nom": ["ann"]}) == ["Ann: 2.50 €    a abab xyx a-ann"]
