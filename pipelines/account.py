"""A campaign's account as the plan sees it (ACC-1, ACC-2, BL-1, SEND-5, PLUS-7).

The account store holds the account's settings; a spec names the account (`account: acme`) and may narrow its
settings for this campaign: fewer countries, fewer parts, a narrower send window, a credit budget. It never widens
them: a spec that tries is refused, naming the field, the value and ACC-2. `prepare_account` returns the spec with
`account` set to the settings that apply, and the columns the plan checks rows against (blacklists, frequency cap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipelines.plan.inputs import AccountInputs
from pipelines.spec import CampaignSpec, Problem, SpecError
from pipelines.store import AccountSettings, get_account
from pipelines.store.accounts import WINDOWS
from pipelines.store.blacklists import blacklist_numbers
from pipelines.store.credits import balance as credit_balance
from pipelines.store.erase import erased_opt_outs
from pipelines.store.pressure import capped_numbers

DEFAULT_SENDER = "36184"  # MSG-1: the short code is every account's


@dataclass(frozen=True)
class PreparedAccount:
    spec: CampaignSpec  # `account` holds the settings that apply to this campaign
    inputs: AccountInputs
    settings: AccountSettings  # the account's own, before this campaign narrowed them
    notes: tuple[str, ...] = ()  # for the user: deprecations, what was narrowed


def narrowed(settings: AccountSettings, spec: CampaignSpec, source: str = "spec") -> tuple[CampaignSpec, list[str]]:
    """ACC-2: the spec's account block checked against the account's settings; the settings that apply.

    Only what the spec sets is compared (an unset field takes the account's value). Every widening is named.
    """
    given = spec.account.model_fields_set
    wanted = spec.account
    problems: list[Problem] = []
    notes: list[str] = []

    def refuse(field: str, value, message: str) -> None:
        problems.append(Problem(field=f"account.{field}", value=value, rule="ACC-2", message=message))

    countries = list(settings.allowed_countries)
    if "allowed_countries" in given:
        wider = [code for code in wanted.allowed_countries if code not in settings.allowed_countries]
        if wider:
            refuse("allowed_countries", wanted.allowed_countries,
                   f"{', '.join(wider)} is not allowed on account {settings.id!r} (it allows "
                   f"{', '.join(settings.allowed_countries)}); a campaign may only narrow them: an administrator "
                   f"widens the account with smsflow account set {settings.id} --countries "
                   f"{','.join(dict.fromkeys([*settings.allowed_countries, *wider]))}")
        countries = [code for code in wanted.allowed_countries if code in settings.allowed_countries]
    max_parts = settings.max_parts
    if "max_parts" in given:
        if wanted.max_parts > settings.max_parts:
            refuse("max_parts", wanted.max_parts, f"account {settings.id!r} allows at most {settings.max_parts} "
                                                  f"parts; a campaign may only lower it (smsflow account set "
                                                  f"{settings.id} --max-parts N)")
        max_parts = min(wanted.max_parts, settings.max_parts)
    window = settings.send_window
    if "send_window" in given:
        if WINDOWS.index(wanted.send_window) > WINDOWS.index(settings.send_window):
            refuse("send_window", wanted.send_window, f"is wider than account {settings.id!r}'s window "
                                                      f"{settings.send_window!r}; a campaign may only narrow it "
                                                      f"(smsflow account set {settings.id} --window NAME)")
        window = wanted.send_window
    tracking = spec.tracking
    if tracking is not None and settings.tracking_domain and tracking.domain not in (None, settings.tracking_domain):
        # URL-1, ACC-2: an account with its own short-link domain (an administrator's setting) uses only that one
        problems.append(Problem(field="tracking.domain", value=tracking.domain, rule="ACC-2",
                                message=f"account {settings.id!r} shortens links on {settings.tracking_domain}; a "
                                        f"campaign may not use another domain (an administrator changes it with "
                                        f"smsflow account set {settings.id} --tracking-domain)"))
    sender = spec.sender_or_default
    if settings.allowed_senders and sender != DEFAULT_SENDER and sender not in settings.allowed_senders:
        problems.append(Problem(field="sender", value=sender, rule="ACC-1",
                                message=f"is not an allowed sender of account {settings.id!r} "
                                        f"({', '.join(settings.allowed_senders)}, or empty for {DEFAULT_SENDER})"))
    if problems:
        raise SpecError(problems, source)
    blacklists = wanted.blacklists
    files = [kind for kind in ("own", "global_", "client") if getattr(blacklists, kind)]
    if files:
        notes.append("account.blacklists names blacklist files: deprecated, they are still read, but the account's "
                     "blacklists live in the account store now (smsflow blacklist import --kind own FILE) [BL-1]")
    account = wanted.model_copy(update={"allowed_countries": countries, "max_parts": max_parts,
                                        "send_window": window})
    update = {"account": account}
    if spec.tracking is not None and spec.tracking.domain is None and settings.tracking_domain:
        # URL-1: a tracked campaign without its own domain shortens with its account's
        update["tracking"] = spec.tracking.model_copy(update={"domain": settings.tracking_domain})
    return spec.model_copy(update=update), notes


def prepare_account(engine, spec: CampaignSpec, *, now: datetime | None = None, source: str = "spec",
                    credits: int | None = None) -> PreparedAccount:
    """The spec with its account's settings as this campaign narrows them (ACC-2), and what the plan checks rows
    against: the store's blacklists (BL-1) and the numbers at the account's frequency cap (PLUS-7).

    `credits`: the balance the plan may spend (None: the store's balance; the spec's `account.credits` is a budget
    within it).
    """
    settings = get_account(engine, spec.account.id)
    spec, notes = narrowed(settings, spec, source)
    balance = credits if credits is not None else credit_balance(engine, settings.id)
    budget = spec.account.credits
    available = budget if balance is None else balance if budget is None else min(budget, balance)
    spec = spec.model_copy(update={"account": spec.account.model_copy(update={"credits": available})})
    inputs = AccountInputs(blacklists=blacklist_numbers(engine, settings.id),
                           capped=_capped(engine, settings, now) if spec.type == "marketing" else None,
                           erased=erased_opt_outs(engine, settings.id))
    return PreparedAccount(spec, inputs, settings, tuple(notes))


def _capped(engine, settings: AccountSettings, now: datetime | None):
    return capped_numbers(engine, settings.id, now=now) if settings.frequency_cap is not None else None
