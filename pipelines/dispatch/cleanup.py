"""Closing what a send opened, last first, without letting a cleanup error hide the error that ended it."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class Cleanup:
    """Closes what a send opened, last opened first; a cleanup error never hides the error that ended the send.

    With no error in flight the first cleanup error is raised once every step has run; with one, cleanup errors
    are only logged, so the person reads why the send stopped (a refused bind), not a consequence of it."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], None]] = []

    def push(self, step: Callable[[], None]) -> None:
        self._steps.append(step)

    def __enter__(self) -> Cleanup:
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        failed: Exception | None = None
        for step in reversed(self._steps):
            try:
                step()
            except Exception as cleanup_error:  # noqa: BLE001 - every step runs, whatever an earlier one raised
                if error is None and failed is None:
                    failed = cleanup_error
                else:
                    log.warning("while closing after %s: %s: %s", error or failed, type(cleanup_error).__name__,
                                cleanup_error)
        if failed is not None:
            raise failed
        return False
