"""The simulator's settings, validated once at start: users, message ids, outcomes, replies, throttling."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Outcome = Literal["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "UNKNOWN", "DELETED", "NONE"]


class OutcomeRule(BaseModel):
    """A destination whose number starts or ends with `value` gets `outcome` (NONE: no receipt at all)."""

    model_config = ConfigDict(extra="forbid")
    match: Literal["prefix", "suffix"] = "suffix"
    value: str
    outcome: Outcome
    error: int = 0


class ReplyRule(BaseModel):
    """After delivery to `number` (as submitted, e.g. 33612345678), the handset answers `text`."""

    model_config = ConfigDict(extra="forbid")
    number: str
    text: str
    delay: float = 0.2


class QueueFull(BaseModel):
    """Out of every `every` submit_sm, `burst` in a row are refused with ESME_RMSGQFUL."""

    model_config = ConfigDict(extra="forbid")
    every: int = Field(gt=0)
    burst: int = Field(ge=0)


class SmscConfig(BaseModel):
    """The simulator's behaviour; from flags or a YAML/TOML file."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = 2775
    users: dict[str, str] = Field(default_factory=lambda: {"smsflow": "smsflow"},
                                  description="system_id: password (SMPP 3.4 §5.2.1: at most 15 and 8 characters)")
    message_id_format: Literal["decimal", "hex"] = "decimal"
    first_message_id: int = 1_000_000
    tps_per_bind: int | None = Field(None, gt=0, description="submit_sm per second per bind; more: ESME_RTHROTTLED")
    queue_full: QueueFull | None = None
    refuse_prefixes: list[str] = Field(default_factory=list,
                                       description="destinations refused at submit (ESME_RINVDSTADR)")
    rules: list[OutcomeRule] = Field(default_factory=list)
    ratios: dict[Outcome, float] = Field(default_factory=lambda: {"DELIVRD": 1.0})
    seed: int = 42
    bind_delay: float = Field(0.0, ge=0, description="Seconds before answering a bind (a SMSC across a WAN).")
    receipt_delay: float = 0.2
    receipts: Literal["stored", "session"] = Field(
        "stored", description="stored: receipts wait for any receiver of the system_id, unacknowledged ones are "
                              "delivered again; session: only the submitting transceiver gets them, lost (and "
                              "logged as receipt_lost) if it died. MO replies are stored in both modes.")
    intermediate: list[Literal["ENROUTE", "ACCEPTD"]] = Field(default_factory=list)
    replies: list[ReplyRule] = Field(default_factory=list)
    gsm7_packed: bool = False
    log: Path | None = None
    log_receipts: bool = Field(False, description="Also log every receipt sent (parts, messages and replies "
                                                  "are always logged).")

    @field_validator("users")
    @classmethod
    def _smpp_lengths(cls, users: dict[str, str]) -> dict[str, str]:
        """A user no ESME can bind as is refused at start, not at every bind (SMPP 3.4 §4.1.1, §5.2.1)."""
        problems = [f"user {system_id!r}: system_id has {len(system_id)} characters, SMPP 3.4 allows at most 15"
                    for system_id in users if len(system_id) > 15]
        problems += [f"user {system_id!r}: password has {len(password)} characters, SMPP 3.4 allows at most 8"
                     for system_id, password in users.items() if len(password) > 8]
        if problems:
            raise ValueError("; ".join(problems))
        return users

    @classmethod
    def from_file(cls, path: Path, **overrides) -> SmscConfig:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
        data.update({key: value for key, value in overrides.items() if value is not None})
        return cls.model_validate(data)
