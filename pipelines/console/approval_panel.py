"""What the run panel says (SEND-3, SEND-4): where a campaign's run is, in the user's words, and the summary the
approver reads, from the plan's own files (`summary.json`, the one `pipelines.campaign.approval_request` reads).

Pure reading: no Airflow call here (`pipelines.console.airflow` gives the run), no write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from pipelines.console.web import in_paris
from pipelines.layout import CampaignPaths, PlanSummary, SummaryError, read_summary

PARIS = ZoneInfo("Europe/Paris")
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
STARTED = {"running", "deferred", "awaiting_input", "up_for_reschedule", "up_for_retry", "queued", "scheduled",
           "success", "failed", "upstream_failed"}
# The DAG's steps, last first: the run is at the latest one that started (dags/sms_campaign.py).
STEPS = (
    ("close", "Clôture de la campagne"),
    ("finish", "Préparation du rapport"),
    ("receipts", "Envoi terminé : attente des accusés de réception"),
    ("dispatch", "Envoi en cours"),
    ("batches", "Envoi en cours"),
    ("auto_approve", "Validation automatique : l'envoi va commencer"),
    ("approve", "En attente de votre validation"),
    ("approval_mode", "Message de test envoyé"),
    ("test_send", "Envoi du message de test"),
    ("wait_for_send_time", "Attente de la fenêtre d'envoi"),
    ("reserve_credits", "Planification : réservation des crédits"),
    ("contracts", "Planification : contrôle des données"),
    ("plan", "Planification"),
    ("prepare", "Planification"),
)
STATUS_WORDS = {"draft": "Brouillon", "scheduled": "Programmée", "running": "Envoi en cours", "finished": "Terminée",
                "cancelled": "Annulée"}


@dataclass(frozen=True)
class Stage:
    """Where the run is: `words` to show, `active` (the panel polls again), `step` (the DAG task or an outcome)."""

    words: str
    active: bool
    step: str
    tone: str = "notice"  # notice | warning | error: the panel's class


def number(value: int | None) -> str:
    """A count as French writes it: 1 234 567 (narrow no-break spaces)."""
    return "—" if value is None else f"{value:,}".replace(",", "\u202f")


def approval_body(text: str | None) -> list[Markup]:
    """The HITL body (SEND-4, Markdown from `pipelines.run_page.approval_text`) as paragraphs, safely: every
    character escaped first, then only `**bold**` turned into <strong>; no raw HTML ever passes."""
    paragraphs = [part.strip() for part in (text or "").split("\n\n") if part.strip()]
    return [Markup(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", str(escape(part)))) for part in paragraphs]


def paris_words(moment: datetime) -> str:
    """'jeudi 26 novembre 2026 à 08:00 (heure de Paris)'."""
    local = in_paris(moment)
    return f"{DAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year} à {local:%H:%M} (heure de Paris)"


def window_words(policy_name: str | None) -> str:
    """SEND-2's window in French for the policy's hours in force today: 'du lundi au samedi, 08:00–20:00, à l'heure
    de chaque destinataire, jamais les jours fériés' (the words of `pipelines.run_page.window_words`)."""
    from pipelines.window import policy

    hours = policy(policy_name or "seed").hours_on(datetime.now(PARIS).date())
    days = sorted(hours.weekdays)
    span = (f"du {DAYS[days[0]]} au {DAYS[days[-1]]}" if len(days) > 1 else f"le {DAYS[days[0]]}") \
        if days == list(range(days[0], days[-1] + 1)) else ", ".join(DAYS[day] for day in days)
    return (f"{span}, {hours.opens:%H:%M}–{hours.closes:%H:%M}, à l'heure de chaque destinataire, jamais les jours "
            "fériés")


def stage(status: str, run=None, *, wait_until: datetime | None = None) -> Stage:
    """The run's stage from the campaign's status in the store (CAMP-3) and, when Airflow answered, its run
    (`pipelines.console.airflow.RunView`): the latest DAG step that started, in the user's words."""
    if run is None:
        return Stage(STATUS_WORDS.get(status, status), status in ("scheduled", "running"), status)
    if run.state == "failed":
        return Stage("Échec : la campagne a été annulée" + (f" ({run.note})" if run.note else ""), False, "failed",
                     "error")
    if run.state == "success" or status in ("finished", "cancelled"):
        if status == "cancelled":
            return Stage("Annulée" + (f" : {run.note}" if run.note else ""), False, "cancelled", "warning")
        if status == "finished":
            return Stage("Terminée : la campagne est envoyée", False, "finished")
    if run.pending is not None:
        return Stage("En attente de votre validation", False, "approve")
    for task, words in STEPS:
        state = run.tasks.get(task)
        if state not in STARTED:
            continue
        if task == "approve" and (state == "success" or run.answered is not None):
            chosen = (run.answered or {}).get("chosen_options") or ["Approve"]
            words = "Envoi refusé : annulation en cours" if "Reject" in chosen else "Validée : l'envoi va commencer"
        elif task == "test_send" and state == "success":
            words = "Message de test envoyé"
        elif task == "wait_for_send_time" and wait_until is not None:
            words = f"Attente de la fenêtre d'envoi jusqu'au {paris_words(wait_until)}"
        return Stage(words, True, task)
    return Stage("En file d'attente dans Airflow", True, "queued")


def wait_target(bucket: Path, campaign_id: str) -> datetime | None:
    """SEND-1, SEND-2: when the run's wait ends (the send time, for marketing the window's next opening), as the
    DAG's wait computes it from the campaign folder's spec and plan; None when they cannot be read."""
    from pipelines.campaign import send_target
    from pipelines.spec import load_spec

    from pipelines.bucket import roots

    paths = CampaignPaths.in_bucket(bucket, campaign_id)
    try:
        spec = load_spec(paths.spec, roots=roots(bucket))
        return send_target(spec, datetime.now(timezone.utc), paths.plan if paths.summary.exists() else None)
    except (OSError, ValueError):
        return None


def plan_summary(bucket: Path, campaign_id: str) -> PlanSummary | None:
    """The campaign's plan summary (summary.json), or None before it is planned."""
    paths = CampaignPaths.in_bucket(bucket, campaign_id)
    try:
        return read_summary(paths.plan)
    except (OSError, SummaryError):
        return None


def send4(summary: PlanSummary) -> dict:
    """SEND-4 for the approver: the summary's figures in the order the hosted product shows them, and the test."""
    campaign = summary.campaign
    excluded = sorted(((summary.status_texts.get(code, code), int(code), count)
                       for code, count in summary.status_counts.items() if code != "0" and count),
                      key=lambda item: (-item[2], item[1]))
    if campaign.send_at:
        when = paris_words(datetime.fromisoformat(campaign.send_at))
    else:
        when = "Immédiat, dès votre validation"
    if campaign.type == "marketing":
        when += f", dans la fenêtre d'envoi : {window_words(campaign.send_window)}"
    return {
        "name": campaign.name,
        "type": "Marketing" if campaign.type == "marketing" else "Notification",
        "lists": [(item.name, item.rows) for item in summary.lists],
        "rows": summary.rows,
        "sendable": summary.sendable,
        "invalid": summary.invalid,
        "duplicates": summary.duplicates,
        "excluded": excluded,
        "credits": summary.credits,
        "credits_available": summary.credits_available,
        "parts": sorted((int(parts), count) for parts, count in summary.parts.items()),
        "countries": sorted(((country, counts.detected, counts.accepted)
                             for country, counts in summary.countries.items()), key=lambda item: -item[1]),
        "when": when,
        "sender": campaign.sender,
        "tracking": bool(campaign.tracking or summary.tracking),
        "test_message": summary.test.message if summary.test else None,
        "test_numbers": summary.test.numbers if summary.test else [],
    }
