"""MSG-3, MSG-5: a message compiled once, its fields checked against the columns (pipelines/render/template.py)."""

from __future__ import annotations

import pytest

from pipelines.render import TemplateError, compile_template


def test_msg3_unknown_field_names_the_field_and_the_columns():
    with pytest.raises(TemplateError) as error:
        compile_template("Bonjour ${Prenom}", ["Prénom", "Nom"])
    assert "${Prenom}" in str(error.value) and "Prénom, Nom" in str(error.value) and "MSG-3" in str(error.value)
    assert error.value.field == "Prenom"


def test_msg5_jinja_unknown_variable_and_syntax_error():
    with pytest.raises(TemplateError, match="MSG-3"):
        compile_template("{{ Inconnu }}", ["Nom"])
    with pytest.raises(TemplateError, match="MSG-5"):
        compile_template("{% if %}", ["Nom"])


def test_msg3_nearest_field_accents_and_case_first_then_spelling():
    from pipelines.render import nearest_field, referenced_fields

    columns = ["Prénom", "Nom", "Civilité", "Ville"]
    assert nearest_field("prenom", columns) == "Prénom" and nearest_field("CIVILITE", columns) == "Civilité"
    assert nearest_field("Prenon", columns) == "Prénom" and nearest_field("Vile", columns) == "Ville"
    assert nearest_field("Montant", columns) is None
    assert referenced_fields("${Nom} {{ Ville | title }} {% if Age %}${Prénom}{% endif %}") == [
        "Nom", "Prénom", "Ville", "Age"]


def test_msg3_compile_template_suggests_the_nearest_field():
    with pytest.raises(TemplateError, match=r"unknown field \$\{Prenon\} — did you mean \$\{Prénom\}\?"):
        compile_template("Bonjour ${Prenon}", ["Prénom", "Nom"])
