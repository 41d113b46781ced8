"""Message status codes (SPEC STAT, seed annex 3): text, billing, report category, named codes and sets.

The rules from SMSC facts to codes live here once; `rule_tables()` loads them into DuckDB, where
sql/status.sql derives every status (PLUS-4) for the warehouse and for `dlr.recipient_statuses` alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


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
        Status(40, "Pression commerciale : plafond de fréquence atteint", False, "capped"),
        Status(41, "Groupe témoin, non envoyé", False, "holdout"),
    ]
}

# Pre-send statuses in the order they are decided: the first that applies wins (pipelines.plan.rules says why).
PRE_SEND_PRECEDENCE = (2, 3, 4, 14, 15, 18, 40, 5, 6, 7, 41, 8)
INVALID, NOT_ALLOWED, DUPLICATE = 2, 3, 4
BLACKLIST_OWN, BLACKLIST_GLOBAL, BLACKLIST_CLIENT = 14, 15, 18
PERSONALISATION_ERROR, UCS2_NOT_ALLOWED, TOO_LONG, NO_CREDIT = 5, 6, 7, 8
FREQUENCY_CAPPED, HOLDOUT = 40, 41  # PLUS-7: the account's frequency cap reached; the campaign's holdout group

# --- codes by name (SPEC STAT) ------------------------------------------------------------------------------
# Where the hosted product has two codes for one text, the second is `*_OTHER`.
PROCESSING, SENDING = 1, 9  # intermediate: not yet with the operator
POSTED, POSTED_OTHER, SENT = 10, 28, 24
DELIVERED_TO_HANDSET, DELIVERED_OTHER, STOP_REQUESTED = 16, 21, 17
UNDELIVERED, UNDELIVERED_OTHER, UNALLOCATED, UNALLOCATED_OTHER = 20, 25, 29, 30
UNAVAILABLE, SMS_REJECTED, OPERATOR_REFUSED, OPERATOR_REJECTED = 31, 32, 13, 27
EXPIRED, DELETED, UNKNOWN_ERROR, PROCESSING_ERROR, MISSING_RATE = 22, 23, 26, 12, 19

# --- named sets ---------------------------------------------------------------------------------------------
DELIVERED = frozenset({DELIVERED_TO_HANDSET, DELIVERED_OTHER, STOP_REQUESTED})
BILLED = frozenset(code for code, status in STATUSES.items() if status.billed)  # the message went to the operator
PENDING = frozenset(code for code, status in STATUSES.items() if status.category == "pending")  # still under way
# The plan's verdicts: final (no event changes them), never sent, never billed.
PRE_SEND = frozenset(PRE_SEND_PRECEDENCE)
# After submit: a part with one of these makes its whole message that failure (PLUS-4 roll-up).
FAILED = frozenset({UNDELIVERED, UNDELIVERED_OTHER, UNALLOCATED, UNALLOCATED_OTHER, UNAVAILABLE, SMS_REJECTED,
                    OPERATOR_REFUSED, OPERATOR_REJECTED, EXPIRED, DELETED, UNKNOWN_ERROR, PROCESSING_ERROR})

# --- the rules from SMSC facts to codes (PLUS-4, BL-2, SEND-7): loaded into DuckDB, read by sql/status.sql ---
SUBMIT_ACCEPTED = SENT  # submit_sm_resp OK
SUBMIT_REFUSED_DESTINATION = OPERATOR_REFUSED  # submit refused for the destination
SUBMIT_ERROR = PROCESSING_ERROR  # any other submit error
NO_FINAL_RECEIPT = POSTED  # accepted, no final receipt within the validity period
VALIDITY_SECONDS = 48 * 3600  # default validity period (STAT 22)
# Destination refusals among submit_sm_resp errors (SMPP 3.4 §5.1.3).
DESTINATION_ERRORS = frozenset({0x0B, 0x0C, 0x33, 0x34, 0x50, 0x51})
RECEIPT_STATUS = {
    "ACCEPTD": POSTED,  # intermediate
    "ENROUTE": SENT,  # intermediate
    "DELIVRD": DELIVERED_TO_HANDSET,
    "UNDELIV": UNDELIVERED,
    "EXPIRED": EXPIRED,
    "DELETED": DELETED,
    "REJECTD": OPERATOR_REJECTED,
    "UNKNOWN": UNKNOWN_ERROR,
}
FINAL_STATES = frozenset({"DELIVRD", "UNDELIV", "EXPIRED", "DELETED", "REJECTD", "UNKNOWN"})
STOP_KEYWORDS = frozenset({"STOP", "ARRET", "STOPALL", "DESABONNER", "UNSUBSCRIBE"})  # PLUS-6, folded (ARRÊT → ARRET)
HELD_REASON = "in flight when the sender stopped"  # SEND-7 hold: status 1, not resent; an operator may release


def status_text(code: int) -> str:
    return STATUSES[code].text


def rule_tables() -> dict[str, pa.Table]:
    """The rules above as the tables sql/status.sql reads (`status_rules`: one row; `receipt_states`)."""
    codes = pa.list_(pa.int32())
    rules = pa.table({
        "pending": pa.array([PROCESSING], pa.int32()),
        "submit_accepted": pa.array([SUBMIT_ACCEPTED], pa.int32()),
        "submit_error": pa.array([SUBMIT_ERROR], pa.int32()),
        "submit_refused_destination": pa.array([SUBMIT_REFUSED_DESTINATION], pa.int32()),
        "destination_errors": pa.array([sorted(DESTINATION_ERRORS)], codes),
        "no_final_receipt": pa.array([NO_FINAL_RECEIPT], pa.int32()),
        "validity_seconds": pa.array([VALIDITY_SECONDS], pa.float64()),
        "delivered_to_handset": pa.array([DELIVERED_TO_HANDSET], pa.int32()),
        "stop_requested": pa.array([STOP_REQUESTED], pa.int32()),
        "frequency_capped": pa.array([FREQUENCY_CAPPED], pa.int32()),
        "holdout": pa.array([HOLDOUT], pa.int32()),
        "pre_send": pa.array([sorted(PRE_SEND)], codes),
        "stop_keywords": pa.array([sorted(STOP_KEYWORDS)], pa.list_(pa.string())),
        "held_reason": pa.array([HELD_REASON], pa.string()),
        "delivered": pa.array([sorted(DELIVERED)], codes),
        "failed": pa.array([sorted(FAILED)], codes),
        "billed": pa.array([sorted(BILLED)], codes),
        "pending_codes": pa.array([sorted(PENDING)], codes),
    })
    receipts = pa.table({
        "stat": pa.array(list(RECEIPT_STATUS), pa.string()),
        "status_code": pa.array(list(RECEIPT_STATUS.values()), pa.int32()),
        "final": pa.array([stat in FINAL_STATES for stat in RECEIPT_STATUS], pa.bool_()),
    })
    return {"status_rules": rules, "receipt_states": receipts}
