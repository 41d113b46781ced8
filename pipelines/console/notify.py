"""How the extranet reaches a person (USER-2, USER-3): an email through the SMTP relay, or in development an .eml
file in the outbox folder; an SMS through smsflow's own SMPP client, as a notification from the short code (the
product uses itself)."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

from pipelines.account import DEFAULT_SENDER

SENDER_EMAIL = "smsflow <no-reply@smsflow.invalid>"


class NotifyError(RuntimeError):
    """A message could not be sent; the text is for the person (French)."""


def outbox_of(settings, bucket: Path | None = None) -> Path:
    """Where emails land without an SMTP relay: settings.outbox, else <bucket>/outbox."""
    if settings.outbox:
        return Path(settings.outbox)
    from pipelines.storage import local_bucket

    return Path(bucket or local_bucket()) / "outbox"


def send_email(settings, to: str, subject: str, body: str, *, bucket: Path | None = None) -> Path | None:
    """One plain-text email: through settings.smtp (host:port) when set, else an .eml file in the outbox (the
    file's path is returned)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER_EMAIL, to, subject
    message.set_content(body)
    if settings.smtp:
        import smtplib

        host, _, port = settings.smtp.rpartition(":")
        try:
            with smtplib.SMTP(host or settings.smtp, int(port or 25), timeout=30) as relay:
                relay.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise NotifyError(f"L'email n'a pas pu être envoyé ({type(error).__name__}).") from None
        return None
    folder = outbox_of(settings, bucket)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
    path.write_bytes(message.as_bytes())
    return path


def smsc_settings(settings):
    """The SMSC for SMS codes: settings.smsc as host:port (the CLI's smsflow/smsflow system id) or a full
    smpp:// URL; None when no SMSC is configured (SMS is then refused as a method)."""
    from pipelines.dispatch.settings import SmscSettings

    if not settings.smsc:
        return None
    if "://" in settings.smsc:
        return SmscSettings.from_url(settings.smsc, timeout=15.0)
    host, _, port = settings.smsc.rpartition(":")
    return SmscSettings(host=host or "127.0.0.1", port=int(port), timeout=15.0)


def sms_available(settings) -> bool:
    return bool(settings.smsc)


def send_sms(settings, number: str, text: str) -> None:
    """One SMS through smsflow's SMPP client (a notification: one bind, a ledger of its own, thrown away), from
    the short code; raises NotifyError when no SMSC is configured or it refuses."""
    from pipelines.dispatch.test_send import send_notification

    smsc = smsc_settings(settings)
    if smsc is None:
        raise NotifyError("L'envoi de SMS n'est pas configuré sur cette plateforme : choisissez une autre méthode.")
    try:
        result = send_notification(text, number, smsc, DEFAULT_SENDER)
    except Exception as error:  # noqa: BLE001 - any failure of the bind is the same answer to the person
        raise NotifyError(f"Le SMS n'a pas pu être envoyé ({type(error).__name__}).") from None
    if result.status != 0:
        raise NotifyError("Le SMS a été refusé par l'opérateur.")
