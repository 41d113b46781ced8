"""A spec checked whole (CAMP-2): the model's field rules plus the rules that tie fields together, the send
time (SEND-1, SEND-2) and the locations; every problem at once."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pipelines.spec.locations import location_problems
from pipelines.spec.model import LIST_FILE, PARIS, SAVED_LIST, STOP_MENTION, CampaignSpec
from pipelines.spec.problems import Problem, SpecError, rule_for
from pipelines.storage import location

LIST_ENTRY_TAGS = (LIST_FILE, SAVED_LIST)  # which kind of `lists` entry failed: not a field, left out of paths
SEND_AT_TOLERANCE = timedelta(minutes=1)  # SEND-1: a send time this close behind "now" still means "now"


def _cross_field_problems(raw: dict[str, Any]) -> list[Problem]:
    """Rules that tie fields together, checked on the raw input so they show even when other fields fail."""
    problems = []
    message = raw.get("message")
    if raw.get("type", "marketing") == "marketing" and isinstance(message, str) and not STOP_MENTION.search(message):
        problems.append(Problem(field="message", value=message, rule="MSG-2",
                                message="a marketing message must contain the opt-out mention 'STOP 36184'"))
    options = raw.get("options") if isinstance(raw.get("options"), dict) else {}
    if options.get("emojis") is True and options.get("ucs2") is not True:
        problems.append(Problem(field="options.emojis", value=True, rule="ENC-3",
                                message="emojis need the UCS2 option (options.ucs2: true)"))
    account = raw.get("account") if isinstance(raw.get("account"), dict) else {}
    if raw.get("type", "marketing") == "marketing" and raw.get("send_at"):
        problems.extend(_window_problems(raw["send_at"], account.get("send_window", "seed")))
    if raw.get("tracking") and isinstance(message, str):
        from pipelines.links.detect import LinkError, find_urls

        try:
            find_urls(message)
        except LinkError as error:
            problems.append(Problem(field="message", value=message, rule=error.rule,
                                    message=str(error).removeprefix("message: ").rsplit(" [", 1)[0]))
    if not raw.get("lists") and not raw.get("recipients"):
        problems.append(Problem(field="lists", value=raw.get("lists"), rule="LIST-4",
                                message="a campaign needs at least one list or one manual recipient"))
    return problems


def _moment(value: Any) -> datetime | None:
    """A send time as the spec gives it, aware (Europe/Paris when it has no offset); None when malformed."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return None  # the field checks report a malformed date
    return moment.replace(tzinfo=PARIS) if moment.tzinfo is None else moment


def _past_problems(send_at: Any, now: datetime) -> list[Problem]:
    """SEND-1: a send time already gone (beyond SEND_AT_TOLERANCE) when the spec is submitted at `now`."""
    moment = _moment(send_at)
    now = now.replace(tzinfo=PARIS) if now.tzinfo is None else now
    if moment is None or moment >= now - SEND_AT_TOLERANCE:
        return []
    return [Problem(field="send_at", value=str(send_at), rule="SEND-1",
                    message=f"the send time is in the past (now is {now.astimezone(PARIS):%d/%m/%Y %H:%M} "
                            "Europe/Paris); give a later time, or none to send at once")]


def _window_problems(send_at: Any, window: Any) -> list[Problem]:
    """SEND-2: a marketing send scheduled outside the legal window, with the next allowed time."""
    from pipelines.window import WindowError, check_send_at, policy

    moment = _moment(send_at)
    try:
        rules = policy(str(window))
    except ValueError:
        return []  # the field checks report an unknown policy
    if moment is None:
        return []
    try:
        check_send_at(rules, moment)
    except WindowError as error:
        return [Problem(field="send_at", value=str(send_at), rule="SEND-2", message=str(error).rsplit(" [", 1)[0])]
    return []


def _model_at(parts: Sequence[str]) -> type[BaseModel] | None:
    """The spec's model that holds the fields below `parts` (`options` → Options), or None."""
    model: type[BaseModel] | None = CampaignSpec
    for part in parts:
        field = next((field for name, field in model.model_fields.items() if part in (name, field.alias)), None)
        if field is None:
            return None
        model = _submodel(field.annotation)
        if model is None:
            return None
    return model


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((found for arg in typing.get_args(annotation) if (found := _submodel(arg))), None)


def _unknown_field(path: str) -> str:
    """CAMP-2: a field the spec does not have, with the nearest one at its level (`mesage` → `message`)."""
    *parents, name = path.split(".")
    model = _model_at(parents)
    names = [field.alias or key for key, field in model.model_fields.items()] if model else []
    close = difflib.get_close_matches(name.casefold(), names, n=1, cutoff=0.6)
    return f"unknown field — did you mean {'.'.join([*parents, close[0]])!r}?" if close else "unknown field"


def validate_spec(raw: Any, source: str = "spec", *, now: datetime | None = None,
                  roots: Sequence[Path] | None = None, base: Path | None = None,
                  check_files: bool = True) -> CampaignSpec:
    """The spec, or a SpecError listing every problem (field, value, rule).

    `now`: the submission time; a `send_at` before it is refused (SEND-1). Leave it None when re-reading a
    spec accepted earlier, whose send time may since have passed. `roots`: when given, every list and
    blacklist must resolve inside one of them (paths relative to `base`, by default the first root).
    With `base` (the folder the spec's locations are relative to) and `check_files`, the files it names are
    checked too, in the same refusal: each list (found, a mobile column), each blacklist, and each field of
    the message against the lists' headers (`pipelines.spec.inputs`; headers only, no row is read).
    """
    if not isinstance(raw, dict):
        raise SpecError([Problem(field="(spec)", rule="CAMP-2",  # the content is not echoed: it may be any file
                                 message=f"a campaign spec is a mapping of fields, not a {type(raw).__name__}")],
                        source)
    problems = _cross_field_problems(raw)
    if now is not None and raw.get("send_at"):
        problems.extend(_past_problems(raw["send_at"], now))
    if roots is not None:
        problems.extend(location_problems(raw, location(base) if base else Path(roots[0]) if roots else Path.cwd(),
                                           roots))
    spec = None
    try:
        spec = CampaignSpec.model_validate(raw)
    except ValidationError as error:
        for item in error.errors():
            path = ".".join(str(part) for part in item["loc"]
                            if not isinstance(part, int) and part not in LIST_ENTRY_TAGS) or "(spec)"
            path = path.replace("global_", "global")
            message = item["msg"].removeprefix("Value error, ")
            value = item.get("input")
            if item["type"] == "extra_forbidden":
                message = _unknown_field(path)
            elif item["type"] == "missing":
                value = None
            problems.append(Problem(field=path, value=value, rule=rule_for(path), message=message))
    if base is not None and check_files:
        from pipelines.spec.inputs import raw_input_problems

        problems.extend(raw_input_problems(raw, location(base), roots))
        from pipelines.spec.tracking import image_problems

        problems.extend(image_problems(raw, location(base), roots))
    if problems:
        raise SpecError(problems, source)
    assert spec is not None
    return spec
