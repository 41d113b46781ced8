"""A message template resolved against the list columns (MSG-3): `${Field}` parts, or a Jinja2 template
compiled in the bounded sandbox (MSG-5)."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from pipelines.render.sandbox import bound_tree, bounded_environment
from pipelines.spec.problems import clip

FIELD = re.compile(r"\$\{([^{}]*)\}")
_JINJA_MARKERS = ("{{", "{%", "{#")


class TemplateError(ValueError):
    """A message that cannot be personalised from the lists: names the field, the columns and the rule."""

    def __init__(self, message: str, rule: str, field_name: str | None = None):
        self.rule, self.field = rule, field_name
        super().__init__(f"message: {message} [{rule}]")


@dataclass
class Template:
    """A message template resolved against the list columns."""

    source: str
    literal_parts: list[str] = field(default_factory=list)  # ${} mode: text around the fields
    field_parts: list[str] = field(default_factory=list)  # ${} mode: the field between two literal parts
    jinja: Any = None  # a jinja2.Template (Jinja2 is imported only for templates that use it)
    jinja_fields: list[str] = field(default_factory=list)  # columns the Jinja part uses
    strict_fields: list[str] = field(default_factory=list)  # fields written ${Field}: empty → status 5 (MSG-4)

    @property
    def fields(self) -> list[str]:
        return list(dict.fromkeys(self.field_parts + self.jinja_fields))


def _folded(name: str) -> str:
    """A name as a person may mistype it: accents, case and surrounding spaces ignored."""
    decomposed = unicodedata.normalize("NFKD", name.strip())
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def nearest_field(name: str, columns: list[str]) -> str | None:
    """The column a mistyped field name most likely means: the one equal but for accents and case, else the
    closest spelling (difflib), else None."""
    folded = {_folded(column): column for column in reversed(columns)}
    if _folded(name) in folded:
        return folded[_folded(name)]
    close = difflib.get_close_matches(_folded(name), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def unknown_field_message(name: str, columns: list[str], known_as: str = "fields available") -> str:
    """MSG-3's refusal of a field no list has, with the nearest name when there is one."""
    guess = nearest_field(name, columns)
    hint = f" — did you mean ${{{guess}}}?" if guess else ""
    return f"unknown field ${{{name}}}{hint} ({known_as}: {', '.join(columns) or 'none'})"


def resolve_field(name: str, columns: list[str]) -> str | None:
    """A field name as written in the message → the list column (exact, else case-insensitive if unique)."""
    name = name.strip()
    if name in columns:
        return name
    folded = [column for column in columns if column.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def _resolve(name: str, columns: list[str]) -> str:
    resolved = resolve_field(name, columns)
    if resolved is None:
        raise TemplateError(unknown_field_message(name.strip(), columns), "MSG-3", name.strip())
    return resolved


def referenced_fields(source: str) -> list[str]:
    """Every field name a message uses, as written (`${Field}` and the variables of its Jinja2 part), in order
    of first use; a Jinja2 syntax error is a TemplateError (MSG-5). Nothing is resolved against a list."""
    names = [match.group(1).strip() for match in FIELD.finditer(source)]
    if any(marker in source for marker in _JINJA_MARKERS):
        import jinja2
        import jinja2.meta

        environment = bounded_environment()
        jinja_source = FIELD.sub(lambda match: "{{ __field }}", source)
        try:
            parsed = environment.parse(jinja_source)
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(f"Jinja2 syntax error line {error.lineno}: {clip(str(error.message))}", "MSG-5") \
                from None
        used = [name for name in jinja2.meta.find_undeclared_variables(parsed)
                if name != "__field" and name not in environment.globals]
        names += sorted(used, key=lambda name: (jinja_source.find(name), name))  # as the message reads
    return list(dict.fromkeys(names))


def compile_template(source: str, columns: list[str]) -> Template:
    """Resolve every field of the message against the columns (MSG-3); unknown fields are an error."""
    template = Template(source)
    if any(marker in source for marker in _JINJA_MARKERS):
        # ${Field} inside a Jinja template becomes a variable, so both syntaxes mix.
        names: list[str] = []

        def to_variable(match: re.Match) -> str:
            names.append(_resolve(match.group(1), columns))
            return "{{ __field_%d }}" % (len(names) - 1)

        import jinja2
        import jinja2.meta

        jinja_source = FIELD.sub(to_variable, source)
        environment = bounded_environment()
        try:
            parsed = environment.parse(jinja_source)
            used = sorted(
                name for name in jinja2.meta.find_undeclared_variables(parsed)
                if not name.startswith("__field_") and name not in environment.globals
            )
            template.jinja = environment.from_string(bound_tree(parsed))
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(f"Jinja2 syntax error line {error.lineno}: {clip(str(error.message))}", "MSG-5") \
                from None
        template.jinja_fields = list(dict.fromkeys(names + [_resolve(name, columns) for name in used]))
        template.strict_fields = list(dict.fromkeys(names))
        template.field_parts = names
        return template
    position = 0
    for match in FIELD.finditer(source):
        template.literal_parts.append(source[position:match.start()])
        template.field_parts.append(_resolve(match.group(1), columns))
        position = match.end()
    template.literal_parts.append(source[position:])
    template.strict_fields = list(dict.fromkeys(template.field_parts))
    return template
