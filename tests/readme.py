"""README.md read as the tests read it: its sections, its fenced blocks, the `smsflow` command lines it shows.

The README is the newcomer's first hour (issue 10): its walkthrough is run as written, and every command line
anywhere in it is checked against the real command tree, so the text cannot drift from the code again.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from helpers import ROOT

README = ROOT / "README.md"
WALKTHROUGH = "Run a campaign of your own"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>\w*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                    re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    lang: str
    body: str


def section(title: str, text: str | None = None) -> str:
    """The text under the `## title` heading, up to the next `## ` heading."""
    text = README.read_text(encoding="utf-8") if text is None else text
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise AssertionError(f"README.md has no '## {title}' section")
    return match.group(1)


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of `text`, in order, their indentation removed (blocks inside list items)."""
    found = []
    for match in _FENCE.finditer(text):
        indent = len(match.group("indent"))
        body = "\n".join(line[indent:] if line[:indent].strip() == "" else line
                         for line in match.group("body").splitlines())
        found.append(Block(match.group("lang"), body + "\n"))
    return found


def file_blocks(text: str) -> dict[str, str]:
    """Blocks that are files to write: a yaml/csv/text block whose first line is a comment naming its path."""
    files = {}
    for block in blocks(text):
        first = block.body.splitlines()[0] if block.body.strip() else ""
        named = re.match(r"^#\s*(?P<path>[\w./-]+\.(?:ya?ml|csv|txt))\s*$", first)
        if block.lang in ("yaml", "yml", "csv", "text") and named:
            files[named.group("path")] = block.body
    return files


def script(text: str) -> str:
    """The bash blocks of `text`, in order, as one script."""
    return "".join(block.body for block in blocks(text) if block.lang in ("bash", "sh", "shell"))


def command_lines(text: str) -> list[list[str]]:
    """Every `smsflow …` command line shown anywhere in `text` (bash blocks and `inline code`), as arguments
    after `smsflow`, comments and shell plumbing (&, |, redirections, $(...)) cut off."""
    candidates = [line for block in blocks(text) if block.lang in ("bash", "sh", "shell")
                  for line in block.body.splitlines()]
    candidates += re.findall(r"`([^`\n]*\bsmsflow [^`\n]*)`", text)
    found = []
    for line in candidates:
        line = re.sub(r"\s+#.*$", "", line)
        match = re.search(r"(?:^|[\s/])smsflow\s+(?P<rest>[^&|;><]*)", line)
        if not match or match.group("rest").strip() == "":
            continue
        try:
            words = shlex.split(match.group("rest"))
        except ValueError:  # a fragment of prose in backticks
            continue
        if words and re.match(r"^[a-z][a-z-]*$", words[0]):
            found.append(words)
    return found


def readme_path() -> Path:
    return README
