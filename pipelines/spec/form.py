"""The spec as JSON schema: the Airflow trigger form's fields (CAMP-2)."""

from __future__ import annotations

from typing import Any

from pipelines.spec.model import CampaignSpec


def json_schema() -> dict[str, Any]:
    """The JSON schema that drives the Airflow trigger form (CAMP-2)."""
    return CampaignSpec.model_json_schema(by_alias=True)


def form_fields() -> dict[str, dict[str, Any]]:
    """The spec's JSON schema split into one schema per top-level field, `$ref`s inlined.

    The Airflow trigger form is made of these (dags/campaign_form.json, kept equal by a test): each field is
    a Param validated by its schema, so a bad conf is refused before a run starts (CAMP-2). Every field may
    be left empty when `spec_path` names a spec file in the bucket instead.
    """
    schema = json_schema()
    definitions = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    fields = {}
    for name, field_schema in schema["properties"].items():
        field_schema = inline(field_schema)
        if "default" not in field_schema:  # required in the spec, optional in the form (spec_path)
            field_schema = {"anyOf": [field_schema, {"type": "null"}], "default": None,
                            "title": field_schema.get("title", name),
                            "description": field_schema.get("description", "")}
        fields[name] = field_schema
    return fields
