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
    holdout: float = Field(0, ge=0, lt=100, description="Percent of sendable rows kept unsent as a holdout group "
                                                        "(status 41), to measure uplift. PLUS-7")
    holdout_seed: str | None = Field(None, min_length=1, description="Picks the holdout group: the same seed "
                                                                     "and number, the same choice; default the "
                                                                     "campaign name. PLUS-7")


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

    id: str = Field("default", min_length=1, description="The account whose settings, credits and blacklists "
                                                         "are used. ACC-1")
    allowed_countries: list[str] = Field(default_factory=lambda: ["FR"],
                                         description="Narrows the account's destination countries (ISO "
                                                     "regions). NUM-2, ACC-2")
    blacklists: Blacklists = Field(default_factory=Blacklists)
    credits: int | None = Field(None, ge=0, description="A credit budget for this campaign, within the account's "
                                                        "balance; none = the balance. SEND-5, ACC-2")
    max_parts: int = Field(MAX_PARTS, ge=1, le=MAX_PARTS, description="Narrows the account's maximum parts. "
                                                                    "ENC-5, ACC-2")
    send_window: Literal["seed", "charter-2024", "charter-2026"] = Field(
        "seed", description="Narrows the account's legal send window for marketing: seed (Mon-Sat "
                            "08:00-20:00), charter-2024 (08:00-22:00), charter-2026 (08:00-21:30 from "
                            "2026-03-01); never on holidays. SEND-2, ACC-2")

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


def _split_numbers(numbers: str) -> list[str]:
    """Test numbers as given: separated by ',' or ';', blanks dropped."""
    return [part.strip() for part in re.split(r"[;,]", numbers) if part.strip()]


class TestSend(_Strict):
    """SEND-3: numbers that receive the test, personalised with one row of the lists."""

    numbers: str = Field(description="Test numbers separated by ',' or ';'.")
    row: int = Field(1, ge=1, description="Row (1-based, across the lists in order) used to personalise the test.")

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

    name: str = Field(min_length=1, max_length=200, description="Campaign name. CAMP-1")
    type: Literal["marketing", "notification"] = Field(
        "marketing", description="marketing (legal window, STOP mention) or notification (transactional).")
    billing_code: str | None = Field(None, description="Carried into reports.")
    description: str | None = Field(None, description="Shown on reports.")
    media: Literal["sms"] = "sms"
    lists: list[ListEntry] = Field(
        default_factory=list, description="Contact lists: files (paths relative to the spec, absolute, or file:// "
                                          "URIs) and saved lists ({saved: NAME} or {saved: NAME, version: N}). "
                                          "LIST-4")
    recipients: list[dict[str, Any]] = Field(
        default_factory=list, description="Manual entries: a mobile plus any fields. LIST-5")
    sender: str | None = Field(None, description="Alphanumeric sender (≤ 11 ASCII letters, digits, spaces); "
                                                 "empty = short code 36184. MSG-1")
    message: str = Field(min_length=1, description="The message; ${Field} or Jinja2 personalisation. MSG-2/3/5")
    defaults: dict[str, str] = Field(default_factory=dict, description="Default value per empty field. MSG-4")
    options: Options = Field(default_factory=Options)
    account: Account = Field(default_factory=Account, description="The account (ACC-1): its id, or its id and "
                                                                  "what this campaign narrows (ACC-2).")
    send_at: datetime | None = Field(None, description="null = immediate; else an ISO date-time (Europe/Paris "
                                                       "when it has no offset). SEND-1")
    test: TestSend | None = None
    approval: Literal["manual", "auto"] = Field(
        "manual", description="manual: a person approves the test in Airflow; auto: scheduled automation "
                              "(recorded in the audit). SEND-3")
    contracts: Contracts = Field(default_factory=Contracts)

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
