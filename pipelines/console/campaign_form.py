"""The campaign form ⇄ the campaign spec (CAMP-1, CAMP-2): the Airflow trigger form's fields, in French groups.

The fields come from `pipelines.spec.form.trigger_form()` (the same JSON schema as the Airflow form), so a field
added to the spec shows here too; `spec_from_form` turns the values back into the spec that `campaigns.create`
validates, exactly as the CLI's. Lists are the one part drawn by hand: uploaded files, saved lists, typed numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from pipelines.console.web import paris_time, whole_number
from pipelines.spec import SpecError
from pipelines.spec.form import FLATTENED, spec_from_form, trigger_form

# The form's French groups, in the order a person fills a campaign in; "Listes" is drawn by hand.
SECTIONS: dict[str, tuple[str, ...]] = {
    "Campagne": ("name", "type", "billing_code", "description"),
    "Listes": ("lists", "saved_lists", "recipients"),
    "Expéditeur": ("sender",),
    "Message": ("message", "defaults"),
    "Options": ("ucs2", "emojis", "replace_non_gsm7", "max_parts", "allow_empty_fields", "in_flight", "holdout",
                "holdout_seed", "countries", "credit_budget", "send_window", "max_invalid_share"),
    "Suivi des liens": ("track_links", "tracking_domain", "link_lifetime_days", "preview_title",
                        "preview_description", "preview_image"),
    "Date d'envoi": ("send_at",),
    "Numéros de test": ("test_numbers", "test_row"),
    "Validation": ("approval",),
}
OTHERS = "Autres réglages"  # a spec field no group names yet still shows, under this title
SESSION_FIELDS = ("account",)  # the account is the person's, never a form field (ACC-3)
LIST_FIELDS = ("lists", "saved_lists", "recipients")
LABELS = {
    "name": "Nom de la campagne", "type": "Type", "lists": "Fichiers de contacts", "saved_lists": "Listes enregistrées",
    "message": "Message", "sender": "Expéditeur", "send_at": "Date et heure d'envoi (heure de Paris)",
    "test_numbers": "Numéros de test", "test_row": "Ligne de la liste pour personnaliser le test",
    "billing_code": "Code de facturation", "description": "Description", "recipients": "Numéros saisis",
    "defaults": "Valeurs par défaut des champs", "ucs2": "Activer tous les caractères (UCS2)",
    "emojis": "Autoriser les emojis", "replace_non_gsm7": "Remplacer les caractères non GSM7",
    "max_parts": "Nombre maximum de SMS par message", "allow_empty_fields": "Envoyer quand un champ est vide",
    "in_flight": "Messages en vol quand un envoi s'arrête", "holdout": "Groupe témoin (%)",
    "holdout_seed": "Graine du groupe témoin", "countries": "Pays autorisés", "credit_budget": "Budget de crédits",
    "send_window": "Plage d'envoi", "track_links": "Raccourcir et suivre les liens",
    "tracking_domain": "Domaine des liens courts", "link_lifetime_days": "Durée de vie des liens (jours)",
    "preview_title": "Titre de l'aperçu", "preview_description": "Description de l'aperçu",
    "preview_image": "Image de l'aperçu", "max_invalid_share": "Part maximale de numéros invalides",
    "approval": "Validation",
}
HELP = {
    "name": "Le nom vu dans la validation, les rapports et « smsflow campaigns » (CAMP-1).",
    "sender": "11 caractères au plus : lettres sans accent, chiffres, espaces ; pas un numéro. Vide : 36184 (MSG-1).",
    "message": "${Champ} insère une colonne de la liste (ex. ${Prénom}). Un message marketing contient la mention "
               "STOP 36184 (MSG-2, MSG-3).",
    "defaults": "Une ligne par champ : Champ = valeur, utilisée quand la valeur est vide (MSG-4).",
    "recipients": "Un numéro par ligne, éventuellement suivi de champs : 0612345678; Prénom=Anne (LIST-5).",
    "test_numbers": "Mobiles qui reçoivent le message personnalisé avant l'envoi réel, séparés par des virgules "
                    "(SEND-3).",
    "countries": "Codes ISO séparés par des virgules, ex. FR, BE (NUM-2).",
    "send_at": "Vide : dès la validation. Un marketing attend de toute façon la plage d'envoi (SEND-1, SEND-2).",
    "max_invalid_share": "0,2 = l'envoi s'arrête avant de commencer si plus de 20 % des numéros sont invalides "
                         "(PLUS-3).",
    "max_parts": "Au-delà, le message n'est pas envoyé : statut 7 (ENC-5).",
    "type": "Marketing : envoyé dans la plage légale (lun.–sam. 08:00–20:00 à l'heure de chaque destinataire) avec "
            "la mention STOP 36184 ; notification : transactionnelle, à toute heure (SEND-2, MSG-2).",
    "billing_code": "Votre référence, reprise dans les rapports.",
    "description": "Une note pour vos collègues, affichée dans les rapports.",
    "ucs2": "Envoie accents et symboles hors de l'alphabet GSM tels quels ; un SMS contient alors 70 caractères au "
            "lieu de 160 (ENC-2).",
    "emojis": "Transforme les émoticônes comme ;-) en emoji ; demande l'option UCS2 (ENC-3).",
    "replace_non_gsm7": "Remplace les caractères courants absents de l'alphabet GSM (ç → c, “ → \") pour garder "
                        "160 caractères par SMS (ENC-4).",
    "allow_empty_fields": "Envoie aussi aux destinataires dont un ${Champ} est vide et sans valeur par défaut ; "
                          "sinon ils ne reçoivent rien : statut 5 (MSG-4).",
    "in_flight": "Retenus : jamais envoyés deux fois ; renvoyés : au moins une fois. Par défaut : retenus pour le "
                 "marketing, renvoyés pour les notifications (SEND-7).",
    "holdout": "Part des destinataires gardée sans envoi pour mesurer l'effet de la campagne : statut 41 (PLUS-7).",
    "holdout_seed": "Choisit le groupe témoin : même graine et même liste, mêmes personnes ; vide : le nom de la "
                    "campagne (PLUS-7).",
    "credit_budget": "Au plus ce nombre de crédits pour cette campagne, dans le solde du compte ; vide : le solde "
                     "(SEND-5, ACC-2).",
    "send_window": "Quand les messages marketing partent, à l'heure de chaque destinataire, jamais les jours "
                   "fériés ; jamais plus large que celle du compte (SEND-2, ACC-2).",
    "track_links": "Chaque lien du message part en lien court de 19 caractères, propre à chaque destinataire ; "
                   "clics et aperçus sont comptés (URL-1…5). Remplir un champ ci-dessous l'active aussi.",
    "tracking_domain": "Le domaine des liens courts (10 caractères au plus) ; vide : celui du compte (URL-1, URL-5).",
    "link_lifetime_days": "Les liens ne redirigent plus ce nombre de jours après la préparation (URL-3).",
    "preview_title": "Obligatoire pour un aperçu : 40 caractères au plus une fois personnalisé (URL-4).",
    "preview_description": "Obligatoire pour un aperçu : 80 caractères au plus une fois personnalisé (URL-4).",
    "preview_image": "Une image JPG ou PNG du bucket, moins de 300 ko, 600×280 conseillé (URL-4).",
    "test_row": "Le destinataire qui personnalise le test : 1 = la première ligne des listes (SEND-3).",
    "approval": "Manuelle : une personne valide le test avant l'envoi réel ; auto : envoi sans personne, pour "
                "une automatisation programmée, inscrit au journal (SEND-3).",
}
CHOICES = {
    "type": {"marketing": "Marketing (plage d'envoi, mention STOP)",
             "notification": "Notification (transactionnel, à toute heure)"},
    "approval": {"manual": "Une personne valide le test (manuelle)",
                 "auto": "Sans validation : automatisation programmée (auto)"},
    "in_flight": {"": "Selon le type", "hold": "Les retenir (jamais envoyés deux fois)",
                  "resend": "Les renvoyer (au moins une fois)"},
    "send_window": {"": "La plage du compte", "seed": "Lun–sam 08:00–20:00 (seed)",
                    "charter-2024": "08:00–22:00 (charter-2024)",
                    "charter-2026": "08:00–21:30 à partir du 1er mars 2026 (charter-2026)"},
}
TEXTAREAS = ("message", "description", "defaults", "recipients")
SAVED_LIST = re.compile(r"^[^:]+(:[1-9][0-9]{0,8})?$")  # a version int() reads at once
MAX_INTEGER = 10**15  # beyond it an integer field stays text, which the spec's validation names (CAMP-2)
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # a datetime-local input's value


@dataclass
class FieldView:
    """One form field as a template draws it: its widget, its value as text, its problems."""

    name: str
    label: str
    kind: str  # text, textarea, checkbox, select, number, datetime, lines
    value: Any = None
    help: str = ""
    choices: dict[str, str] = field(default_factory=dict)
    minimum: Any = None
    maximum: Any = None
    step: str | None = None
    errors: list[str] = field(default_factory=list)


def _types(schema: dict) -> set[str]:
    kind = schema.get("type", "string")
    return {kind} if isinstance(kind, str) else set(kind)


def _kind(name: str, schema: dict) -> str:
    types = _types(schema)
    if name in TEXTAREAS or "object" in types:
        return "textarea"
    if "boolean" in types:
        return "checkbox"
    if "enum" in schema:
        return "select"
    if types & {"integer", "number"}:
        return "number"
    if schema.get("format") == "date-time":
        return "datetime"
    if "array" in types:
        return "lines"
    return "text"


@lru_cache(maxsize=1)
def form_schema() -> dict[str, dict]:
    """The trigger form's fields (the Airflow form's JSON schema), without the session's own."""
    return {name: schema for name, schema in trigger_form().items() if name not in SESSION_FIELDS}


def sections() -> dict[str, tuple[str, ...]]:
    """The French groups, every form field in one: those no group names go last, under OTHERS."""
    placed = {name for names in SECTIONS.values() for name in names}
    others = tuple(name for name in form_schema() if name not in placed)
    return {**SECTIONS, **({OTHERS: others} if others else {})}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in re.split(r"[\r\n]+", text or "") if line.strip()]


def _pairs(text: str) -> dict[str, str]:
    """`Champ = valeur` lines (MSG-4 defaults) as a mapping; a line without `=` names a field with an empty value."""
    pairs = {}
    for line in _lines(text):
        key, _, value = line.partition("=")
        if key.strip():
            pairs[key.strip()] = value.strip()
    return pairs


def typed_recipients(text: str) -> list[dict[str, str]]:
    """LIST-5: one recipient a line, `number` or `number; Champ=valeur; ...` (the spec's `recipients`)."""
    recipients = []
    for line in _lines(text):
        mobile, *fields = [part.strip() for part in line.split(";")]
        entry = {"mobile": mobile}
        for item in fields:
            key, _, value = item.partition("=")
            if key.strip():
                entry[key.strip()] = value.strip()
        recipients.append(entry)
    return recipients


def _recipients_text(recipients: list[dict]) -> str:
    return "\n".join("; ".join([str(entry.get("mobile", ""))] + [f"{key}={value}" for key, value in entry.items()
                                                                  if key != "mobile"]) for entry in recipients)


def _value(schema: dict, kind: str, raw: Any) -> Any:
    """One posted value as the trigger form's conf holds it; a value that is not of the field's type is kept as
    text, so that the spec's validation names it (CAMP-2)."""
    text = raw.strip() if isinstance(raw, str) else ""
    if kind == "checkbox":
        return raw in ("on", "true", "1", "yes")
    if text == "":
        return None
    types = _types(schema)
    if "integer" in types:
        number = whole_number(text, lower=-MAX_INTEGER, upper=MAX_INTEGER, signed=True)
        return text if number is None else number
    if "number" in types:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return text
    if "object" in types:
        return _pairs(text)
    if "array" in types:
        return [part.strip() for part in re.split(r"[,;\r\n]+", text) if part.strip()]
    return text


def conf_from_form(form) -> dict[str, Any]:
    """The posted form as a trigger form's conf (the lists apart: `list_entries` adds them)."""
    conf: dict[str, Any] = {}
    for name, schema in form_schema().items():
        if name in LIST_FIELDS:
            continue
        conf[name] = _value(schema, _kind(name, schema), form.get(name))
    conf["saved_lists"] = [entry for entry in form.getlist("saved_lists") if SAVED_LIST.fullmatch(entry)] or None
    conf["recipients"] = typed_recipients(form.get("recipients") or "") or None
    return conf


def spec_of(conf: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """The campaign spec of a form's conf and its list files (absolute paths), as `spec_from_form` makes it."""
    spec = spec_from_form({**conf, "lists": files or None})
    saved = [item for item in spec.get("lists") or [] if isinstance(item, dict)]
    spec["lists"] = [*files, *saved]
    if not spec["lists"]:
        del spec["lists"]
    return spec


def _paris_local(value: Any) -> str:
    """A send time as a datetime-local input shows it: Paris time, to the minute."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:  # a naive send time is already Paris time (SEND-1)
        return paris_time(moment, LOCAL_INPUT)
    return moment.strftime(LOCAL_INPUT)


def values_of_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A stored spec as the form's values (the edit form): flattened fields from their place, lists apart."""
    values: dict[str, Any] = {name: spec.get(name) for name in form_schema() if name not in FLATTENED}
    for name, path in FLATTENED.items():
        node: Any = spec
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if name in form_schema() and node is not None:
            values[name] = node
    values["track_links"] = bool(spec.get("tracking"))
    lists = spec.get("lists") or []
    values["lists"] = [item for item in lists if isinstance(item, str)]
    values["saved_lists"] = [item["saved"] + (f":{item['version']}" if item.get("version") else "")
                             for item in lists if isinstance(item, dict) and "saved" in item]
    values["recipients"] = _recipients_text(spec.get("recipients") or [])
    if spec.get("send_at"):
        values["send_at"] = _paris_local(spec["send_at"])
    return values


def _shown(kind: str, value: Any) -> Any:
    if value is None:
        return "" if kind != "checkbox" else False
    if kind == "textarea" and isinstance(value, dict):
        return "\n".join(f"{key} = {item}" for key, item in value.items())
    if kind == "lines" and isinstance(value, list):
        return ", ".join(map(str, value))
    if kind == "number" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def field_views(values: dict[str, Any], errors: dict[str, list[str]] | None = None) -> dict[str, FieldView]:
    """Every form field as drawn, with `values` (a conf or `values_of_spec`) and its problems."""
    errors = errors or {}
    views = {}
    for name, schema in form_schema().items():
        kind = _kind(name, schema)
        value = values.get(name, schema.get("default"))
        choices = CHOICES.get(name) or {str(key): str(key) for key in schema.get("enum", []) if key is not None}
        maximum = schema.get("maximum", schema.get("exclusiveMaximum"))
        views[name] = FieldView(
            name=name, label=LABELS.get(name, schema.get("title", name)), kind=kind, value=_shown(kind, value),
            help=HELP.get(name, schema.get("description", "")), choices=choices, minimum=schema.get("minimum"),
            maximum=maximum, step="any" if "number" in _types(schema) else None, errors=errors.get(name, []))
    return views


# Where a problem of the spec shows: the form field of its path (longest prefix wins), else the form's top.
SPEC_PATHS = {".".join(path): name for name, path in FLATTENED.items()} | {
    "test": "test_numbers", "tracking": "track_links", "tracking.preview": "preview_title", "account": "countries"}
FRENCH = (  # the spec's English messages said in French, the first pattern that matches winning
    (r"^Field required$", "Champ obligatoire."),
    (r"^String should have at least 1 character", "Champ obligatoire."),
    (r"^String should have at most (\d+) characters?", r"Au plus \1 caractères."),
    (r"^a marketing message must contain the opt-out mention",
     "Un message marketing doit contenir la mention « STOP 36184 »."),
    (r"^a sender has at most 11 characters", "11 caractères au plus : lettres sans accent, chiffres et espaces."),
    (r"^a sender must not be a phone number", "L'expéditeur ne peut pas être un numéro ; laissez vide pour 36184."),
    (r"^a campaign needs at least one list or one manual recipient",
     "Choisissez au moins une liste, ou saisissez des numéros."),
    (r"^not a valid mobile number: (.*)$", r"Numéro de mobile invalide : \1."),
    (r"^at least one test number is required", "Donnez au moins un numéro de test."),
    (r"^send_at \S+ (\S+ \S+) \(Europe/Paris\) is outside the send window \((.*)\); next allowed time: \S+ (\S+ \S+)",
     r"Le \1 (heure de Paris) est hors de la plage d'envoi (\2) : prochaine heure permise le \3."),
    (r"^the send time is in the past", "La date d'envoi est passée : choisissez une date future, ou aucune."),
    (r"^emojis need the UCS2 option", "Les emojis demandent l'option « Activer tous les caractères (UCS2) »."),
    (r"^Input should be a valid integer", "Nombre entier attendu."),
    (r"^Input should be a valid number", "Nombre attendu."),
    (r"^Input should be (?:less than or equal to|less than) (\S+)", r"Au plus \1."),
    (r"^Input should be greater than or equal to (\S+)", r"Au moins \1."),
    (r"^Input should be a valid datetime", "Date et heure attendues (jj/mm/aaaa hh:mm)."),
    (r"^unknown ISO region code\(s\) (.*)$", r"Code pays inconnu : \1."),
)


def in_french(message: str) -> str:
    """A spec problem's message in French when it is one we know, else as the spec says it."""
    for pattern, french in FRENCH:
        found = re.search(pattern, message, flags=re.DOTALL)
        if found:
            return found.expand(french)
    return message


def form_field(path: str) -> str:
    """The form field showing a problem of spec field `path` ("" for the form's top)."""
    parts = path.split(".")
    for size in range(len(parts), 0, -1):
        prefix = ".".join(parts[:size])
        if prefix in SPEC_PATHS:
            return SPEC_PATHS[prefix]
        if size == 1 and prefix in form_schema():
            return prefix
    return ""


def problems_by_field(error: SpecError) -> dict[str, list[str]]:
    """A refused spec's problems (CAMP-2) by form field, each in French with its rule."""
    found: dict[str, list[str]] = {}
    for problem in error.problems:
        found.setdefault(form_field(problem.field), []).append(f"{in_french(problem.message)} ({problem.rule})")
    return found


def tracking_open(values: dict, message: str) -> bool:
    """Link tracking's fields show open when the message holds URLs or a tracking field is filled in (URL-1)."""
    return has_links(message) or any(values.get(name) for name in (
        "track_links", "tracking_domain", "preview_title", "preview_description", "preview_image"))


def has_links(message: str) -> bool:
    """Whether the message holds URLs (URL-1): the form then opens its link tracking fields."""
    from pipelines.links.detect import LinkError, find_urls

    try:
        return bool(find_urls(message).urls)
    except LinkError:
        return True
