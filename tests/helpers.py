"""Helpers for tests: write real list files and specs in a temporary bucket folder."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_list(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """A list file exactly as a CRM would write it (bytes, no newline translation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def write_spec(folder: Path, **fields) -> Path:
    """A YAML spec in `folder`; lists are relative to it."""
    spec = {"name": "Test", "type": "notification", "message": "Bonjour ${Prénom}"}
    spec.update(fields)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
