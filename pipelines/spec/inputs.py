"""Every problem of a campaign's inputs in one pass (CAMP-2): each list file (found, readable, a mobile column:
LIST-1, LIST-2), each blacklist file (found, readable: BL-1) and each field the message uses against the lists'
headers (MSG-3, with the nearest name: "did you mean ${Prénom}?"). Only headers are read; rows are the plan's.

`raw_input_problems` works on the spec as written, so a spec refused for its fields still gets its files
checked in the same refusal (`pipelines.spec.validate_spec` calls it); `check_inputs` checks a validated spec
again right before it is planned, its saved lists then resolved into files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipelines.lists import ListError, read_header
from pipelines.layout import original_name
from pipelines.render.template import TemplateError, referenced_fields, resolve_field, unknown_field_message
from pipelines.spec.locations import Location, confine, resolve_location
from pipelines.spec.model import CampaignSpec
from pipelines.spec.problems import Problem, SpecError
from pipelines.storage import ObjectUrl

BLACKLIST_KINDS = ("own", "global", "client")


def _locate(location: str, base: Path, roots: Sequence[Path] | None, field_path: str) -> Location:
    return resolve_location(location, base, field_path) if roots is None else confine(location, base, roots,
                                                                                      field_path)


def _shown(location: str, path: Location) -> str:
    """A location as the spec wrote it, and where that is when it differs (`..` folded, symlinks kept)."""
    where = str(path) if isinstance(path, ObjectUrl) else os.path.normpath(path)
    return location if where == location else f"{location} ({where})"


def _list_problem(location: str, path: Location, error: ListError) -> Problem:
    """A list file that cannot be planned, named as the spec wrote it and as it was found."""
    reason = str(error).removeprefix(error.file).removeprefix(": ").rsplit(" [", 1)[0]
    if error.line is not None:
        reason = reason.removeprefix(f", line {error.line}: ")
    return Problem(field="lists", value=location, rule=error.rule, message=f"{reason}: {_shown(location, path)}")


def _blacklist_problem(kind: str, location: str, path: Location) -> Problem | None:
    """BL-1: a blacklist file (or object) that is missing or cannot be read; its rows are read when planned."""
    from pipelines import storage

    field_path, shown = f"account.blacklists.{kind}", _shown(location, path)
    if isinstance(path, Path) and not path.is_file():
        return Problem(field=field_path, value=location, rule="BL-1", message=f"blacklist file not found: {shown}")
    try:
        storage.read_head(path, 1)
    except FileNotFoundError:
        return Problem(field=field_path, value=location, rule="BL-1", message=f"blacklist file not found: {shown}")
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        return Problem(field=field_path, value=location, rule="BL-1",
                       message=f"cannot read the blacklist file: {reason}: {shown}")
    return None


def input_problems(lists: Sequence[Any], blacklists: Mapping[str, Any], message: Any,
                   recipients: Sequence[Any], base: Path, roots: Sequence[Path] | None = None) -> list[Problem]:
    """Every problem of the files a campaign reads and of the fields its message uses, none opened beyond its
    first bytes. `lists`: file locations (a saved list, not a file yet, is skipped, and so is the field check:
    its columns are the store's). With `roots`, a location outside them is left to the spec's own check (and
    is not opened)."""
    problems: list[Problem] = []
    fields: list[str] = []
    saved = not all(isinstance(item, str) for item in lists)  # its columns are the store's: fields not checked
    unread = False  # a list not read: the spec is refused anyway, its fields are checked against the others
    for location in lists:
        if not isinstance(location, str):
            continue
        try:
            path = _locate(location, base, roots, "lists")
            columns, mobile = read_header(path)
        except SpecError as error:
            problems.extend(error.problems if roots is None else [])
            unread = True
            continue
        except ListError as error:
            problems.append(_list_problem(location, path, error))
            unread = True
            continue
        fields += [original_name(column) for column in columns if column != mobile]
    for entry in recipients:
        if isinstance(entry, Mapping):
            fields += [original_name(str(key)) for key in entry if key != "mobile"]
    known = None if saved or (unread and not fields) else list(dict.fromkeys(fields))  # none read: no check
    problems += _field_problems(message, known, unread)
    for kind, location in blacklists.items():
        if isinstance(location, str) and location:
            try:
                path = _locate(location, base, roots, f"account.blacklists.{kind}")
            except SpecError as error:
                problems.extend(error.problems if roots is None else [])  # with roots, the spec's check names it
                continue
            problems.extend(problem for problem in [_blacklist_problem(kind, location, path)] if problem)
    return problems


def _field_problems(message: Any, fields: list[str] | None, unread: bool = False) -> list[Problem]:
    """MSG-3, MSG-5: a Jinja2 syntax error, and each field no list has (`fields` None: not known, unchecked;
    `unread`: some list could not be read, so the field may be there)."""
    if not isinstance(message, str):
        return []
    try:
        names = referenced_fields(message)
    except TemplateError as error:
        return [Problem(field="message", value=message, rule=error.rule,
                        message=str(error).removeprefix("message: ").rsplit(" [", 1)[0])]
    if fields is None:
        return []
    return [Problem(field="message", value=f"${{{name}}}", rule="MSG-3",
                    message=unknown_field_message(name, fields, "fields of the lists that could be read" if unread
                                                  else "fields available"))
            for name in names if resolve_field(name, fields) is None]


def raw_input_problems(raw: Mapping[str, Any], base: Path, roots: Sequence[Path] | None = None) -> list[Problem]:
    """`input_problems` of a spec as written (a mapping not yet validated): what it names is checked as far as it
    can be read, whatever else the spec gets wrong."""
    lists = raw.get("lists") if isinstance(raw.get("lists"), list) else []
    account = raw.get("account") if isinstance(raw.get("account"), Mapping) else {}
    blacklists = account.get("blacklists") if isinstance(account.get("blacklists"), Mapping) else {}
    recipients = raw.get("recipients") if isinstance(raw.get("recipients"), list) else []
    return input_problems([item for item in lists if isinstance(item, (str, Mapping))], blacklists,
                          raw.get("message"), recipients, base, roots)


def check_inputs(spec: CampaignSpec, base: Path, roots: Sequence[Path] | None = None,
                 source: str = "spec") -> None:
    """A SpecError naming every problem of the files `spec` reads and the fields its message uses (CAMP-2)."""
    blacklists = {kind: getattr(spec.account.blacklists, "global_" if kind == "global" else kind)
                  for kind in BLACKLIST_KINDS}
    problems = input_problems(spec.lists, blacklists, spec.message, spec.recipients, base, roots)
    if problems:
        raise SpecError(problems, source)
