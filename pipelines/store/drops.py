"""DROP-1, DROP-2 (issue 13): drop rules and the drops they accepted, in the account store.

A rule says, for one account, which prefix of the bucket it watches (`incoming/vip/`), which template a drop there
starts (a spec file in the bucket, or a saved draft by its campaign id: `pipelines.store.campaigns`) and how
(`approve`: planned, then a person approves the test, the normal run; `auto`: sent under `approval: auto`). A
dropped file belongs to the rule with the longest prefix it starts with. Every accepted drop is recorded by the
SHA-256 of its bytes, unique: the same export dropped twice, under any name, starts one campaign.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from pipelines.store.accounts import account_in
from pipelines.store.engine import StoreError, now as utc_now
from pipelines.store.schema import campaigns, drop_rules, drops

MODES = ("approve", "auto")  # approve: approval: manual (a person approves the test); auto: approval: auto
TEMPLATE_KINDS = ("spec", "campaign")
RESERVED = ("processed/", "quarantine/", "campaigns/")  # where drops end up, and campaigns' own folders


class DropRuleError(StoreError):
    """A drop rule refused (names the field, the value and the rule: a refusal, exit code 2)."""


@dataclass(frozen=True)
class DropRule:
    """One account's prefix in the bucket, the template a drop there starts, and how (DROP-1)."""

    id: int
    account_id: str
    prefix: str
    template_kind: str
    template: str
    mode: str
    max_invalid_share: float | None
    max_bytes: int | None
    created_at: datetime

    def as_dict(self) -> dict:
        return {key: value.isoformat() if isinstance(value, datetime) else value
                for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Drop:
    """An accepted drop (DROP-2): its content hash, where it came from and went, and the run it starts."""

    id: int
    content_hash: str
    rule_id: int
    account_id: str
    source: str
    target: str
    run_id: str
    conf: dict
    at: datetime


def _aware(values: dict) -> dict:
    for key, value in values.items():  # SQLite gives back naive times: they were written in UTC
        if isinstance(value, datetime) and value.tzinfo is None:
            values[key] = value.replace(tzinfo=timezone.utc)
    return values


def _rule(row) -> DropRule:
    return DropRule(**_aware(dict(row._mapping)))


def _drop(row) -> Drop:
    return Drop(**_aware(dict(row._mapping)))


def normalised_prefix(prefix: str) -> str:
    """A prefix as rules keep it: relative to the bucket, `/`-separated, ending in `/`; refused when it climbs out
    of the bucket or sits where drops end up (processed/, quarantine/) or campaigns live."""
    parts = [part for part in prefix.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts or ".." in parts or prefix.startswith(("/", "s3://")) or ":" in parts[0]:
        raise DropRuleError(f"prefix {prefix!r} is not a folder inside the bucket, such as incoming/vip/ [DROP-1]")
    normal = "/".join(parts) + "/"
    if normal.startswith(RESERVED):
        raise DropRuleError(f"prefix {prefix!r} is where drops end up or campaigns live ({', '.join(RESERVED)}): "
                            f"give a folder of its own, such as incoming/vip/ [DROP-1]")
    return normal


def add_rule(engine: Engine, account_id: str, prefix: str, *, spec: str | None = None, campaign: str | None = None,
             mode: str = "approve", max_invalid_share: float | None = None, max_bytes: int | None = None,
             now: datetime | None = None) -> DropRule:
    """A new rule for `account_id`: drops under `prefix` start the template (`spec`: a spec file's path in the
    bucket; or `campaign`: a draft of this account) in `mode`."""
    prefix = normalised_prefix(prefix)
    if mode not in MODES:
        raise DropRuleError(f"mode {mode!r} is not one of {', '.join(MODES)} (approve: a person approves the test; "
                            f"auto: sent under approval: auto) [DROP-1, SEND-3]")
    if (spec is None) == (campaign is None):
        raise DropRuleError("a drop rule starts one template: a spec file (--spec) or a saved draft (--campaign), "
                            "not both nor neither [DROP-1]")
    if spec is not None:
        kind, template = "spec", spec.strip()
        parts = template.replace("\\", "/").split("/")
        if not template or template.startswith("/") or ".." in parts or "://" in template:
            raise DropRuleError(f"spec {spec!r} is not a file inside the bucket, such as specs/vip.yaml [DROP-1, "
                                f"LIST-4]")
    else:
        kind, template = "campaign", str(campaign).strip()
    if max_invalid_share is not None and not 0 <= max_invalid_share <= 1:
        raise DropRuleError(f"max_invalid_share {max_invalid_share} is not a share between 0 and 1 [DROP-1, PLUS-3]")
    if max_bytes is not None and max_bytes < 1:
        raise DropRuleError(f"max_bytes {max_bytes} must be at least 1 [DROP-1]")
    stamp = now or utc_now()
    with engine.begin() as connection:
        account_in(connection, account_id)
        if kind == "campaign":
            found = connection.execute(select(campaigns.c.account_id, campaigns.c.status)
                                       .where(campaigns.c.id == template)).first()
            if found is None or found.account_id != account_id:
                raise DropRuleError(f"no campaign {template!r} in account {account_id!r} (smsflow campaigns list "
                                    f"shows them) [DROP-1, CAMP-4]")
        taken = connection.execute(select(drop_rules).where(drop_rules.c.prefix == prefix)).first()
        if taken is not None:
            raise DropRuleError(f"prefix {prefix!r} already has rule {taken.id} (account {taken.account_id}); "
                                f"remove it first [DROP-1]")
        result = connection.execute(insert(drop_rules).values(
            account_id=account_id, prefix=prefix, template_kind=kind, template=template, mode=mode,
            max_invalid_share=max_invalid_share, max_bytes=max_bytes, created_at=stamp))
        return _rule(connection.execute(select(drop_rules).where(
            drop_rules.c.id == result.inserted_primary_key[0])).one())


def list_rules(engine: Engine, account_id: str | None = None) -> list[DropRule]:
    """The rules, by prefix (one account's when given)."""
    query = select(drop_rules).order_by(drop_rules.c.prefix)
    if account_id is not None:
        query = query.where(drop_rules.c.account_id == account_id)
    with engine.begin() as connection:
        return [_rule(row) for row in connection.execute(query)]


def remove_rule(engine: Engine, rule: int | str, account_id: str | None = None) -> DropRule:
    """Remove a rule, by its id or its prefix; the drops it accepted stay recorded."""
    with engine.begin() as connection:
        query = select(drop_rules)
        if isinstance(rule, int) or str(rule).isdigit():
            query = query.where(drop_rules.c.id == int(rule))
        else:
            query = query.where(drop_rules.c.prefix == normalised_prefix(str(rule)))
        found = connection.execute(query).first()
        if found is None or (account_id is not None and found.account_id != account_id):
            raise DropRuleError(f"no drop rule {rule!r} (smsflow drops list shows them) [DROP-1]")
        connection.execute(delete(drop_rules).where(drop_rules.c.id == found.id))
        return _rule(found)


def rule_by_id(engine: Engine, rule_id: int) -> DropRule | None:
    with engine.begin() as connection:
        row = connection.execute(select(drop_rules).where(drop_rules.c.id == rule_id)).first()
    return _rule(row) if row is not None else None


def rule_for(engine: Engine, key: str) -> DropRule | None:
    """The rule a file at `key` (relative to the bucket) belongs to: the longest prefix it starts with."""
    matching = [rule for rule in list_rules(engine) if key.startswith(rule.prefix)]
    return max(matching, key=lambda rule: len(rule.prefix), default=None)


def record_drop(engine: Engine, content_hash: str, rule: DropRule, source: str, target: str, run_id: str,
                conf: dict[str, Any], *, now: datetime | None = None) -> tuple[Drop, bool]:
    """Record an accepted drop, once per content: (the drop, True) when new; (the drop already recorded with these
    bytes, False) otherwise: a duplicate, or the same drop retried after a crash (its `source` says which)."""
    try:
        with engine.begin() as connection:
            connection.execute(insert(drops).values(
                content_hash=content_hash, rule_id=rule.id, account_id=rule.account_id, source=source,
                target=target, run_id=run_id, conf=conf, at=now or utc_now()))
        return drop_by_hash(engine, content_hash), True
    except IntegrityError:
        existing = drop_by_hash(engine, content_hash)
        if existing is None:
            raise
        return existing, False


def drop_by_hash(engine: Engine, content_hash: str) -> Drop | None:
    with engine.begin() as connection:
        row = connection.execute(select(drops).where(drops.c.content_hash == content_hash)).first()
    return _drop(row) if row is not None else None


def drops_from(engine: Engine, source: str) -> list[Drop]:
    """The drops accepted from `source` (relative to the bucket), newest first: a retried drop finds its own."""
    with engine.begin() as connection:
        rows = connection.execute(select(drops).where(drops.c.source == source).order_by(drops.c.id.desc()))
        return [_drop(row) for row in rows]
