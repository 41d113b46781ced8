"""The rows a sender's bind processes send, as they name them on their locks (file or advisory, PLUS-1)."""

from __future__ import annotations

import re

ROWS_SCOPE = re.compile(r"rows-(\d+)-(\d+)")


def scope_of(rows: range | None) -> str:
    """The name a sender's bind processes put on their locks: the plan rows they send."""
    return "all" if rows is None else f"rows-{rows.start}-{rows.stop}"


def overlaps(scope: str, rows: range | None) -> bool:
    """Whether bind processes of `scope` may send any of `rows` (None: the whole plan)."""
    match = ROWS_SCOPE.fullmatch(scope)
    if rows is None or match is None:  # the whole plan, or a name this version does not know: assume they may
        return True
    return int(match[1]) < rows.stop and rows.start < int(match[2])
