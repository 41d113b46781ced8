"""MSG-3, MSG-4, MSG-5: messages rendered vectorised, values inserted literally (pipelines/render/composer.py)."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.render import MessageOptions, compile_template, compose, render, render_one


def rendered(message: str, rows: dict[str, list], defaults: dict | None = None) -> list[str]:
    template = compile_template(message, list(rows))
    return render(pl.DataFrame(rows, schema={k: pl.String for k in rows}), template, defaults or {}).to_list()


def test_msg3_fields_named_as_the_header_with_accents():
    assert rendered("Bonjour ${Prénom} ${Nom} !", {"Prénom": ["Zoé", " Loïc "], "Nom": ["Bégué", "Côté"]}) == [
        "Bonjour Zoé Bégué !", "Bonjour Loïc Côté !"]


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


def test_msg5_bounded_jinja_still_renders_real_templates():
    message = ('{{ Nom | title }}: {{ "%.2f" | format(2.5) }} € {{ "{:>4}".format("a") }} {{ "ab" * 2 }} '
               '{% for i in range(3) %}{{ loop.cycle("x", "y") }}{% endfor %} {{ ["a", Nom] | join("-") }}')
    assert rendered(message, {"Nom": ["ann"]}) == ["Ann: 2.50 €    a abab xyx a-ann"]
