"""A refused spec's problems (CAMP-2): each names the field, the value (clipped) and the SPEC rule it breaks."""

from __future__ import annotations

import reprlib
from typing import Any

from pydantic import BaseModel, field_validator

MAX_ECHO = 80  # characters of a value echoed in an error
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
    "tracking": "URL-1", "tracking.domain": "URL-5", "tracking.lifetime_days": "URL-3", "tracking.preview": "URL-4",
}


def rule_for(path: str) -> str:
    parts = path.split(".")
    for size in range(len(parts), 0, -1):
        rule = RULES.get(".".join(parts[:size]))
        if rule:
            return rule
    return "CAMP-2"


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
        counted = f"{len(problems):,} problem" + ("" if len(problems) == 1 else "s")
        super().__init__(f"{source}: the campaign spec is refused ({counted}):\n{lines}")
