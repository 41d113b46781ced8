"""The message editor's live counter (ENC-1…6, MSG-2, MSG-3): characters, parts, encoding and the worst case,
computed by the plan's own code: `pipelines.render.compose` on one row holding the longest value of each field
(as `pipelines.plan.summary` does for ENC-6), tracked URLs as their short links' placeholders
(`pipelines.links.plan.LinkPlan`), `pipelines.encoding` for the alphabet and the replacements. No second count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import polars as pl
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from pipelines import encoding as enc
from pipelines.console.campaign_lists import longest_values
from pipelines.console.web import account_id, engine_of, page

ENCODING_WORDS = {"GSM7": "GSM7", "UCS2": "UCS-2"}


@dataclass
class Count:
    """The counter's figures for the worst case (the longest value of every field) and what it warns of."""

    length: int = 0  # septets (GSM7) or UTF-16 units (UCS-2), as billed (ENC-1, ENC-2)
    parts: int = 0
    encoding: str = "GSM7"
    max_parts: int = 6
    message: str = ""  # the worst-case message as sent
    highlighted: Markup = Markup("")  # the message as typed, its non-GSM7 characters marked
    replacements: list[tuple[str, str | None]] = field(default_factory=list)  # non-GSM7 character → GSM7 text
    fields: list[str] = field(default_factory=list)  # personalisation fields offered: the chosen lists' columns
    used: dict[str, str] = field(default_factory=dict)  # field → the value counted (the longest)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stop_missing: bool = False  # MSG-2
    ucs2_refused: bool = False  # ENC-2: UCS-2 without the option → status 6
    links: int = 0  # URLs in the message (URL-1)

    @property
    def capacity(self) -> int:
        """Units the message's parts hold: 160/70 for one SMS, 153/67 per part beyond."""
        if self.parts <= 1:
            return enc.SINGLE_PART[self.encoding]
        return enc.MULTI_PART[self.encoding] * self.parts

    @property
    def too_long(self) -> bool:
        return self.parts > self.max_parts  # ENC-5: status 7

    @property
    def encoding_label(self) -> str:
        return ENCODING_WORDS.get(self.encoding, self.encoding)


def highlight(message: str) -> tuple[Markup, list[tuple[str, str | None]]]:
    """The message as typed with every character outside GSM 03.38 in <mark class="non-gsm">, titled with its
    ENC-4 replacement, and the distinct ones with their replacement (None: only UCS-2 can send it)."""
    pieces, seen = [], {}
    for char in message:
        if enc.is_gsm7(char):
            pieces.append(escape(char))
            continue
        replacement = seen.setdefault(char, enc.gsm7_replacement(char))
        title = f"remplacé par « {replacement} »" if replacement is not None else "aucun équivalent GSM7 : UCS-2"
        pieces.append(Markup('<mark class="non-gsm" title="{}">{}</mark>').format(title, char))
    return Markup("").join(pieces), list(seen.items())


def _tracked(message: str, domain: str | None, count: Count) -> str:
    """The message the plan measures when links are tracked: each URL as its short link's placeholder (URL-1)."""
    from pipelines.links.detect import LinkError, find_urls
    from pipelines.links.plan import LinkPlan
    from pipelines.spec import Tracking

    try:
        tracked = find_urls(message)
    except LinkError as error:
        count.errors.append(str(error).removeprefix("message: "))
        return message
    count.links = len(tracked.urls)
    if domain is None or not tracked.urls:
        return message
    try:
        tracking = Tracking(domain=domain or None)
    except ValueError:
        tracking = Tracking()
    plan = LinkPlan(tracked, tracking.domain_or_default, tracking.token_length, tracking.lifetime_days,
                    datetime.now(timezone.utc), [], {})
    return plan.message


def count_message(message: str, *, columns: list[str], longest: dict[str, str], defaults: dict[str, str],
                  ucs2: bool = False, emojis: bool = False, replace_non_gsm7: bool = True, max_parts: int = 6,
                  kind: str = "marketing", tracking_domain: str | None = None) -> Count:
    """The counter for `message` and the chosen lists' `columns` and `longest` values. `tracking_domain`: links
    are tracked with this domain ("" for the default), None: not tracked."""
    from pipelines.render import MessageOptions, TemplateError, compile_template, compose, one_row, referenced_fields
    from pipelines.spec import STOP_MENTION
    from pipelines.spec.model import fixed_text

    count = Count(max_parts=max_parts, fields=list(columns))
    count.highlighted, count.replacements = highlight(message)
    count.stop_missing = kind == "marketing" and not STOP_MENTION.search(message)
    measured = _tracked(message, tracking_domain, count)
    try:
        known = list(columns)
        if not known:  # no list yet: its fields count as their default, or as nothing
            known = referenced_fields(measured)
            if known:
                count.notes.append("Choisissez une liste : chaque champ comptera alors sa valeur la plus longue.")
        template = compile_template(measured, known)
    except TemplateError as error:
        count.errors.append(str(error).removeprefix("message: "))
        template = compile_template(fixed_text(measured), [])
    values = {}
    for name in template.fields:
        value, default = longest.get(name, ""), defaults.get(name, "")
        values[name] = default if len(default) > len(value) else value
    count.used = values
    options = MessageOptions(replace_non_gsm7=replace_non_gsm7, emojis=ucs2 and emojis)
    try:
        row = compose(one_row(template, values), template, defaults, options).row(0, named=True)
    except TemplateError as error:
        count.errors.append(str(error).removeprefix("message: "))
        return count
    count.message, count.length, count.parts = row["MESSAGE"], row["LENGTH"], row["PARTS"]
    count.encoding = row["ENCODING"] or "GSM7"
    count.ucs2_refused = count.encoding == "UCS2" and not ucs2
    return count


def _typed_fields(text: str) -> tuple[list[str], dict[str, str]]:
    """LIST-5: typed recipients' fields and their longest values (a Polars frame, as a list's)."""
    from pipelines.console.campaign_form import typed_recipients

    entries = typed_recipients(text)
    if not entries:
        return [], {}
    columns = list(dict.fromkeys(key for entry in entries for key in entry))
    frame = pl.DataFrame([{column: entry.get(column) for column in columns} for entry in entries],
                         schema={column: pl.String for column in columns})
    return columns, longest_values(frame, columns)


def form_count(engine, bucket, account: str, form, kept: list[str] | None = None) -> Count:
    """The counter for a posted campaign form: its message, options, lists and typed numbers (blocking)."""
    from pipelines.console.campaign_form import conf_from_form
    from pipelines.console.campaign_lists import choose
    from pipelines.spec import MAX_PARTS
    from pipelines.store import get_account

    conf = conf_from_form(form)
    chosen = choose(engine, bucket, account, form, kept)
    typed_columns, typed_longest = _typed_fields(form.get("recipients") or "")
    chosen.add(tuple(typed_columns), typed_longest)
    settings = get_account(engine, account)
    wanted = conf.get("max_parts") if isinstance(conf.get("max_parts"), int) else MAX_PARTS
    tracked = conf.get("track_links") or any(conf.get(name) for name in (
        "tracking_domain", "preview_title", "preview_description", "preview_image"))
    domain = (conf.get("tracking_domain") or settings.tracking_domain or "") if tracked else None
    count = count_message(
        form.get("message") or "", columns=chosen.columns, longest=chosen.longest,
        defaults=conf.get("defaults") if isinstance(conf.get("defaults"), dict) else {},
        ucs2=bool(conf.get("ucs2")), emojis=bool(conf.get("emojis")),
        replace_non_gsm7=bool(conf.get("replace_non_gsm7")), max_parts=min(max(wanted, 1), settings.max_parts),
        kind=conf.get("type") or "marketing", tracking_domain=domain)
    count.errors += chosen.problems
    return count


async def counter(request: Request):
    """POST /campaigns/counter (htmx, the form's values): the counter's fragment."""
    from pipelines.console.campaign_form import SECTIONS, conf_from_form, field_views, tracking_open
    from pipelines.console.campaign_lists import kept_files

    async with request.form(max_files=1, max_fields=300) as form:
        kept = await run_in_threadpool(kept_files, engine_of(request), account_id(request), form.get("campaign_id"))
        count = await run_in_threadpool(form_count, engine_of(request), request.app.state.bucket,
                                        account_id(request), form, kept)
        conf = conf_from_form(form)
        # URL-1: the link tracking fields open (swapped in out of band) once the message holds a URL.
        opening = form.get("tracking_open") == "0" and tracking_open(conf, form.get("message") or "")
    return page(request, "campaigns_counter.html", count=count, opening=opening, oob=True, tracking_open=True,
                has_links=bool(count.links), tracking_names=SECTIONS["Suivi des liens"],
                fields=field_views(conf) if opening else {})


routes = [Route("/campaigns/counter", counter, methods=["POST"])]
