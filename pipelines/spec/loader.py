"""A YAML spec file read within bounds: its size, its aliases and their expansion ("billion laughs"), its
encoding; every refusal names the file (CAMP-2)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from pipelines.spec.locations import inside
from pipelines.spec.model import CampaignSpec
from pipelines.spec.problems import Problem, SpecError, clip
from pipelines.spec.validate import validate_spec

MAX_SPEC_BYTES = 2_000_000  # a spec with thousands of manual recipients fits; a runaway file is refused unread
MAX_ALIASES = 50  # YAML aliases (*name) in one spec: a few reuse a value, a "billion laughs" needs many levels
MAX_NODES = 1_000_000  # YAML values once aliases are expanded


class _SpecLoader(yaml.SafeLoader):
    """Safe YAML with a budget of aliases, so a "billion laughs" spec is refused before it is expanded."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(None, None, f"more than {MAX_ALIASES} aliases (*name)",
                                                  self.peek_event().start_mark)
        return super().compose_node(parent, index)


def _expanded_size(root: yaml.Node) -> int:
    """How many values the document holds once every alias is expanded; a recursive alias is refused."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise yaml.composer.ComposerError(None, None, "a recursive alias (a value that contains itself)",
                                              node.start_mark)
        open_nodes.add(key)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(key_node) + size(value) for key_node, value in node.value)
        else:
            total = 1
        open_nodes.discard(key)
        sizes[key] = min(total, MAX_NODES + 1)
        if total > MAX_NODES:
            raise yaml.composer.ComposerError(None, None, f"more than {MAX_NODES:,} values once aliases are "
                                                          "expanded", node.start_mark)
        return sizes[key]

    return size(root)


def _parse_yaml(text: str) -> Any:
    loader = _SpecLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if loader.aliases:
            _expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_spec(path: Path, *, now: datetime | None = None, roots: Sequence[Path] | None = None,
              check_files: bool = True) -> CampaignSpec:
    """Read and validate a YAML spec file (at most MAX_SPEC_BYTES, aliases within budget).

    `now`, `roots` and `check_files` as for `validate_spec`; with `roots`, the spec file itself must be inside
    one of them (it is not opened otherwise). Its lists are relative to its folder; every problem of the spec
    and of the files it names comes in one SpecError (CAMP-2).
    """
    def refused(message: str) -> SpecError:
        return SpecError([Problem(field="(file)", value=str(path), rule="CAMP-2", message=message)], str(path))

    from pipelines.storage import is_url, location, read_head

    path = location(path)  # a local file, or an object in S3 (issue 13): read through pipelines.storage
    if roots is not None and not inside(path, roots):
        raise refused("the spec file is outside the folders this account may read (its bucket)")
    try:
        if is_url(path):
            data = read_head(path, MAX_SPEC_BYTES + 1)
        else:
            with path.open("rb") as file:
                data = file.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise refused("spec file not found") from None
    except OSError as error:
        reason = error.strerror or str(error).removeprefix(f"{path}: ") or type(error).__name__
        raise refused(f"cannot read the spec file: {reason}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise refused(f"the spec file is larger than {MAX_SPEC_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise refused(f"not UTF-8 text (byte {error.start + 1})") from None
    try:
        raw = _parse_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise refused(f"not valid YAML{where}: {clip(str(getattr(error, 'problem', None) or error))}") from None
    except RecursionError:
        raise refused("not valid YAML: nested too deeply") from None
    return validate_spec(raw, str(path), now=now, roots=roots, base=path.resolve().parent,
                         check_files=check_files)
