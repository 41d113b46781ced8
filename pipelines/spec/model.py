"""The campaign spec's model (CAMP-1): one pydantic model for the YAML file, the Airflow form and the API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

SHORT_CODE = "36184"  # MSG-1 default sender, MSG-2 opt-out number
PARIS = ZoneInfo("Europe/Paris")
MAX_PARTS = 6  # ENC-5
STOP_MENTION = re.compile(r"\bSTOP\s+(?:au\s+)?36184\b", re.IGNORECASE)
_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
# URL-1, URL-5: a short link is the domain, "/", then a token of at least 8 characters: 19 characters in all.
SHORT_LINK_LENGTH = 19
MIN_TOKEN_LENGTH = 8
MAX_DOMAIN_LENGTH = SHORT_LINK_LENGTH - 1 - MIN_TOKEN_LENGTH
# The platform's short-link domain, for an account without its own (`smsflow account set --tracking-domain`) and a
# spec without `tracking.domain` (9 characters: tokens of 9).
DEFAULT_TRACKING_DOMAIN = "smsf.link"
PREVIEW_TITLE_LENGTH, PREVIEW_DESCRIPTION_LENGTH = 40, 80  # URL-4
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$")
_TEMPLATE_FIELD = re.compile(r"\$\{[^{}]*\}|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Options(_Strict):
    """Message options (ENC-2 … ENC-5, MSG-4)."""

    ucs2: bool = Field(False, title="Allow every character (UCS-2)",
                       description="Send accents and symbols outside the GSM alphabet as they are; one SMS then "
                                   "holds 70 characters instead of 160 (ENC-2).")
    emojis: bool = Field(False, title="Turn emoticons into emoji",
                         description="Turn text emoticons such as ;-) into emoji; needs UCS-2 (ENC-3).")
    replace_non_gsm7: bool = Field(True, title="Replace characters outside the GSM alphabet",
                                   description="Replace common characters the GSM alphabet lacks (ç → c, “ → \") "
                                               "so the message stays short (ENC-4).")
    max_parts: int = Field(MAX_PARTS, ge=1, le=MAX_PARTS, title="Maximum SMS parts per message",
                           description="A message longer than this many SMS parts (1 to 6) is not sent: status 7 "
                                       "(ENC-5).")
    allow_empty_fields: bool = Field(
        False, title="Send when a field is empty",
        description="Send to recipients whose ${Field} is empty and has no default; otherwise they are not sent: "
                    "status 5 (MSG-4).")
    in_flight: Literal["hold", "resend"] | None = Field(
        None, title="Messages in flight when a sender stopped",
        description="hold: never sent twice (at most once); resend: sent again (at least once); empty: hold for "
                    "marketing, resend for notifications (SEND-7).")
    holdout: float = Field(0, ge=0, lt=100, title="Holdout group (percent)",
                           description="Percent of the recipients kept unsent as a control group, to measure the "
                                       "campaign's uplift: status 41 (PLUS-7).")
    holdout_seed: str | None = Field(None, min_length=1, title="Holdout seed",
                                     description="Picks the holdout group: the same seed and list, the same "
                                                 "people; empty: the campaign name (PLUS-7).")


def fixed_text(template: str) -> str:
    """A personalisable text without its fields (`${Field}`, Jinja2 tags): what every rendering has at least."""
    return _TEMPLATE_FIELD.sub("", template)


class Preview(_Strict):
    """URL-4: the link preview a messaging app shows (OpenGraph), personalisable like the message."""

    title: str = Field(min_length=1, title="Preview title", examples=["${Prénom}, vos soldes VIP"],
                       description="Required, at most 40 characters once personalised (URL-4).")
    description: str = Field(min_length=1, title="Preview description",
                             description="Required, at most 80 characters once personalised (URL-4).")
    image: str | None = Field(None, title="Preview image",
                              description="A JPG or PNG file (path relative to the spec), under 300 kB, 600×280 "
                                          "advised (URL-4).")

    @field_validator("title", "description")
    @classmethod
    def _short(cls, value: str, info) -> str:
        limit = PREVIEW_TITLE_LENGTH if info.field_name == "title" else PREVIEW_DESCRIPTION_LENGTH
        fixed = fixed_text(value)
        if len(fixed) > limit:
            raise ValueError(f"is {len(fixed)} characters without its fields; a preview {info.field_name} has at "
                             f"most {limit}")
        return value


def short_link_domain(value: str | None) -> str | None:
    """A short-link domain as kept (lower case, no scheme, no slash), or None for empty; a ValueError says why a
    value cannot be one (URL-1, URL-5). The spec's `tracking.domain` and the account's tracking domain."""
    if value is None or value == "":
        return None
    domain = value.lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not _DOMAIN.fullmatch(domain):
        raise ValueError("is not a domain name (letters, digits, dots and dashes, e.g. sms.ex.fr)")
    if len(domain) > MAX_DOMAIN_LENGTH:
        left = SHORT_LINK_LENGTH - 1 - len(domain)
        raise ValueError(f"is {len(domain)} characters: a short link is {SHORT_LINK_LENGTH} characters, "
                         f"domain + '/' + token, which leaves {max(left, 0)} token characters; tokens need at "
                         f"least {MIN_TOKEN_LENGTH} (URL-5): at most {MAX_DOMAIN_LENGTH} characters")
    return domain


class Tracking(_Strict):
    """URL-1…5: every URL of the message sent as a short link of 19 characters, unique per recipient and link."""

    domain: str | None = Field(None, title="Short-link domain", examples=["sms.ex.fr"],
                               description="The domain of the short links (at most 10 characters: the token fills "
                                           f"the rest of 19); empty: the account's, else {DEFAULT_TRACKING_DOMAIN} (URL-1, URL-5).")
    lifetime_days: int = Field(90, ge=1, le=3650, title="Link lifetime (days)",
                               description="Links stop redirecting this many days after the plan (URL-3).")
    preview: Preview | None = Field(None, title="Link preview",
                                    description="What a messaging app shows for the link: a title, a description "
                                                "and an image (URL-4).")

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        return short_link_domain(value)

    @property
    def domain_or_default(self) -> str:
        return self.domain or DEFAULT_TRACKING_DOMAIN

    @property
    def token_length(self) -> int:
        return SHORT_LINK_LENGTH - 1 - len(self.domain_or_default)


class Blacklists(_Strict):
    """Deprecated: blacklist files named by the spec (BL-1). The account's blacklists live in the account store
    (`smsflow blacklist import`); files named here are still read, with a deprecation note."""

    own: str | None = Field(None, description="Deprecated: a blacklist file (status 14); use the store.")
    global_: str | None = Field(None, alias="global", description="Deprecated: a blacklist file (status 15).")
    client: str | None = Field(None, description="Deprecated: a blacklist file (status 18).")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Account(_Strict):
    """The sending account (ACC-1), by name, and what this campaign narrows of its settings (ACC-2: fewer
    countries, fewer parts, a narrower window, a credit budget; never more than the account allows).

    In the spec, `account: acme` is the same as `account: {id: acme}`. Until the account store fills them in
    (`pipelines.account.prepare_account`), unset fields hold the platform's defaults.
    """

    id: str = Field("default", min_length=1, title="Account",
                    description="The sending account, whose credits, blacklists and settings are used (ACC-1).")
    allowed_countries: list[str] = Field(default_factory=lambda: ["FR"], title="Countries",
                                         description="Send only to these destination countries, as ISO codes "
                                                     "such as FR; within the account's own (NUM-2, ACC-2).")
    blacklists: Blacklists = Field(default_factory=Blacklists, title="Blacklist files (deprecated)")
    credits: int | None = Field(None, ge=0, title="Credit budget",
                                description="At most this many credits for this campaign, within the account's "
                                            "balance; empty: the balance (SEND-5, ACC-2).")
    max_parts: int = Field(MAX_PARTS, ge=1, le=MAX_PARTS, title="Maximum SMS parts (account)",
                           description="Fewer SMS parts per message than the account allows (ENC-5, ACC-2).")
    send_window: Literal["seed", "charter-2024", "charter-2026"] = Field(
        "seed", title="Send window",
        description="When marketing messages may go out, in each recipient's own time, never on public "
                    "holidays: seed (Mon–Sat 08:00–20:00), charter-2024 (08:00–22:00), charter-2026 "
                    "(08:00–21:30 from 1 March 2026); within the account's own (SEND-2, ACC-2).")

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

    max_invalid_share: float = Field(0.2, ge=0, le=1, title="Largest share of invalid numbers",
                                     description="The run stops before sending when more than this share of the "
                                                 "numbers is invalid: 0.2 = 20 % (PLUS-3).")


def _split_numbers(numbers: str) -> list[str]:
    """Test numbers as given: separated by ',' or ';', blanks dropped."""
    return [part.strip() for part in re.split(r"[;,]", numbers) if part.strip()]


class TestSend(_Strict):
    """SEND-3: numbers that receive the test, personalised with one row of the lists."""

    numbers: str = Field(title="Test numbers", examples=["0612345678, 0698765432"],
                         description="Mobiles that receive the personalised message before the real send, "
                                     "separated by commas or semicolons (SEND-3).")
    row: int = Field(1, ge=1, title="Test row",
                     description="Which recipient personalises the test: 1 = the first row of the lists (SEND-3).")

    @property
    def number_list(self) -> list[str]:
        return _split_numbers(self.numbers)

    @field_validator("numbers")
    @classmethod
    def _valid_mobiles(cls, value: str) -> str:
        from pipelines.numbers import reference_verdict

        numbers = _split_numbers(value)
        if not numbers:
            raise ValueError("at least one test number is required")
        bad = [number for number in numbers if not reference_verdict(number).valid]
        if bad:
            raise ValueError(f"not a valid mobile number: {', '.join(bad)}")
        return value


class SavedListRef(_Strict):
    """A list saved on the platform under a name (LIST-4): its latest version, or the one named."""

    saved: str = Field(min_length=1, max_length=128, description="The saved list's name (smsflow lists list).")
    version: int | None = Field(None, ge=1, description="The version to use; none = the latest when planned.")


# LIST-4: a text is a list file, a mapping a saved list; a problem is reported on the one the entry is.
LIST_FILE, SAVED_LIST = "list file", "saved list"
ListEntry = Annotated[
    Annotated[str, Tag(LIST_FILE)] | Annotated[SavedListRef, Tag(SAVED_LIST)],
    Discriminator(lambda value: SAVED_LIST if isinstance(value, (dict, SavedListRef)) else
                  LIST_FILE if isinstance(value, str) else None, custom_error_type="list_entry",
                  custom_error_message="a list is a file path or a saved list ({saved: NAME, version: N})"),
]


class CampaignSpec(_Strict):
    """A campaign: what to send, to whom, when (CAMP-1)."""

    # The order a person fills a campaign in: the trigger form and the JSON schema keep it (CAMP-2).
    name: str = Field(min_length=1, max_length=200, title="Campaign name", examples=["Soldes VIP juin"],
                      description="What the campaign is called in the approval, the reports and `smsflow "
                                  "campaigns` (CAMP-1).")
    type: Literal["marketing", "notification"] = Field(
        "marketing", title="Type",
        description="marketing: sent only in the legal window (Mon–Sat 08:00–20:00 in each recipient's own "
                    "time) and must mention STOP 36184; notification: transactional, sent at any hour (SEND-2, "
                    "MSG-2).")
    lists: list[ListEntry] = Field(
        default_factory=list, title="Contact lists",
        description="Contact list files (paths relative to the spec file, or file:// URIs) and lists saved on the "
                    "platform ({saved: NAME} or {saved: NAME, version: N}) (LIST-4).")
    message: str = Field(min_length=1, title="Message", examples=["Bonjour ${Prénom}, -20 % ce week-end. STOP 36184"],
                         description="The text sent; ${Field} inserts a column of the lists, Jinja2 is accepted too. "
                                     "A marketing message must mention STOP 36184 (MSG-2, MSG-3, MSG-5).")
    sender: str | None = Field(None, title="Sender", examples=["MaBoutique"],
                               description="The name shown on the phone: at most 11 ASCII letters, digits or "
                                           "spaces; empty: the short code 36184 (MSG-1).")
    send_at: datetime | None = Field(None, title="Send time",
                                     description="When to send, in Paris time unless it has an offset; empty: as "
                                                 "soon as approved. Marketing still waits for the send window "
                                                 "(SEND-1, SEND-2).")
    test: TestSend | None = Field(None, title="Test send",
                                  description="Numbers that receive the personalised message before the real "
                                              "send (SEND-3).")
    billing_code: str | None = Field(None, title="Billing code",
                                     description="Your own reference, carried into the reports.")
    description: str | None = Field(None, title="Description", description="A note for colleagues, shown on "
                                                                            "the reports.")
    recipients: list[dict[str, Any]] = Field(
        default_factory=list, title="Extra recipients", examples=[[{"mobile": "0611223344", "Prénom": "Ann"}]],
        description="Recipients typed in rather than in a list file, each a mobile plus any fields (LIST-5).")
    defaults: dict[str, str] = Field(default_factory=dict, title="Default field values",
                                     examples=[{"Prénom": "client"}],
                                     description="The value used when a recipient's field is empty (MSG-4).")
    options: Options = Field(default_factory=Options, title="Message options")
    account: Account = Field(default_factory=Account, title="Account",
                             description="The sending account (ACC-1): its name, or its name and what this "
                                         "campaign narrows of its settings (ACC-2).")
    contracts: Contracts = Field(default_factory=Contracts, title="Data contracts")
    approval: Literal["manual", "auto"] = Field(
        "manual", title="Approval",
        description="manual: a person approves the test on the run page; auto: sent without a person, for "
                    "scheduled automation, recorded in the audit (SEND-3).")
    tracking: Tracking | None = Field(
        None, title="Link tracking",
        description="Send every URL of the message as a short link per recipient, count clicks and previews "
                    "(URL-1…5); true for the defaults; empty: links go out as written.")
    media: Literal["sms"] = "sms"

    @field_validator("tracking", mode="before")
    @classmethod
    def _tracking_switch(cls, value: Any) -> Any:
        return {} if value is True else None if value is False else value

    @field_validator("account", mode="before")
    @classmethod
    def _account_by_name(cls, value: Any) -> Any:
        return {"id": value} if isinstance(value, str) else value

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
