"""A drop's spec (DROP-1): the rule's template (a spec file in the bucket, or a saved draft) with the dropped file as
its only list, the rule's account and mode, checked as the run will check it."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import yaml

from pipelines import storage
from pipelines.drops.checks import DropRefused
from pipelines.storage import Location
from pipelines.store.drops import DropRule


# --- The template ------------------------------------------------------------------------------------------------
def template_spec(bucket: Location, rule: DropRule, engine) -> tuple[dict, Location]:
    """The rule's template as spec data, and the folder its relative paths start from."""
    if rule.template_kind == "campaign":
        from pipelines.store import campaigns

        try:
            campaign = campaigns.get(engine, rule.template, rule.account_id)
        except campaigns.CampaignError as error:  # the draft was deleted since the rule was made
            raise DropRefused("template", f"the rule's draft {rule.template} cannot be used: {error}",
                              "DROP-1") from None
        return yaml.safe_load(campaign.spec), bucket
    where = bucket / rule.template
    try:
        data = yaml.safe_load(storage.read_bytes(where).decode("utf-8-sig"))
    except FileNotFoundError:
        raise DropRefused("template", f"the rule's spec {rule.template} is not in the bucket", "DROP-1") from None
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise DropRefused("template", f"the rule's spec {rule.template} is not a YAML spec: {error}", "CAMP-2") \
            from None
    if not isinstance(data, dict):
        raise DropRefused("template", f"the rule's spec {rule.template} is not a mapping of fields", "CAMP-2")
    return data, where.parent


def drop_spec(template: dict, base: Location, rule: DropRule, list_name: str, file_name: str) -> dict:
    """The template's spec for this drop: the dropped file as its only list (beside the spec), the rule's account
    and mode, the template's other relative files (blacklists, preview image) made absolute from its folder."""
    from pipelines.spec import resolve_location

    data = copy.deepcopy(template)
    given = data.get("account") or {}
    account = {"id": given} if isinstance(given, str) else dict(given)
    if account.get("id") not in (None, "default", rule.account_id):
        raise DropRefused("template", f"the template names account {account['id']!r} but rule {rule.id} belongs "
                                      f"to account {rule.account_id!r}", "ACC-3")
    account["id"] = rule.account_id
    for kind, location in list((account.get("blacklists") or {}).items()):
        if isinstance(location, str):
            account["blacklists"][kind] = str(resolve_location(location, base, "account.blacklists"))
    data["account"] = account
    preview = (data.get("tracking") or {}).get("preview") if isinstance(data.get("tracking"), dict) else None
    if isinstance(preview, dict) and isinstance(preview.get("image"), str):
        preview["image"] = str(resolve_location(preview["image"], base, "tracking.preview.image"))
    data["lists"] = [list_name]
    data["approval"] = "auto" if rule.mode == "auto" else "manual"
    data["name"] = f"{data.get('name') or 'Drop'} ({file_name})"[:200]  # CAMP-1: at most 200 characters
    return data


def _validated(data: dict, bucket: Location, spec_key: str) -> None:
    """The drop's spec checked as the run will check it (CAMP-2), its list aside (moved there last)."""
    from pipelines.spec import SpecError, validate_spec

    try:
        validate_spec(data, spec_key, now=datetime.now(timezone.utc), roots=[bucket],
                      base=(bucket / spec_key).parent, check_files=False)
    except SpecError as error:
        raise DropRefused("template", f"the template makes no valid campaign: {error}", "CAMP-2") from None
