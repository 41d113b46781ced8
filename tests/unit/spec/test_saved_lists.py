"""LIST-4: a spec's `lists` name files and saved lists ({saved: NAME} or {saved: NAME, version: N}), in the YAML
file, the Airflow form and the API alike (pipelines/spec)."""

from __future__ import annotations

import jsonschema
import pytest
import yaml
from helpers import bucket_and_a_secret_outside, write_list, write_spec

from pipelines.spec import SpecError, load_spec, validate_spec
from pipelines.spec.model import SavedListRef

BASE = {"name": "VIP", "type": "notification", "message": "Bonjour"}


def test_list4_a_spec_names_saved_lists_next_to_files():
    spec = validate_spec({**BASE, "lists": [{"saved": "clients-vip"}, {"saved": " clients-vip ", "version": 3},
                                            "files/x.csv"]})
    assert spec.lists == [SavedListRef(saved="clients-vip"), SavedListRef(saved="clients-vip", version=3),
                          "files/x.csv"]


@pytest.mark.parametrize(("entry", "field", "said"), [
    ({"saved": "vip", "verion": 3}, "lists.verion", "unknown field"),
    ({"saved": ""}, "lists.saved", "at least 1 character"),
    ({"saved": "vip", "version": 0}, "lists.version", "greater than or equal to 1"),
    ({"version": 2}, "lists.saved", "Field required"),
    (3, "lists", "a list is a file path or a saved list ({saved: NAME, version: N})"),
    (None, "lists", "a list is a file path or a saved list"),
])
def test_list4_a_bad_list_entry_is_refused_on_lists_with_the_rule(entry, field, said):
    with pytest.raises(SpecError) as error:
        validate_spec({**BASE, "lists": ["ok.csv", entry]})
    [problem] = error.value.problems
    assert (problem.field, problem.rule) == (field, "LIST-4")
    assert said in problem.message


def test_list4_a_saved_list_alone_is_a_list_for_the_campaign():
    assert validate_spec({**BASE, "lists": [{"saved": "vip"}]}).lists == [SavedListRef(saved="vip")]


def test_list4_saved_lists_are_not_files_so_the_bucket_check_leaves_them_to_the_store(tmp_path):
    bucket, _ = bucket_and_a_secret_outside(tmp_path)
    spec = validate_spec({**BASE, "lists": [{"saved": "../../etc/passwd"}, "lists/ok.csv"]}, roots=[bucket])
    assert spec.lists[0] == SavedListRef(saved="../../etc/passwd")  # a name in the store, never a path
    with pytest.raises(SpecError, match="outside the folders"):
        validate_spec({**BASE, "lists": [{"saved": "vip"}, "lists/link.csv"]}, roots=[bucket])


def test_list4_a_spec_with_saved_lists_reads_back_from_its_yaml(tmp_path):
    spec = validate_spec({**BASE, "lists": [{"saved": "vip", "version": 2}, {"saved": "vip"}, "a.csv"]})
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert data["lists"] == [{"saved": "vip", "version": 2}, {"saved": "vip"}, "a.csv"]
    write_list(tmp_path / "a.csv", "Mobile\n0611111111\n")
    again = load_spec(write_spec(tmp_path, **{k: v for k, v in yaml.safe_load(yaml.safe_dump(data)).items()}))
    assert again.lists == spec.lists


def test_list4_camp2_the_airflow_form_takes_files_and_saved_lists():
    """The trigger form: `lists` takes file paths, `saved_lists` a saved list's NAME or NAME:VERSION; both come
    back into the spec's one `lists` entry (spec_from_form), validated by the spec."""
    from pipelines.spec import validate_spec
    from pipelines.spec.form import spec_from_form, trigger_form

    form = trigger_form()
    jsonschema.validate(["a.csv", "vip/b.csv"], form["lists"])
    jsonschema.validate(["vip", "vip:2"], form["saved_lists"])
    for bad in ([{"saved": "vip"}], [3]):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, form["lists"])
    conf = {"name": "Soldes", "type": "notification", "message": "Bonjour", "lists": ["a.csv"],
            "saved_lists": ["vip", "vip:2"]}
    assert validate_spec(spec_from_form(conf)).model_dump()["lists"] == [
        "a.csv", {"saved": "vip", "version": None}, {"saved": "vip", "version": 2}]
