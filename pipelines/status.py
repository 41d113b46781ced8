"""Message status codes (SPEC STAT, seed annex 3): text, whether the message is billed, report category."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Status:
    code: int
    text: str
    billed: bool | None  # None: intermediate
    category: str  # REP-1 download category


STATUSES: dict[int, Status] = {
    status.code: status
    for status in [
        Status(1, "En cours de traitement", None, "pending"),
        Status(9, "En cours d'envoi", None, "pending"),
        Status(10, "Posté", True, "pending"),
        Status(28, "Posté", True, "pending"),
        Status(24, "Envoyé", True, "pending"),
        Status(16, "Délivré", True, "delivered"),
        Status(21, "Délivré", True, "delivered"),
        Status(17, "Délivré + STOP demandé", True, "delivered"),
        Status(20, "Non délivré", True, "not_delivered"),
        Status(25, "Non délivré", True, "not_delivered"),
        Status(29, "Numéro non attribué", True, "not_delivered"),
        Status(30, "Numéro non attribué", True, "not_delivered"),
        Status(31, "Mobile non disponible", True, "not_delivered"),
        Status(32, "SMS rejeté", True, "not_delivered"),
        Status(13, "Refus opérateur", True, "not_delivered"),
        Status(27, "Rejet opérateur", True, "not_delivered"),
        Status(22, "Message expiré", True, "not_delivered"),
        Status(23, "Message supprimé", True, "not_delivered"),
        Status(26, "Erreur inconnue", True, "errors"),
        Status(2, "Numéro mal formaté", False, "invalid"),
        Status(3, "Destination non autorisée", False, "not_allowed"),
        Status(5, "Erreur de personnalisation", False, "errors"),
        Status(6, "Caractère UCS2 non autorisé", False, "errors"),
        Status(7, "Message trop long", False, "errors"),
        Status(8, "Crédit insuffisant", False, "errors"),
        Status(12, "Erreur de traitement", False, "errors"),
        Status(4, "Doublons", False, "duplicates"),
        Status(19, "Tarif manquant", False, "errors"),
        Status(14, "Destinataire dans votre blacklist", False, "blacklisted"),
        Status(15, "Destinataire dans notre blacklist globale", False, "blacklisted"),
        Status(18, "Destinataire dans la blacklist de votre client", False, "blacklisted"),
    ]
}

# Pre-send statuses in the order they are decided: the first that applies wins.
PRE_SEND_PRECEDENCE = (2, 3, 4, 14, 15, 18, 5, 6, 7, 8)
INVALID, NOT_ALLOWED, DUPLICATE = 2, 3, 4
BLACKLIST_OWN, BLACKLIST_GLOBAL, BLACKLIST_CLIENT = 14, 15, 18
PERSONALISATION_ERROR, UCS2_NOT_ALLOWED, TOO_LONG, NO_CREDIT = 5, 6, 7, 8


def status_text(code: int) -> str:
    return STATUSES[code].text
