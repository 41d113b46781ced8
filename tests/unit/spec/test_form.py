"""CAMP-2: the spec's JSON schema drives the forms (pipelines/spec/form.py)."""

from __future__ import annotations

import yaml

from pipelines.spec import json_schema


def test_camp2_json_schema_drives_forms():
    schema = json_schema()
    assert {"name", "type", "lists", "message", "options", "account", "send_at", "test"} <= set(schema["properties"])
    assert schema["required"] == ["name", "message"]
    assert yaml.safe_load(yaml.safe_dump(schema)) == schema  # the form can be stored as YAML and read back
