"""Where and how to send (SEND-6): the SMSC settings, validated once when read, from an `smpp://` URL or fields."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SmscSettings(BaseModel):
    """Where and how to send; from an `smpp://` URL (Airflow connection URI) or fields."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "smsflow"
    password: str = "smsflow"
    system_type: str = ""
    binds: int = Field(1, ge=1, le=32, description="Parallel binds (processes).")
    window: int = Field(64, ge=1, le=10_000, description="submit_sm in flight per bind.")
    tps: float | None = Field(None, gt=0, description="Parts per second allowed by the operator, all binds together.")
    error_budget: float = Field(0.05, ge=0, le=1, description="Share of permanent errors that pauses the batch.")
    budget_window: int = Field(1000, ge=10, description="How many recent submits the error budget looks at.")
    ambiguous_grace: float = Field(5.0, ge=0, description="Seconds to wait for receipts before resending "
                                                          "parts whose submit outcome is unknown.")
    linger: float = Field(0.0, ge=0, description="Seconds to keep listening for receipts after the last response.")
    gsm7_packed: bool = False
    fsync_group: int = Field(64, ge=1, description="Ledger records per fsync.")
    timeout: float = Field(30.0, gt=0, description="Seconds without any answer before the bind is given up.")
    bind_timeout: float = Field(10.0, gt=0, description="Seconds to connect and get the bind answered (an SMSC "
                                                        "across a WAN takes seconds).")

    @classmethod
    def from_url(cls, url: str, **overrides) -> SmscSettings:
        """smpp://system_id:password@host:port?binds=2&window=64&tps=500&bind_timeout=10&system_type=...

        A refused URL raises ValueError naming it with the password masked (the message ends in logs)."""
        shown = redact_url(url)
        try:
            parsed = urlparse(url)
            port = parsed.port
        except ValueError as error:
            raise ValueError(f"malformed SMSC URL {shown}: {error}") from None
        if parsed.scheme not in ("smpp", "smpps"):
            raise ValueError(f"not an smpp:// URL: {shown}")
        values: dict = {"host": parsed.hostname or "127.0.0.1", "port": port or 2775}
        if parsed.username:
            values["system_id"] = unquote(parsed.username)
        if parsed.password is not None:
            values["password"] = unquote(parsed.password)
        values.update({key: items[-1] for key, items in parse_qs(parsed.query).items()})
        values.update({key: value for key, value in overrides.items() if value is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
                                 if "password" not in e["loc"])
            raise ValueError(f"bad SMSC URL {shown}: {problems or 'invalid password field'}") from None


def redact_url(url: str) -> str:
    """`url` with its password replaced by ***, whatever the scheme, even when it does not parse."""
    return re.sub(r"(?<=://)([^/@:]*):[^/@]*@", r"\1:***@", str(url))
