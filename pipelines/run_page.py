"""What a campaign's Airflow run says in words (Airflow-free): the approval text (SEND-4), the wait's explanation
(SEND-1, SEND-2) and the run's note with its outcome and the REP-1 figures (CAMP-3).

Times are Paris time, named as such: campaigns live in Paris time, whatever time zone the Airflow UI shows.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from pipelines.layout import PlanSummary

PARIS = ZoneInfo("Europe/Paris")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def window_words(policy_name: str | None, on: date | None = None) -> str:
    """A send window in a person's words: 'Mon–Sat 08:00–20:00 in each recipient's own time, never on public
    holidays' (SEND-2), for the policy's hours in force `on` (today by default)."""
    from pipelines.window import policy

    rules = policy(policy_name or "seed")
    hours = rules.hours_on(on or datetime.now(PARIS).date())
    days = sorted(hours.weekdays)
    span = DAYS[days[0]] + (f"–{DAYS[days[-1]]}" if len(days) > 1 else "") \
        if days == list(range(days[0], days[-1] + 1)) else ", ".join(DAYS[day] for day in days)
    return (f"{span} {hours.opens:%H:%M}–{hours.closes:%H:%M} in each recipient's own time, never on public "
            "holidays")


def paris_moment(moment: datetime, now: datetime | None = None) -> str:
    """'today 18:30', 'tomorrow 08:00', 'Monday 08:00' within a week, else 'Monday 7 December 08:00' (Paris)."""
    now = (now or datetime.now(timezone.utc)).astimezone(PARIS)
    local = moment.astimezone(PARIS)
    days = (local.date() - now.date()).days
    day = "today" if days == 0 else "tomorrow" if days == 1 else f"{local:%A}" if 1 < days < 7 else \
        f"{local:%A} {local.day} {local:%B}"
    return f"{day} {local:%H:%M} Paris"


def wait_text(target: datetime, kind: str, send_at: datetime | None, policy_name: str | None,
              now: datetime | None = None) -> str:
    """The wait task's log line: what it waits for and why (SEND-1 the send time, SEND-2 the window)."""
    now = now or datetime.now(timezone.utc)
    asked = max(send_at, now) if send_at else now
    if kind == "marketing" and target > asked + timedelta(seconds=1):
        return (f"Waiting for {paris_moment(target, now)} (SEND-2): marketing messages are sent "
                f"{window_words(policy_name, target.astimezone(PARIS).date())}.")
    return f"Waiting for the send time the campaign asked, {paris_moment(target, now)} (SEND-1)."


def send_time_line(summary: PlanSummary) -> str:
    """SEND-4: when the approved campaign goes out, the send window in one line."""
    campaign = summary.campaign
    when = campaign.send_at or "as soon as approved"
    if campaign.type != "marketing":
        return f"**Send time**: {when}, at any hour (a notification is not bound by the send window, SEND-2)"
    return f"**Send time**: {when}, within the send window: {window_words(campaign.send_window)} (SEND-2)"


def tracking_line(summary: PlanSummary) -> str:
    """SEND-4, URL-1: tracking on or off; on, the domain, the links per message and where each goes."""
    tracking = summary.tracking
    if tracking is None:
        return f"**Tracking**: {'on' if summary.campaign.tracking else 'off'}"
    links = "".join(f"; ${{track_{n}}} → {url}" for n, url in enumerate(tracking.urls, start=1))
    notes = "".join(f" ({warning})" for warning in tracking.warnings)
    return (f"**Tracking**: on (domain {tracking.domain}, {tracking.links_per_message} "
            f"link{'' if tracking.links_per_message == 1 else 's'} per message, {tracking.links:,} short links){links}"
            f"{notes}")


def approval_text(summary: PlanSummary) -> str:
    """SEND-4: what the approver reads before the real send starts (with the test message, SEND-3)."""
    campaign, test = summary.campaign, summary.test
    lines = [
        f"**Campaign**: {campaign.name} ({campaign.type})",
        f"**Lists**: {len(summary.lists)} — " + ", ".join(f"{item.name} ({item.rows:,} rows)"
                                                          for item in summary.lists),
        f"**Recipients**: {summary.rows:,}, of which **{summary.sendable:,}** will be sent",
        f"**Invalid numbers**: {summary.invalid:,}",
        f"**Duplicates**: {summary.duplicates:,}",
        *([f"**Frequency cap (PLUS-7)**: {summary.capped:,} not sent, already messaged recently"]
          if summary.capped else []),
        *([f"**Holdout (PLUS-7)**: {summary.holdout:,} kept unsent ({summary.holdout_percent:g} %) to measure uplift"]
          if summary.holdout else []),
        f"**Credits used**: {summary.credits:,}",
        send_time_line(summary),
        f"**Sender**: {campaign.sender}",
        tracking_line(summary),
    ]
    if test is not None and test.message:
        lines.append(f"**Test sent to** {', '.join(test.numbers)}: « {test.message} »")
    return "\n\n".join(lines)


def run_note(outcome: str, *, parts: int = 0, delivered: int = 0, reason: str = "", credits_back: int = 0,
             who: str | None = None, at: datetime | str | None = None, held: int = 0, resent: int = 0,
             sent: int = 0, figures: dict | None = None, report: str | Path | None = None) -> str:
    """CAMP-3: the campaign's outcome in one line, written as its Airflow run's note (a reject is no bare Success).

    A sent campaign gives the REP-1 figures (`figures`: `pipelines.report.campaign_stats` with `failed` and
    `credits`) and where its report is. Parts in flight when a sender stopped are counted (SEND-7): held ones wait
    for an operator. Credits given back are named (SEND-8); a run that ended after a partial send says how many
    parts were sent (`sent`).
    """
    if outcome == "finished":
        figures = figures or {}
        counts = "".join(f", {figures[key]:,} {words}" for key, words in (
            ("failed", "failed"), ("stops", "STOP replies"), ("credits", "credits used")) if key in figures)
        recipients = f" to {figures['sent']:,} recipients" if "sent" in figures else ""
        in_flight = "".join(f"; {count:,} {words}" for count, words in (
            (resent, "in flight when a sender stopped and sent again"),
            (held, "held (in flight when a sender stopped; release with smsflow send --release-held)"),
            (credits_back, "credits given back")) if count)
        where = f"; report: {report}" if report else ""
        return f"Sent: {parts:,} parts accepted{recipients}, {delivered:,} delivered{counts}{in_flight}{where}"
    if who:
        when = datetime.fromisoformat(at) if isinstance(at, str) else at
        reason = f"{reason} by {who}" + (f" at {when.astimezone(PARIS):%Y-%m-%d %H:%M:%S %Z}" if when else "")
    head = "Cancelled" if outcome == "cancelled" else "Failed, cancelled"
    if sent:
        return f"{head}: {reason}; {sent:,} parts sent stay spent, {credits_back:,} credits given back"
    return f"{head}: {reason}; {credits_back:,} credits given back, nothing sent after the test"
