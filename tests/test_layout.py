"""The house rules that keep the layout honest (STYLE.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pipelines_never_imports_airflow():
    """STYLE habit 3: the package is Airflow-free, by its source and at run time."""
    for path in (ROOT / "pipelines").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(name.split(".")[0] == "airflow" for name in names), path
    code = ("import sys, importlib, pkgutil, pipelines\n"
            "for m in pkgutil.walk_packages(pipelines.__path__, 'pipelines.'): importlib.import_module(m.name)\n"
            "print(any(n.split('.')[0] == 'airflow' for n in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_everything_loads():
    """Every module of the package imports (Dagster's "everything loads" test)."""
    code = ("import importlib, pkgutil, pipelines\n"
            "mods = [m.name for m in pkgutil.walk_packages(pipelines.__path__, 'pipelines.')]\n"
            "[importlib.import_module(m) for m in mods]\nprint('\\n'.join(mods))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    on_disk = set()
    for path in (ROOT / "pipelines").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if len(parts) > 1:
            on_disk.add(".".join(parts))
    assert set(result.stdout.split()) == on_disk  # every module file was found and imported
