"""URL-1, URL-2: the URLs of a message template, found by linkify-it's rules (schemes, bare domains of known
top-level domains, trailing punctuation left out), fields inside a URL kept as part of it.

Before detection each `${Field}` and `{{ Field }}` becomes a run of letters, so `https://x.fr/id=${ID}` is one
URL whatever the field's name holds (spaces, accents); e-mail addresses are not links. Each URL, in message
order, becomes `${track_n}` (the same URL twice is two links: n counts occurrences, one short link each).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_MARKER = re.compile(r"\$\{[^{}]*\}|\{\{.*?\}\}", re.DOTALL)
_JINJA_VARIABLE = re.compile(r"^\{\{\s*([^\W\d]\w*)\s*\}\}$")
_SCHEMES = ("http:", "https:", "")  # "" is a bare domain (www.monsite.com); mailto:, ftp: … are not tracked


class LinkError(ValueError):
    """A URL of the message that cannot be tracked: names it and the rule."""

    def __init__(self, message: str, rule: str = "URL-2"):
        self.rule = rule
        super().__init__(f"message: {message} [{rule}]")


@dataclass(frozen=True)
class TrackedUrl:
    """One URL of the message: `${track_n}`'s target as written (fields as `${Field}`) and where it was."""

    n: int
    source: str  # the URL as the message writes it, a `{{ Field }}` rewritten `${Field}`
    start: int
    end: int
    scheme_added: bool  # a bare domain (www.x.fr): the target gets http://, as linkify-it normalises it

    @property
    def target_template(self) -> str:
        """The target personalised per recipient (URL-2): a `${Field}` template."""
        return ("http://" if self.scheme_added else "") + self.source


@dataclass(frozen=True)
class TrackedMessage:
    """The message with each URL replaced, and the URLs in message order."""

    source: str
    urls: tuple[TrackedUrl, ...]

    @property
    def template(self) -> str:
        """The message as the plan renders it, each URL as `${track_n}` (URL-1)."""
        return self.replaced([f"${{track_{url.n}}}" for url in self.urls])

    def replaced(self, texts: list[str]) -> str:
        """The message with the n-th URL replaced by `texts[n - 1]`."""
        pieces, position = [], 0
        for url, text in zip(self.urls, texts):
            pieces += [self.source[position:url.start], text]
            position = url.end
        return "".join(pieces) + self.source[position:]


@lru_cache(maxsize=1)
def _linkify():
    from linkify_it import LinkifyIt

    return LinkifyIt()


def _masked(source: str) -> tuple[str, list[int], list[int]]:
    """The source with every field marker as letters (`qzfield0zq`), and for each masked character where it
    starts and ends in the source (a mask's characters all cover their whole marker)."""
    pieces, starts, ends, position = [], [], [], 0
    for index, match in enumerate(_MARKER.finditer(source)):
        mask = f"qzfield{index}zq"
        pieces += [source[position:match.start()], mask]
        starts += [*range(position, match.start()), *[match.start()] * len(mask)]
        ends += [*range(position + 1, match.start() + 1), *[match.end()] * len(mask)]
        position = match.end()
    pieces.append(source[position:])
    starts += range(position, len(source))
    ends += range(position + 1, len(source) + 1)
    return "".join(pieces), starts, ends


def _field_syntax(url: str) -> str:
    """`{{ Field }}` inside a URL as `${Field}`; any other Jinja2 inside a URL cannot be encoded safely."""
    def plain(match: re.Match) -> str:
        text = match.group(0)
        if text.startswith("${"):
            return text
        variable = _JINJA_VARIABLE.fullmatch(text)
        if variable is None:
            raise LinkError(f"{text} inside the URL {url!r}: only a field (${{Field}} or {{{{ Field }}}}) can "
                            "personalise a tracked URL, its value URL-encoded")
        return f"${{{variable.group(1)}}}"

    return _MARKER.sub(plain, url)


def find_urls(source: str) -> TrackedMessage:
    """Every URL of a message template, in order (URL-1); fields inside a URL stay in it (URL-2)."""
    masked, starts, ends = _masked(source)
    urls: list[TrackedUrl] = []
    for match in _linkify().match(masked) or []:
        if match.schema not in _SCHEMES:
            continue
        start, end = starts[match.index], ends[match.last_index - 1]
        text = source[start:end]
        urls.append(TrackedUrl(len(urls) + 1, _field_syntax(text), start, end, match.schema == ""))
    return TrackedMessage(source, tuple(urls))
