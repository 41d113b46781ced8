"""CAMP-2: the spec's JSON schema drives the forms (pipelines/spec/form.py)."""

from __future__ import annotations

import re

import jsonschema
import yaml

from pipelines.spec import json_schema, validate_spec
from pipelines.spec.form import spec_from_form, trigger_form


def test_camp2_json_schema_drives_forms():
    schema = json_schema()
    assert {"name", "type", "lists", "message", "options", "account", "send_at", "test"} <= set(schema["properties"])
    assert schema["required"] == ["name", "message"]
    assert yaml.safe_load(yaml.safe_dump(schema)) == schema  # the form can be stored as YAML and read back


def _schemas(node):
    """Every schema inside a form field's schema (itself included)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _schemas(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schemas(item)


def test_camp2_trigger_form_in_the_persons_order_with_help_in_words_and_no_anyof():
    """Issue 10: the Airflow form's fields come in the order a person fills them, each with a title and help in
    words (rule ids only in brackets), nullable values as `type: [X, "null"]` (a failed anyOf shows a raw dump)."""
    form = trigger_form()
    assert list(form)[:9] == ["name", "type", "lists", "saved_lists", "message", "sender", "send_at", "test_numbers",
                              "test_row"]
    later = list(form)[9:]
    assert later.index("billing_code") < later.index("ucs2") < later.index("account") < later.index("approval")
    for name, schema in form.items():
        assert not [node for node in _schemas(schema) if "anyOf" in node or "oneOf" in node], name
        words = re.sub(r"\([A-Z]+-\d+(, [A-Z]+-\d+)*\)", "", schema["description"])
        assert len(re.findall(r"[a-z]{3,}", words)) >= 5, (name, schema["description"])
        assert schema["title"] and schema["title"][0].isupper() and "_" not in schema["title"], name
        assert "default" in schema, name  # every field may stay empty: spec_path or campaign_id instead
    assert form["lists"]["type"] == ["array", "null"] and form["lists"]["items"] == {"type": "string"}
    assert form["send_at"]["format"] == "date-time" and form["send_at"]["type"] == ["string", "null"]
    assert form["ucs2"]["type"] == "boolean" and form["max_parts"]["type"] == "integer"
    assert form["in_flight"]["enum"] == ["hold", "resend", None]
    assert not [name for name, schema in form.items() if schema["type"] in ("object", ["object", "null"])
                and "For example" not in schema["description"]]  # a JSON box always shows an example


def test_camp2_trigger_form_values_make_the_spec():
    """The DAG turns the flattened form back into the spec (prepare_spec): toggles into options, test numbers into
    the test, the account's fields into the account, saved lists after the files; defaults leave the spec alone."""
    values = {name: schema.get("default") for name, schema in trigger_form().items()}
    values.update(name="Soldes", lists=["incoming/a.csv"], saved_lists=["vip", "vip:2"],
                  message="Bonjour ${Prénom} STOP 36184", test_numbers="0612345678", test_row=2, ucs2=True,
                  account="acme", countries=["fr"], max_invalid_share=0.5, spec_path=None, campaign_id=None)
    data = spec_from_form(values)
    assert data == {"name": "Soldes", "type": "marketing", "approval": "manual",
                    "message": "Bonjour ${Prénom} STOP 36184",
                    "lists": ["incoming/a.csv", {"saved": "vip"}, {"saved": "vip", "version": 2}],
                    "test": {"numbers": "0612345678", "row": 2}, "options": {"ucs2": True},
                    "account": {"id": "acme", "allowed_countries": ["fr"]}, "contracts": {"max_invalid_share": 0.5}}
    spec = validate_spec(data)
    assert spec.options.ucs2 and spec.account.allowed_countries == ["FR"] and spec.test.number_list == ["0612345678"]
    assert spec.account.model_fields_set == {"id", "allowed_countries"}  # ACC-2: only what the form set narrows
    # A conf written as the spec (REST API) still works: the form's untouched defaults do not override it.
    assert spec_from_form({**values, "ucs2": False, "options": {"ucs2": True, "holdout": 5}})["options"] == \
        {"ucs2": True, "holdout": 5}
    for name, schema in trigger_form().items():
        jsonschema.validate(values[name], schema)  # the values a person typed pass the form's own check
    # A conf written as the spec: its account object, narrowed by the form's own account fields.
    assert spec_from_form({"account": {"id": "acme", "credits": 5}, "countries": ["FR"]})["account"] == \
        {"id": "acme", "credits": 5, "allowed_countries": ["FR"]}
    assert spec_from_form({"account": "acme", "credit_budget": 7})["account"] == {"id": "acme", "credits": 7}


def test_url1_url4_the_trigger_form_has_a_link_tracking_section_that_makes_the_spec_s_tracking():
    """Issue 12: tracking and its preview are fields of the Airflow form, in their own section, validated by the
    spec's own schema."""
    form = trigger_form()
    section = [name for name, schema in form.items() if schema.get("section") == "Link tracking"]
    assert section == ["track_links", "tracking_domain", "link_lifetime_days", "preview_title",
                       "preview_description", "preview_image"]
    assert form["track_links"]["type"] == "boolean" and form["track_links"]["default"] is False
    base = {"name": "Soldes", "type": "notification", "message": "Suivi sur https://acme.fr/suivi",
            "recipients": [{"mobile": "0612345678"}]}
    assert "tracking" not in spec_from_form({**base, "track_links": False, "link_lifetime_days": 90})
    switched = validate_spec(spec_from_form({**base, "track_links": True}))
    assert switched.tracking is not None and switched.tracking.lifetime_days == 90
    filled = spec_from_form({**base, "tracking_domain": "go.ac.fr", "link_lifetime_days": 30,
                             "preview_title": "Soldes ${Prénom}", "preview_description": "-20 % ce week-end",
                             "preview_image": ""})
    assert filled["tracking"] == {"domain": "go.ac.fr", "lifetime_days": 30,
                                  "preview": {"title": "Soldes ${Prénom}", "description": "-20 % ce week-end"}}
    tracking = validate_spec(filled).tracking
    assert (tracking.domain, tracking.preview.title) == ("go.ac.fr", "Soldes ${Prénom}")
    assert spec_from_form({**base, "tracking": True, "preview_title": "T", "preview_description": "D"})["tracking"] \
        == {"preview": {"title": "T", "description": "D"}}  # the REST API's spec value, completed by the form's
