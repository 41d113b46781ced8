"""The spec as JSON schema, and the Airflow trigger form made from it (CAMP-2).

The form is the spec flattened where a person fills it better field by field: options as toggles, the test
numbers as a text, the account's name and what the campaign narrows as their own fields, saved lists apart from
list files. `spec_from_form` turns its values back into the spec, which `pipelines.spec` validates as any spec.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipelines.spec.model import CampaignSpec

# Form field → where it sits in the spec (a top-level field keeps its name).
FLATTENED: dict[str, tuple[str, ...]] = {
    "test_numbers": ("test", "numbers"), "test_row": ("test", "row"),
    "ucs2": ("options", "ucs2"), "emojis": ("options", "emojis"), "replace_non_gsm7": ("options", "replace_non_gsm7"),
    "max_parts": ("options", "max_parts"), "allow_empty_fields": ("options", "allow_empty_fields"),
    "in_flight": ("options", "in_flight"), "holdout": ("options", "holdout"),
    "holdout_seed": ("options", "holdout_seed"),
    "account": ("account", "id"), "countries": ("account", "allowed_countries"),
    "credit_budget": ("account", "credits"), "send_window": ("account", "send_window"),
    "max_invalid_share": ("contracts", "max_invalid_share"),
    "tracking_domain": ("tracking", "domain"), "link_lifetime_days": ("tracking", "lifetime_days"),
    "preview_title": ("tracking", "preview", "title"), "preview_description": ("tracking", "preview", "description"),
    "preview_image": ("tracking", "preview", "image"),
}
# URL-1: the form's switch for `tracking: true`; any tracking field filled in also turns tracking on.
TRACK_LINKS = {"type": "boolean", "default": False, "title": "Track links",
               "description": "Send every URL of the message as a short link of 19 characters per recipient, and "
                              "count clicks and previews (URL-1…5). Filling in a field below also turns it on."}
# ACC-2: the account's settings are narrowed only by what the form sets: these start empty, not at a default
# (and an empty account is the default account).
NARROWING = ("account", "countries", "credit_budget", "send_window")
# The form's sections after its first fields, in order (Airflow groups a Param's `section` apart).
SECTIONS = {"More about the campaign": ("billing_code", "description", "recipients", "defaults"),
            "Message options": ("ucs2", "emojis", "replace_non_gsm7", "max_parts", "allow_empty_fields", "in_flight",
                                "holdout", "holdout_seed"),
            "Account": ("account", "countries", "credit_budget", "send_window"),
            "Link tracking": ("track_links", "tracking_domain", "link_lifetime_days", "preview_title",
                              "preview_description", "preview_image"),
            "Checks and approval": ("max_invalid_share", "approval")}
# The order a person fills a campaign in (the form keeps it; Airflow shows the fields in this order).
FORM_ORDER = ("name", "type", "lists", "saved_lists", "message", "sender", "send_at", "test_numbers", "test_row",
              *(name for names in SECTIONS.values() for name in names))
SAVED_LIST = re.compile(r"^\s*(?P<name>[^:]+?)\s*(?::\s*(?P<version>[1-9][0-9]*)\s*)?$")
# How the form's choices read (Airflow's `values_display`; "None" is the empty choice).
CHOICES = {"type": {"marketing": "Marketing (send window, STOP mention)",
                    "notification": "Notification (transactional, any hour)"},
           "approval": {"manual": "A person approves the test (manual)",
                        "auto": "No approval: scheduled automation (auto)"},
           "in_flight": {"hold": "Hold them (never sent twice)", "resend": "Send them again (at least once)",
                         "None": "The type's default"},
           "send_window": {"seed": "Mon–Sat 08:00–20:00 (seed)", "charter-2024": "08:00–22:00 (charter-2024)",
                           "charter-2026": "08:00–21:30 from 1 March 2026 (charter-2026)",
                           "None": "The account's window"}}


def json_schema() -> dict[str, Any]:
    """The spec's JSON schema, its fields in the order a person fills them (CAMP-2)."""
    return CampaignSpec.model_json_schema(by_alias=True)


def _inline(node: Any, definitions: dict) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(definitions[node["$ref"].rsplit("/", 1)[1]], definitions)
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def form_fields() -> dict[str, dict[str, Any]]:
    """The spec's JSON schema split into one schema per top-level field, `$ref`s inlined (the API's fields)."""
    schema = json_schema()
    definitions = schema.get("$defs", {})
    fields = {}
    for name, field_schema in schema["properties"].items():
        field_schema = _inline(field_schema, definitions)
        if "default" not in field_schema:  # required in the spec, optional in the form (spec_path)
            field_schema = {"anyOf": [field_schema, {"type": "null"}], "default": None,
                            "title": field_schema.get("title", name),
                            "description": field_schema.get("description", "")}
        fields[name] = field_schema
    return fields


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf [X, null]` (pydantic's `X | None`) as `type: [X, "null"]`: the Airflow form's validator shows a raw
    schema dump for a failed anyOf, and its widgets read the first type."""
    schema = dict(schema)
    options = schema.pop("anyOf", None)
    if options:
        (kept,) = [option for option in options if option != {"type": "null"}]
        schema = {**kept, **schema}
    kind = schema.get("type", "string")
    schema["type"] = [kind, "null"] if isinstance(kind, str) else [*kind, "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


def trigger_form() -> dict[str, dict[str, Any]]:
    """The Airflow trigger form's fields (dags/campaign_form.json, kept equal by a test), in FORM_ORDER.

    Each is a Param validated by its schema, so a bad value is refused before a run starts (CAMP-2); every one
    may be left empty when `spec_path` or `campaign_id` names the campaign instead (so none is required here:
    the spec's own validation names what is missing).
    """
    schema = json_schema()
    definitions = schema.get("$defs", {})
    spec_fields = {name: _inline(value, definitions) for name, value in schema["properties"].items()}

    def field(name: str) -> dict[str, Any]:
        if name == "saved_lists":
            return {"type": ["array", "null"], "items": {"type": "string", "pattern": r"^[^:]+(:[1-9][0-9]*)?$"},
                    "default": None, "title": "Saved lists",
                    "description": "Lists saved on the platform (smsflow lists list), one per line: NAME for its "
                                   "latest version, NAME:VERSION for one version, e.g. vip:2; read after the list "
                                   "files (LIST-4)."}
        if name == "track_links":
            return dict(TRACK_LINKS, section="Link tracking")
        if name in FLATTENED:
            parent, *children = FLATTENED[name]
            found = spec_fields[parent]
            for child in children:
                found = (found.get("properties", {}).get(child) or
                         next(option for option in found["anyOf"] if "properties" in option)["properties"][child])
            found = dict(found)
        else:
            found = dict(spec_fields[name])
        if name == "lists":  # files only; saved lists have their own field
            found.update(items={"type": "string"}, description="Contact list files in the bucket, one per line, "
                                                               "e.g. incoming/clients.csv (LIST-4).")
        if name in NARROWING or "default" not in found:
            found["default"] = None
        if name == "account":
            found["description"] += " Empty: the default account."
        if name == "preview_image":
            found["description"] = "A JPG or PNG file in the bucket, e.g. incoming/soldes.jpg, under 300 kB, " \
                                   "600×280 advised (URL-4)."
        if name in ("preview_title", "preview_description"):
            found["description"] = found["description"].replace("Required", "Required for a preview")
        if found["default"] is None or "anyOf" in found:
            found = _nullable(found)
        if found.get("type") in ("array", ["array", "null"], "object", ["object", "null"]) and "examples" in found:
            # Airflow shows an array with examples as a pick-list of them only: the example goes into the help.
            found["description"] += " For example: " + json.dumps(found.pop("examples")[0], ensure_ascii=False)
        if name in CHOICES:
            found["values_display"] = CHOICES[name]
        if name == "send_at":
            found["format"] = "date-time"
        for section, names in SECTIONS.items():
            if name in names:
                found["section"] = section
        return {key: found[key] for key in sorted(found, key=lambda key: (key not in ("title", "description"), key))}

    return {name: field(name) for name in FORM_ORDER}


def spec_from_form(conf: dict[str, Any]) -> dict[str, Any]:
    """The spec a trigger form's values make (CAMP-2): flattened fields back in their place, empty ones dropped.

    A flattened field left at the form's default leaves the spec's own value, so a conf written as the spec
    (`{"options": {"ucs2": true}}`, from the REST API) keeps working beside the form's fields. `spec_path` and
    `campaign_id` are the run's, not the spec's: they are left out.
    """
    form = trigger_form()
    spec: dict[str, Any] = {}
    for name, value in conf.items():
        flattened = name in FLATTENED and FLATTENED[name][0] != name
        if name in ("spec_path", "campaign_id", "saved_lists", "track_links") or value is None or flattened:
            continue
        spec[name] = value  # `account` too: the form's account name, or the spec's account object (the API's)
    if conf.get("track_links") and not spec.get("tracking"):
        spec["tracking"] = {}  # URL-1 with the defaults (the account's domain, 90 days, no preview)
    for name, (parent, *children) in FLATTENED.items():
        value = conf.get(name)
        if value is None or value == form[name].get("default") or parent == name or \
                (parent == "tracking" and value == ""):
            continue
        if name == "test_row" and not conf.get("test_numbers") and not (spec.get("test") or {}).get("numbers"):
            continue  # a test row without test numbers means nothing
        node, key = spec, parent
        for child in children:  # down to the field's parent object, made as needed (`tracking: true` is {})
            nested = node.get(key)
            if isinstance(nested, str) and key == "account":
                nested = {"id": nested}
            node[key] = nested = dict(nested) if isinstance(nested, dict) else {}
            node, key = nested, child
        node[key] = value
    saved = []
    for entry in conf.get("saved_lists") or []:
        match = SAVED_LIST.fullmatch(str(entry))
        if match is None:
            saved.append({"saved": str(entry)})  # refused by the spec's validation, naming it
        elif match["version"]:
            saved.append({"saved": match["name"], "version": int(match["version"])})
        else:
            saved.append({"saved": match["name"]})
    if saved:
        spec["lists"] = [*(spec.get("lists") or []), *saved]
    return spec
