"""The campaign spec (CAMP-1, CAMP-2): one pydantic model for the YAML file, the Airflow form and the API.

A bad spec is refused before anything is sent, with every problem at once, each naming the field, the value
and the SPEC rule it breaks. model: the fields; problems: Problem and SpecError; validate: the whole check;
locations: where lists are read; loader: the bounded YAML loader; form: the JSON schema and form fields.
"""

from pipelines.spec.form import form_fields, json_schema
from pipelines.spec.loader import MAX_ALIASES, MAX_NODES, MAX_SPEC_BYTES, load_spec
from pipelines.spec.locations import BUCKET_ENV, confine, resolve_location, spec_bucket
from pipelines.spec.model import (
    DEFAULT_TRACKING_DOMAIN, MAX_PARTS, PARIS, SHORT_CODE, SHORT_LINK_LENGTH, STOP_MENTION, Account, Blacklists,
    CampaignSpec, Contracts, Options, Preview, TestSend, Tracking, short_link_domain,
)
from pipelines.spec.problems import MAX_ECHO, MAX_PROBLEMS_SHOWN, RULES, Problem, SpecError, clip, echo, rule_for
from pipelines.spec.validate import SEND_AT_TOLERANCE, validate_spec

__all__ = [
    "BUCKET_ENV", "DEFAULT_TRACKING_DOMAIN", "short_link_domain", "SHORT_LINK_LENGTH", "Preview", "Tracking", "MAX_ALIASES", "MAX_ECHO", "MAX_NODES", "MAX_PARTS", "MAX_PROBLEMS_SHOWN", "MAX_SPEC_BYTES", "PARIS",
    "RULES", "SEND_AT_TOLERANCE", "SHORT_CODE", "STOP_MENTION", "Account", "Blacklists", "CampaignSpec", "Contracts",
    "Options", "Problem", "SpecError", "TestSend", "clip", "confine", "echo", "form_fields", "json_schema",
    "load_spec", "resolve_location", "rule_for", "spec_bucket", "validate_spec",
]
