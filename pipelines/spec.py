"""The campaign spec (CAMP-1, CAMP-2): one pydantic model for the YAML file, the Airflow form and the API.

A bad spec is refused before anything is sent, with every problem at once, each naming the field, the value
and the SPEC rule it breaks.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SHORT_CODE = "36184"  # MSG-1 default sender, MSG-2 opt-out number
PARIS = ZoneInfo("Europe/Paris")
MAX_PARTS = 6  # ENC-5
STOP_MENTION = re.compile(r"\bSTOP\s+(?:au\s+)?36184\b", re.IGNORECASE)
_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
MAX_SPEC_BYTES = 2_000_000  # a spec with thousands of manual recipients fits; a runaway file is refused unread
MAX_ALIASES = 50  # YAML aliases (*name) in one spec: a few reuse a value, a "billion laughs" needs many levels
MAX_NODES = 1_000_000  # YAML values once aliases are expanded
MAX_ECHO = 80  # characters of a value echoed in an error
SEND_AT_TOLERANCE = timedelta(minutes=1)  # SEND-1: a send time this close behind "now" still means "now"
MAX_PROBLEMS_SHOWN = 50  # problems listed in a refusal's text (all stay in SpecError.problems)

# The rule each field answers to, for error messages (longest matching path wins).
RULES = {
    "name": "CAMP-1", "type": "CAMP-1", "billing_code": "CAMP-1", "description": "CAMP-1", "media": "CAMP-1",
    "lists": "LIST-4", "recipients": "LIST-5", "sender": "MSG-1", "message": "MSG-2", "defaults": "MSG-4",
    "options": "ENC-5", "options.ucs2": "ENC-2", "options.emojis": "ENC-3", "options.replace_non_gsm7": "ENC-4",
    "options.max_parts": "ENC-5", "options.allow_empty_fields": "MSG-4",
    "account": "NUM-2", "account.allowed_countries": "NUM-2", "account.blacklists": "BL-1",
    "account.credits": "SEND-5", "account.max_parts": "ENC-5", "account.send_window": "SEND-2",
    "send_at": "SEND-1", "test": "SEND-3", "approval": "SEND-3", "contracts": "PLUS-3",
}


def rule_for(path: str) -> str:
    parts = path.split(".")
    for size in range(len(parts), 0, -1):
        rule = RULES.get(".".join(parts[:size]))
        if rule:
            return rule
    return "CAMP-2"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Options(_Strict):
    """Message options (ENC-2 … ENC-5, MSG-4)."""

    ucs2: bool = Field(False, description="Allow every character (UCS2: 70 characters per SMS, 67 per part). ENC-2")
    emojis: bool = Field(False, description="Turn text emoticons such as ;-) into emoji (needs ucs2). ENC-3")
    replace_non_gsm7: bool = Field(True, description="Replace common non-GSM7 characters (ç→c, “→\"). ENC-4")
    max_parts: int = Field(MAX_PARTS, ge=1, le=MAX_PARTS, description="Maximum SMS parts per message. ENC-5")
    allow_empty_fields: bool = Field(
        False, description="Send rows whose ${Field} is empty with no default, instead of status 5. MSG-4")
    in_flight: Literal["hold", "resend"] | None = Field(
        None, description="Parts in flight when a sender stopped: hold (at most once) or resend (at least once); "
                          "default hold for marketing, resend for notifications. SEND-7")


class Blacklists(_Strict):
    """Files of numbers never to send to (BL-1)."""

    own: str | None = Field(None, description="The account's own blacklist (status 14).")
    global_: str | None = Field(None, alias="global", description="The platform's global blacklist (status 15).")
    client: str | None = Field(None, description="The account's client's blacklist (status 18).")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Account(_Strict):
    """What the sending account allows (NUM-2, BL-1, SEND-5, ENC-5)."""

    id: str = Field("default", min_length=1, description="The account whose credits and blacklist are used.")
    allowed_countries: list[str] = Field(default_factory=lambda: ["FR"],
                                         description="ISO regions the account may send to. NUM-2")
    blacklists: Blacklists = Field(default_factory=Blacklists)
    credits: int | None = Field(None, ge=0, description="Credit balance available; none = unlimited. SEND-5")
    max_parts: int = Field(MAX_PARTS, ge=1, le=MAX_PARTS, description="The account's maximum parts. ENC-5")
    send_window: Literal["seed", "charter-2024", "charter-2026"] = Field(
        "seed", description="Legal send window for marketing: seed (Mon-Sat 08:00-20:00), charter-2024 "
                            "(08:00-22:00), charter-2026 (08:00-21:30 from 2026-03-01); never on holidays. SEND-2")

    @field_validator("allowed_countries")
    @classmethod
    def _known_regions(cls, value: list[str]) -> list[str]:
        import phonenumbers

        regions = phonenumbers.SUPPORTED_REGIONS
        unknown = [code for code in value if code.upper() not in regions]
        if unknown:
            raise ValueError(f"unknown ISO region code(s) {', '.join(unknown)}")
        return [code.upper() for code in value]


class Contracts(_Strict):
    """PLUS-3: what the plan must satisfy before anything is sent."""

    max_invalid_share: float = Field(0.2, ge=0, le=1, description="Largest share of invalid numbers accepted.")


class TestSend(_Strict):
    """SEND-3: numbers that receive the test, personalised with one row of the lists."""

    numbers: str = Field(description="Test numbers separated by ',' or ';'.")
    row: int = Field(1, ge=1, description="Row (1-based, across the lists in order) used to personalise the test.")

    @property
    def number_list(self) -> list[str]:
        return [part.strip() for part in re.split(r"[;,]", self.numbers) if part.strip()]

    @field_validator("numbers")
    @classmethod
    def _valid_mobiles(cls, value: str) -> str:
        from pipelines.numbers import reference_verdict

        numbers = [part.strip() for part in re.split(r"[;,]", value) if part.strip()]
        if not numbers:
            raise ValueError("at least one test number is required")
        bad = [number for number in numbers if not reference_verdict(number).valid]
        if bad:
            raise ValueError(f"not a valid mobile number: {', '.join(bad)}")
        return value


class CampaignSpec(_Strict):
    """A campaign: what to send, to whom, when (CAMP-1)."""

    name: str = Field(min_length=1, max_length=200, description="Campaign name. CAMP-1")
    type: Literal["marketing", "notification"] = Field(
        "marketing", description="marketing (legal window, STOP mention) or notification (transactional).")
    billing_code: str | None = Field(None, description="Carried into reports.")
    description: str | None = Field(None, description="Shown on reports.")
    media: Literal["sms"] = "sms"
    lists: list[str] = Field(default_factory=list,
                             description="Contact list files: paths relative to the spec, absolute, or file:// URIs.")
    recipients: list[dict[str, Any]] = Field(
        default_factory=list, description="Manual entries: a mobile plus any fields. LIST-5")
    sender: str | None = Field(None, description="Alphanumeric sender (≤ 11 ASCII letters, digits, spaces); "
                                                 "empty = short code 36184. MSG-1")
    message: str = Field(min_length=1, description="The message; ${Field} or Jinja2 personalisation. MSG-2/3/5")
    defaults: dict[str, str] = Field(default_factory=dict, description="Default value per empty field. MSG-4")
    options: Options = Field(default_factory=Options)
    account: Account = Field(default_factory=Account)
    send_at: datetime | None = Field(None, description="null = immediate; else an ISO date-time (Europe/Paris "
                                                       "when it has no offset). SEND-1")
    test: TestSend | None = None
    approval: Literal["manual", "auto"] = Field(
        "manual", description="manual: a person approves the test in Airflow; auto: scheduled automation "
                              "(recorded in the audit). SEND-3")
    contracts: Contracts = Field(default_factory=Contracts)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _SENDER.fullmatch(value):
            raise ValueError("a sender has at most 11 characters, ASCII letters, digits and spaces only "
                             "(no accents or special characters)")
        if value.replace(" ", "").isdigit():
            raise ValueError("a sender must not be a phone number (all digits); leave it empty for 36184")
        return value

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        missing = [index for index, entry in enumerate(value, start=1) if not str(entry.get("mobile") or "").strip()]
        if missing:
            raise ValueError(f"entries {', '.join(map(str, missing))} have no 'mobile'")
        return value

    @field_validator("defaults", mode="before")
    @classmethod
    def _defaults_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(key): "" if item is None else str(item) for key, item in value.items()}
        return value

    @field_validator("send_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=PARIS)
        return value

    @property
    def sender_or_default(self) -> str:
        return self.sender or SHORT_CODE

    @property
    def max_parts(self) -> int:
        return min(self.options.max_parts, self.account.max_parts)


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """Text echoed in an error, cut to `limit` characters: a refusal never prints a huge value."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


_ECHO = reprlib.Repr()
_ECHO.maxlevel, _ECHO.maxstring, _ECHO.maxother = 3, MAX_ECHO, MAX_ECHO
_ECHO.maxdict = _ECHO.maxlist = _ECHO.maxtuple = _ECHO.maxset = 6


def echo(value: Any) -> Any:
    """A value as kept in a Problem: small values as they are, long texts clipped, big structures summarised."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return clip(value)
    summary = _ECHO.repr(value)  # bounded, whatever the size or recursion of `value`
    return value if len(summary) <= MAX_ECHO and "..." not in summary else clip(summary)


class Problem(BaseModel):
    field: str
    value: Any = None
    rule: str
    message: str

    @field_validator("value", mode="before")
    @classmethod
    def _echoed(cls, value: Any) -> Any:
        return echo(value)

    @field_validator("message", mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return clip(value, 400) if isinstance(value, str) else value

    def __str__(self) -> str:
        return f"{self.field}={clip(repr(self.value), MAX_ECHO + 30)}: {self.message} [{self.rule}]"


class SpecError(ValueError):
    """Every problem of a refused spec (CAMP-2)."""

    def __init__(self, problems: list[Problem], source: str = "spec"):
        self.problems, self.source = problems, source
        lines = "\n".join(f"  - {problem}" for problem in problems[:MAX_PROBLEMS_SHOWN])
        if len(problems) > MAX_PROBLEMS_SHOWN:
            lines += f"\n  … and {len(problems) - MAX_PROBLEMS_SHOWN:,} more"
        super().__init__(f"{source}: the campaign spec is refused ({len(problems)} problem(s)):\n{lines}")


def _cross_field_problems(raw: dict[str, Any]) -> list[Problem]:
    """Rules that tie fields together, checked on the raw input so they show even when other fields fail."""
    problems = []
    message = raw.get("message")
    if raw.get("type", "marketing") == "marketing" and isinstance(message, str) and not STOP_MENTION.search(message):
        problems.append(Problem(field="message", value=message, rule="MSG-2",
                                message="a marketing message must contain the opt-out mention 'STOP 36184'"))
    options = raw.get("options") if isinstance(raw.get("options"), dict) else {}
    if options.get("emojis") is True and options.get("ucs2") is not True:
        problems.append(Problem(field="options.emojis", value=True, rule="ENC-3",
                                message="emojis need the UCS2 option (options.ucs2: true)"))
    account = raw.get("account") if isinstance(raw.get("account"), dict) else {}
    if raw.get("type", "marketing") == "marketing" and raw.get("send_at"):
        problems.extend(_window_problems(raw["send_at"], account.get("send_window", "seed")))
    if not raw.get("lists") and not raw.get("recipients"):
        problems.append(Problem(field="lists", value=raw.get("lists"), rule="LIST-4",
                                message="a campaign needs at least one list or one manual recipient"))
    return problems


def _moment(value: Any) -> datetime | None:
    """A send time as the spec gives it, aware (Europe/Paris when it has no offset); None when malformed."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return None  # the field checks report a malformed date
    return moment.replace(tzinfo=PARIS) if moment.tzinfo is None else moment


def _past_problems(send_at: Any, now: datetime) -> list[Problem]:
    """SEND-1: a send time already gone (beyond SEND_AT_TOLERANCE) when the spec is submitted at `now`."""
    moment = _moment(send_at)
    now = now.replace(tzinfo=PARIS) if now.tzinfo is None else now
    if moment is None or moment >= now - SEND_AT_TOLERANCE:
        return []
    return [Problem(field="send_at", value=str(send_at), rule="SEND-1",
                    message=f"the send time is in the past (now is {now.astimezone(PARIS):%d/%m/%Y %H:%M} "
                            "Europe/Paris); give a later time, or none to send at once")]


def _window_problems(send_at: Any, window: Any) -> list[Problem]:
    """SEND-2: a marketing send scheduled outside the legal window, with the next allowed time."""
    from pipelines.window import WindowError, check_send_at, policy

    moment = _moment(send_at)
    try:
        rules = policy(str(window))
    except ValueError:
        return []  # the field checks report an unknown policy
    if moment is None:
        return []
    try:
        check_send_at(rules, moment)
    except WindowError as error:
        return [Problem(field="send_at", value=str(send_at), rule="SEND-2", message=str(error).rsplit(" [", 1)[0])]
    return []


def _location_problems(raw: dict[str, Any], base: Path, roots: Sequence[Path]) -> list[Problem]:
    """Every list and blacklist location that does not resolve inside one of `roots`; no file is opened."""
    locations = [("lists", item) for item in raw.get("lists") or [] if isinstance(item, str)] \
        if isinstance(raw.get("lists"), list) else []
    account = raw.get("account") if isinstance(raw.get("account"), dict) else {}
    blacklists = account.get("blacklists") if isinstance(account.get("blacklists"), dict) else {}
    locations += [(f"account.blacklists.{kind}", item) for kind, item in blacklists.items() if isinstance(item, str)]
    problems = []
    for field_path, location in locations:
        try:
            confine(location, base, roots, field_path)
        except SpecError as error:
            problems.extend(error.problems)
    return problems


def confine(location: str, base: Path, roots: Sequence[Path], field_path: str = "lists") -> Path:
    """The real path of a list or blacklist location, refused unless it resolves (symlinks and `..` followed)
    inside one of `roots`, the folders the account may read (LIST-4, BL-1). Never opens the file."""
    path = resolve_location(location, base, field_path).resolve()
    if not any(path.is_relative_to(Path(root).resolve()) for root in roots):
        raise SpecError([Problem(field=field_path, value=location, rule=rule_for(field_path),
                                 message="is outside the folders this account may read (its bucket): "
                                         "lists and blacklists must be in them")])
    return path


def validate_spec(raw: Any, source: str = "spec", *, now: datetime | None = None,
                  roots: Sequence[Path] | None = None, base: Path | None = None) -> CampaignSpec:
    """The spec, or a SpecError listing every problem (field, value, rule).

    `now`: the submission time; a `send_at` before it is refused (SEND-1). Leave it None when re-reading a
    spec accepted earlier, whose send time may since have passed. `roots`: when given, every list and
    blacklist must resolve inside one of them (paths relative to `base`, by default the first root).
    """
    if not isinstance(raw, dict):
        raise SpecError([Problem(field="(spec)", rule="CAMP-2",  # the content is not echoed: it may be any file
                                 message=f"a campaign spec is a mapping of fields, not a {type(raw).__name__}")],
                        source)
    problems = _cross_field_problems(raw)
    if now is not None and raw.get("send_at"):
        problems.extend(_past_problems(raw["send_at"], now))
    if roots is not None:
        problems.extend(_location_problems(raw, Path(base) if base else Path(roots[0]) if roots else Path.cwd(),
                                           roots))
    spec = None
    try:
        spec = CampaignSpec.model_validate(raw)
    except ValidationError as error:
        for item in error.errors():
            path = ".".join(str(part) for part in item["loc"] if not isinstance(part, int)) or "(spec)"
            path = path.replace("global_", "global")
            message = item["msg"].removeprefix("Value error, ")
            value = item.get("input")
            if item["type"] == "extra_forbidden":
                message = "unknown field"
            elif item["type"] == "missing":
                value = None
            problems.append(Problem(field=path, value=value, rule=rule_for(path), message=message))
    if problems:
        raise SpecError(problems, source)
    assert spec is not None
    return spec


class _SpecLoader(yaml.SafeLoader):
    """Safe YAML with a budget of aliases, so a "billion laughs" spec is refused before it is expanded."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(None, None, f"more than {MAX_ALIASES} aliases (*name)",
                                                  self.peek_event().start_mark)
        return super().compose_node(parent, index)


def _expanded_size(root: yaml.Node) -> int:
    """How many values the document holds once every alias is expanded; a recursive alias is refused."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise yaml.composer.ComposerError(None, None, "a recursive alias (a value that contains itself)",
                                              node.start_mark)
        open_nodes.add(key)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(key_node) + size(value) for key_node, value in node.value)
        else:
            total = 1
        open_nodes.discard(key)
        sizes[key] = min(total, MAX_NODES + 1)
        if total > MAX_NODES:
            raise yaml.composer.ComposerError(None, None, f"more than {MAX_NODES:,} values once aliases are "
                                                          "expanded", node.start_mark)
        return sizes[key]

    return size(root)


def _parse_yaml(text: str) -> Any:
    loader = _SpecLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if loader.aliases:
            _expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_spec(path: Path, *, now: datetime | None = None, roots: Sequence[Path] | None = None) -> CampaignSpec:
    """Read and validate a YAML spec file (at most MAX_SPEC_BYTES, aliases within budget).

    `now` and `roots` as for `validate_spec`; with `roots`, the spec file itself must be inside one of them
    (it is not opened otherwise), and its lists are relative to its folder.
    """
    def refused(message: str) -> SpecError:
        return SpecError([Problem(field="(file)", value=str(path), rule="CAMP-2", message=message)], str(path))

    if roots is not None and not any(Path(path).resolve().is_relative_to(Path(root).resolve()) for root in roots):
        raise refused("the spec file is outside the folders this account may read (its bucket)")
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise refused("spec file not found") from None
    except OSError as error:
        raise refused(f"cannot read the spec file: {error.strerror or type(error).__name__}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise refused(f"the spec file is larger than {MAX_SPEC_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise refused(f"not UTF-8 text (byte {error.start + 1})") from None
    try:
        raw = _parse_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise refused(f"not valid YAML{where}: {clip(str(getattr(error, 'problem', None) or error))}") from None
    except RecursionError:
        raise refused("not valid YAML: nested too deeply") from None
    return validate_spec(raw, str(path), now=now, roots=roots, base=Path(path).resolve().parent)


def resolve_location(location: str, base: Path, field_path: str = "lists") -> Path:
    """A list or blacklist location from the spec: relative to the spec's folder, absolute, or file:// URI."""
    if "://" in location:
        scheme, _, rest = location.partition("://")
        if scheme != "file":
            raise SpecError([Problem(field=field_path, value=location, rule="LIST-1",
                                     message=f"the {scheme}:// scheme is not supported yet; use a path or file://")])
        return Path(rest)
    path = Path(location).expanduser()
    return path if path.is_absolute() else base / path


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
