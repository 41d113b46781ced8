"""The plan summary (summary.json): totals noted batch by batch, then the figures people and contracts read."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines.layout import (
    Blacklists, CampaignSection, CountryCounts, ListSection, NumberParsing, PlanSummary, PreviewSection, TestSection,
    TrackingSection, WorstCase,
)
from pipelines.plan.context import Context
from pipelines.plan.io import Source, output_columns
from pipelines.plan.rules import message_options
from pipelines.render import compose, empty_field, one_row, value_column
from pipelines.spec import CampaignSpec, resolve_location
from pipelines.status import DUPLICATE, FREQUENCY_CAPPED, HOLDOUT, INVALID, status_text


def note_fields(frame: pl.DataFrame, prepared: pl.DataFrame, source: Source, context: Context) -> None:
    """MSG-4 empty fields, and ENC-6's longest value of each field for the worst-case length."""
    if source.fields:
        empties = frame.select(empty_field(c).sum().alias(c) for c in source.fields).row(0, named=True)
        context.totals.empty.update({name: count for name, count in empties.items() if count})
    fields = context.template.fields
    if fields:
        longest = prepared.select(
            pl.col(value_column(f)).gather(pl.col(value_column(f)).str.len_chars().fill_null(-1).arg_max()).alias(f)
            for f in fields).row(0, named=True)
        for name, value in longest.items():
            if value is not None and len(value) > len(context.totals.longest_values.get(name, "")):
                context.totals.longest_values[name] = value


def note_test_row(frame: pl.DataFrame, context: Context) -> None:
    """SEND-3: the message of the chosen row, rendered whatever that row's status."""
    test = context.spec.test
    start = context.totals.rows + 1  # 1-based position across all lists; note_results counts this batch after
    if test is None or not start <= test.row < start + frame.height:
        return
    row = frame.slice(test.row - start, 1)
    composed = compose(row, context.template, context.spec.defaults, message_options(context.spec))
    context.totals.test_message = composed.get_column("MESSAGE")[0]
    context.totals.test_row_found = True


def note_results(frame: pl.DataFrame, source: Source, context: Context) -> None:
    """Counts by status, parts, encoding and country of one planned batch."""
    totals = context.totals
    totals.rows += frame.height
    totals.list_rows[source.name] += frame.height
    for code, count in frame.group_by("STATUS_CODE").len().iter_rows():
        totals.status[str(code or 0)] += count
    sendable = frame.filter(pl.col("STATUS_CODE").is_null())
    for parts, count in sendable.group_by("PARTS").len().iter_rows():
        totals.parts[str(parts)] += count
    for name, count in sendable.group_by("ENCODING").len().iter_rows():
        totals.encodings[name] += count
    totals.credits += int(sendable.get_column("PARTS").sum() or 0)
    if sendable.height:
        totals.longest_message = max(totals.longest_message, int(sendable.get_column("LENGTH").max() or 0))
    valid = frame.filter(pl.col("MF_VALID"))
    for country, detected, accepted in valid.group_by("MF_COUNTRY").agg(
        pl.len(), pl.col("MF_ALLOW").sum()
    ).iter_rows():
        totals.detected[country] += detected
        totals.accepted[country] += accepted


def _worst_case(context: Context) -> WorstCase:
    """ENC-6: the message with the longest value of every field (the editor's counter)."""
    template, spec = context.template, context.spec
    if template.jinja is not None:
        return WorstCase(length=context.totals.longest_message, source="longest rendered message")
    values = {name: context.totals.longest_values.get(name, spec.defaults.get(name, "")) for name in template.fields}
    measured = compose(one_row(template, values), template, spec.defaults, message_options(spec)).row(0, named=True)
    return WorstCase(length=measured["LENGTH"], encoding=measured["ENCODING"], parts=measured["PARTS"],
                     message=measured["MESSAGE"], source="longest value of each field")


def blacklist_paths(spec: CampaignSpec, base: Path) -> dict[str, str | None]:
    """BL-1, BL-2: each of the account's blacklists as the plan read it (absolute; None when the spec has none), so
    the loader of the campaign's STOP replies knows the own blacklist without the spec."""
    paths = {}
    for kind in ("own", "global", "client"):
        location = getattr(spec.account.blacklists, "global_" if kind == "global" else kind)
        paths[kind] = str(resolve_location(location, base, f"account.blacklists.{kind}").resolve()) if location \
            else None
    return paths


def summary(context: Context, sources: list[Source], base: Path = Path(".")) -> PlanSummary:
    """The summary.json of a finished plan; `base` is the folder the spec's locations are relative to."""
    spec, totals = context.spec, context.totals
    worst = _worst_case(context)
    status_counts = {code: totals.status[code] for code in sorted(totals.status, key=int)}
    used = context.template.fields + (context.links.target_fields if context.links is not None else [])  # URL-2
    used = list(dict.fromkeys(used))
    test = None
    if spec.test is not None:
        test = TestSection(numbers=spec.test.number_list, row=spec.test.row,
                           message=totals.test_message if totals.test_row_found else None)
    return PlanSummary(
        campaign=CampaignSection(
            name=spec.name, type=spec.type, billing_code=spec.billing_code, description=spec.description,
            sender=spec.sender_or_default, send_at=spec.send_at.isoformat() if spec.send_at else None,
            tracking=spec.tracking is not None, send_window=spec.account.send_window if spec.type == "marketing" else None,
            in_flight=spec.options.in_flight, account=spec.account.id,
            blacklists=Blacklists.model_validate(blacklist_paths(spec, base))),
        columns=output_columns(sources),
        lists=[ListSection(name=s.name, rows=totals.list_rows[s.name], mobile_column=s.mobile_column,
                           encoding=s.encoding, delimiter=s.delimiter,
                           warnings=list(s.layout.warnings) if s.layout is not None else []) for s in sources],
        rows=totals.rows,
        sendable=totals.status.get("0", 0),
        invalid=totals.status.get(str(INVALID), 0),
        duplicates=totals.status.get(str(DUPLICATE), 0),
        capped=totals.status.get(str(FREQUENCY_CAPPED), 0),
        holdout=totals.status.get(str(HOLDOUT), 0),
        holdout_percent=spec.options.holdout,
        status_counts=status_counts,
        status_texts={code: ("Envoyable" if code == "0" else status_text(int(code))) for code in status_counts},
        credits=totals.credits,
        credits_available=spec.account.credits,
        countries={country: CountryCounts(detected=totals.detected[country], accepted=totals.accepted[country])
                   for country in sorted(totals.detected)},
        parts={parts: totals.parts[parts] for parts in sorted(totals.parts, key=int)},
        encodings=dict(totals.encodings),
        empty_fields=dict(sorted(totals.empty.items())),
        fields_used=used,
        defaults=spec.defaults,
        max_length=worst.length,
        worst_case=worst,
        longest_message=totals.longest_message,
        max_parts=spec.max_parts,
        numbers=NumberParsing(fast_path=context.numbers.fast, full_parser=context.numbers.full,
                              full_parser_distinct=context.numbers.distinct_full),
        test=test,
        tracking=tracking_section(context),
    )


def tracking_section(context: Context) -> TrackingSection | None:
    """URL-1…5: what a tracked plan's links are (None: tracking off)."""
    links, tracking = context.links, context.spec.tracking
    if links is None or tracking is None:
        return None
    preview = tracking.preview
    return TrackingSection(
        domain=links.domain, links_per_message=len(links.tracked.urls),
        urls=[url.target_template for url in links.tracked.urls], template=links.tracked.template,
        links=links.links, lifetime_days=links.lifetime_days, expires_at=links.expires_at.isoformat(),
        preview=None if preview is None else PreviewSection(
            title=preview.title, description=preview.description,
            image=links.image.file_name if links.image is not None else None),
        warnings=links.warnings())


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _days(weekdays: frozenset[int]) -> str:
    """Weekdays in words: `Mon–Sat` for a run of days, else each one."""
    days = sorted(weekdays)
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{_DAYS[days[0]]}–{_DAYS[days[-1]]}"
    return ", ".join(_DAYS[day] for day in days)


def send_window_line(summary: PlanSummary, opening: datetime, now: datetime) -> str:
    """SEND-2 in one line for the people who plan: when a marketing campaign may be sent (its account's window as
    the campaign narrowed it, judged in each recipient's own time: PLUS-10) and when it opens next; `opening` is
    when the send may start (`pipelines.campaign.send_target`: the send time, then the window)."""
    from pipelines.window import PARIS, policy

    campaign = summary.campaign
    when = opening.astimezone(PARIS)
    if when <= now:
        start = "open now" if campaign.type == "marketing" else "sends once approved"
    else:
        start = f"{'sends from' if campaign.send_at else 'next opening:'} {when:%A %d/%m %H:%M} Paris"
    if campaign.type != "marketing":
        return f"Notification: sent at any hour, the marketing window does not apply (SEND-2); {start}"
    rules = policy(campaign.send_window or "seed")
    hours = rules.hours_on(when.date())
    return (f"Marketing: sent {_days(hours.weekdays)} {hours.opens:%H:%M}–{hours.closes:%H:%M}, not on public "
            f"holidays, in each recipient's own time (SEND-2); {start}")
