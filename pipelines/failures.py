"""How a failure is told to a person: one clear line and an exit code, never a traceback, never a password.

The command line routes every exception through `explain`; `SMSFLOW_DEBUG=1` shows the traceback as well,
for a developer.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass

# user:password@ inside any URL, and password=... in a query string or settings dump
# (the look-behinds make a scan linear: a match can only start where a scheme or a word starts)
_SECRETS = (re.compile(r"(?P<keep>(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*(?=@)", re.IGNORECASE),
            re.compile(r"(?P<keep>(?<![a-z])password['\"]?\s*[=:]\s*['\"]?)[^'\"&\s,}]+", re.IGNORECASE))
_MAX_MESSAGE = 2_000


@dataclass(frozen=True)
class Failure:
    """What to print (`verdict: message`) and the process exit code."""

    verdict: str
    message: str
    exit_code: int


def redact(text: str) -> str:
    """The text with every URL password and `password=` value replaced by ***."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda match: match.group("keep") + "***", text)
    return text


def _short(text: str) -> str:
    text = redact(text)
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + f" … ({len(text) - _MAX_MESSAGE:,} more characters)"


def _os_error(error: OSError) -> str:
    if error.errno is None:  # raised with a message of ours, not by the system
        return str(error) or type(error).__name__
    where = error.filename if error.filename is not None else ""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.ENOENT: "no such file or folder",
        errno.ENOTDIR: "a path component is not a folder",
        errno.EISDIR: "it is a folder, a file was expected",
        errno.ECONNREFUSED: "connection refused",
    }
    reason = reasons.get(error.errno, error.strerror or type(error).__name__)
    return f"{where}: {reason}" if where else reason


def explain(error: BaseException) -> Failure:
    """The verdict, message and exit code for an exception raised by a command."""
    from pydantic import ValidationError

    from pipelines.dispatch import DispatchError, DispatchPaused, WindowClosed

    refusals: tuple[type[BaseException], ...] = (ValueError, LookupError)  # SpecError, ListError, ... are ValueErrors
    if isinstance(error, KeyboardInterrupt):
        return Failure("Interrupted", "stopped by the user; run the same command again to resume", 130)
    if isinstance(error, WindowClosed):
        return Failure("Paused", _short(str(error)) + "; run the same command then to resume", 4)
    if isinstance(error, (DispatchError, DispatchPaused)):
        return Failure("Stopped", _short(str(error)), 3)
    if isinstance(error, (FileNotFoundError, NotADirectoryError, IsADirectoryError)):
        # a path the person gave that is not there, or not the kind expected: theirs to fix (exit 2), not a failure
        return Failure("Refused", _short(_os_error(error)), 2)
    if isinstance(error, OSError):
        return Failure("Failed", _short(_os_error(error)), 1)
    if isinstance(error, MemoryError):
        return Failure("Failed", "out of memory", 1)
    if isinstance(error, ValidationError):
        problems = "; ".join(f"{'.'.join(str(part) for part in item['loc']) or '(input)'}: "
                             f"{item['msg'].removeprefix('Value error, ')}" for item in error.errors())
        return Failure("Refused", _short(f"{error.title}: {problems}"), 2)
    if isinstance(error, refusals):
        return Failure("Refused", _short(str(error) or type(error).__name__), 2)
    return Failure("Failed", _short(f"{type(error).__name__}: {error}"), 1)
