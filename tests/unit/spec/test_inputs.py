"""CAMP-2: every problem of a spec and of the files it names, in one refusal (pipelines/spec/inputs.py)."""

from __future__ import annotations

import pytest
from helpers import write_list, write_spec

from pipelines.plan import plan_file
from pipelines.spec import SpecError, load_spec


def test_camp2_schema_lists_fields_blacklists_refused_together_each_naming_file_value_and_rule(bucket):
    write_list(bucket / "incoming" / "phones.csv", "Nom;Téléphone\nAnn;0611111111\n")
    write_list(bucket / "incoming" / "clients.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec = write_spec(bucket / "specs", sender="MA BOUTIQUE XXL", message="Bonjour ${Prenon}",
                      lists=["../incoming/missing.csv", "../incoming/phones.csv", "../incoming/clients.csv"],
                      account={"blacklists": {"own": "own.csv", "client": "../incoming/client.csv"}})
    with pytest.raises(SpecError) as error:
        load_spec(spec)
    problems = {(problem.field, problem.value, problem.rule) for problem in error.value.problems}
    assert problems == {("sender", "MA BOUTIQUE XXL", "MSG-1"), ("lists", "../incoming/missing.csv", "LIST-1"),
                        ("lists", "../incoming/phones.csv", "LIST-2"), ("message", "${Prenon}", "MSG-3"),
                        ("account.blacklists.own", "own.csv", "BL-1"),
                        ("account.blacklists.client", "../incoming/client.csv", "BL-1")}
    text = str(error.value)
    assert "(6 problems)" in text
    assert f"file not found: ../incoming/missing.csv ({bucket / 'incoming' / 'missing.csv'})" in text
    assert "no mobile number column" in text and "'Nom', 'Téléphone'" in text
    assert "did you mean ${Prénom}? (fields of the lists that could be read: Prénom)" in text  # maybe in missing.csv
    assert f"blacklist file not found: own.csv ({bucket / 'specs' / 'own.csv'})" in text


def test_camp2_msg3_every_unknown_field_across_all_lists_with_the_nearest_name(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    write_list(bucket / "b.csv", "GSM|Ville|Civilité\n0622222222|Nîmes|M.\n")
    message = "Bonjour ${Prenon} ${civilité} de ${Ville} {{ Vile | upper }} {% if Code %}x{% endif %} ${Age}"
    spec = write_spec(bucket, lists=["a.csv", "b.csv"], recipients=[{"mobile": "0633333333", "Age": "40"}],
                      message=message)
    with pytest.raises(SpecError) as error:
        load_spec(spec)
    lines = [str(problem) for problem in error.value.problems]
    assert lines == [
        "message='${Prenon}': unknown field ${Prenon} — did you mean ${Prénom}? (fields available: Prénom, Ville, "
        "Civilité, Age) [MSG-3]",
        "message='${Vile}': unknown field ${Vile} — did you mean ${Ville}? (fields available: Prénom, Ville, "
        "Civilité, Age) [MSG-3]",
        "message='${Code}': unknown field ${Code} (fields available: Prénom, Ville, Civilité, Age) [MSG-3]",
    ]  # ${civilité} is Civilité (case only), Age a manual recipient's field (LIST-5)
    assert "(3 problems)" in str(error.value)


def test_camp2_one_problem_is_said_in_the_singular_and_a_jinja_syntax_error_is_one(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    with pytest.raises(SpecError) as error:
        load_spec(write_spec(bucket, lists=["a.csv"], message="Bonjour {% if Prénom %}"))
    assert "(1 problem)" in str(error.value) and error.value.problems[0].rule == "MSG-5"


def test_camp2_a_saved_list_leaves_the_fields_to_the_plan_which_checks_them_once_resolved(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec = load_spec(write_spec(bucket, lists=[{"saved": "vip"}, "a.csv"], message="Bonjour ${Ville}"))
    write_list(bucket / "vip.csv", "Mobile;Nom\n0622222222;Roux\n")
    resolved = spec.model_copy(update={"lists": ["vip.csv", "a.csv"]})  # as resolve_saved_lists writes it
    from pipelines.plan import plan_campaign

    with pytest.raises(SpecError, match=r"unknown field \$\{Ville\} .*Nom, Prénom\) \[MSG-3\]"):
        plan_campaign(resolved, bucket, bucket / "plan")
    assert not (bucket / "plan").exists()


def test_camp2_list4_a_location_outside_the_bucket_is_named_once_and_not_opened(tmp_path):
    bucket = tmp_path / "bucket"
    write_list(tmp_path / "secret.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec = write_spec(bucket, lists=["../secret.csv"], message="Bonjour ${Inconnu}")
    with pytest.raises(SpecError) as error:
        load_spec(spec, roots=[bucket])
    assert [(problem.field, problem.rule) for problem in error.value.problems] == [("lists", "LIST-4")]


def test_camp2_a_missing_list_is_refused_before_a_plan_folder_appears(bucket):
    with pytest.raises(SpecError, match=r"file not found: gone.csv .*\[LIST-1\]"):
        plan_file(write_spec(bucket, lists=["gone.csv"]), bucket / "plan")
    assert not (bucket / "plan").exists()
