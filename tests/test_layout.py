"""The house rules that keep the layout honest (STYLE.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from helpers import ROOT


def test_house_pipelines_never_imports_airflow():
    """STYLE habit 3: the package is Airflow-free, by its source and at run time (the Airflow demo driver
    included: it runs Airflow as a subprocess and speaks HTTP to it)."""
    for path in (ROOT / "pipelines").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(name.split(".")[0] == "airflow" for name in names), path
    code = ("import sys, importlib, pkgutil, pipelines\n"
            "for m in pkgutil.walk_packages(pipelines.__path__, 'pipelines.'): importlib.import_module(m.name)\n"
            "print(any(n.split('.')[0] == 'airflow' for n in sys.modules), "
            "'pipelines.demo.standalone' in sys.modules and 'pipelines.demo.rest' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False True"  # Airflow never loaded, with the Airflow demo driver imported


def test_house_everything_loads():
    """Every module of the package imports (Dagster's "everything loads" test)."""
    code = ("import importlib, pkgutil, pipelines\n"
            "mods = [m.name for m in pkgutil.walk_packages(pipelines.__path__, 'pipelines.')]\n"
            "[importlib.import_module(m) for m in mods]\nprint('\\n'.join(mods))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    on_disk = set()
    for path in (ROOT / "pipelines").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if "migrations" in parts:  # Alembic's scripts: Alembic loads them by path, they are no modules
            continue
        if len(parts) > 1:
            on_disk.add(".".join(parts))
    assert set(result.stdout.split()) == on_disk  # every module file was found and imported


def package_modules(package: Path) -> dict[str, Path]:
    """Every module under `package` by dotted name; a package is named by its `__init__.py`."""
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_edges(package: Path) -> list[tuple[str, str, str]]:
    """(importer, imported, "file:line") for every import of the package's own modules, function bodies included
    (not those under `if TYPE_CHECKING:`, which never run).

    `from a.b import c` is an edge to the submodule `a.b.c` when it is one, else to `a.b`; a submodule importing
    a name from its parent package is an edge to that package."""
    modules = package_modules(package)

    def known(name: str) -> str | None:  # the longest prefix of `name` that is a module of the package
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges = []
    for importer, path in modules.items():
        own_package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in
                       ast.unparse(node.test) for statement in node.body for inner in ast.walk(statement)}
        for node in ast.walk(tree):
            if id(node) in typing_only:  # `if TYPE_CHECKING:` imports never run
                continue
            if isinstance(node, ast.Import):
                targets = [known(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = own_package.split(".")[:len(own_package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else known(base)
                           for alias in node.names]
            else:
                continue
            edges += [(importer, target, f"{path.relative_to(package.parent)}:{node.lineno}")
                      for target in targets if target and target != importer]
    return edges


def import_cycles(package: Path) -> list[list[str]]:
    """The strongly connected components of more than one module in the package's import graph (Tarjan)."""
    graph: dict[str, set[str]] = {name: set() for name in package_modules(package)}
    for importer, imported, _ in import_edges(package):
        graph[importer].add(imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def describe(cycles: list[list[str]], edges: list[tuple[str, str, str]]) -> str:
    """Each cycle and the imports that make it, with file and line."""
    return "import cycles:\n" + "\n".join(
        " ↔ ".join(cycle) + "\n" + "\n".join(sorted({f"  {a} → {b} ({where})" for a, b, where in edges
                                                   if a in cycle and b in cycle})) for cycle in cycles)


def test_house_no_import_cycle_among_pipelines_modules():
    """Issue 8: no two modules of `pipelines` import each other, even through imports inside functions."""
    cycles = import_cycles(ROOT / "pipelines")
    assert not cycles, describe(cycles, import_edges(ROOT / "pipelines"))


def write_modules(root: Path, sources: dict[str, str]) -> Path:
    for name, source in sources.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root / "pipelines"


def test_house_cycle_check_finds_the_old_cli_demo_circle_hidden_in_functions(tmp_path):
    """The check itself, on the old layout's shape: cli(.drivers) → demo → airflow_demo → cli, all in functions."""
    package = write_modules(tmp_path, {
        "pipelines/__init__.py": "",
        "pipelines/cli/__init__.py": "from pipelines.cli import drivers\nfrom pipelines.cli.tables import show\n",
        "pipelines/cli/tables.py": "def show(): ...\n",
        "pipelines/cli/drivers.py": "def demo():\n    from pipelines.demo import run\n",
        "pipelines/demo.py": "def run():\n    from pipelines.cli import show\n    from . import airflow_demo\n",
        "pipelines/airflow_demo.py": "def serve():\n    from pipelines.demo import run\n",
    })
    assert import_cycles(package) == [["pipelines.airflow_demo", "pipelines.cli", "pipelines.cli.drivers",
                                       "pipelines.demo"]]


def test_house_cycle_check_allows_a_package_importing_its_submodules_and_siblings_importing_each_other(tmp_path):
    """`__init__` importing its submodules, and a submodule importing a sibling (not the package), is no cycle."""
    package = write_modules(tmp_path, {
        "pipelines/__init__.py": "",
        "pipelines/cli/__init__.py": "from pipelines.cli import drivers\nfrom pipelines.cli.app import app\n",
        "pipelines/cli/app.py": "app = None\n",
        "pipelines/cli/drivers.py": "from pipelines.cli.app import app\nfrom .app import app as same\n",
        "pipelines/demo/__init__.py": "",
        "pipelines/demo/direct.py": "def run():\n    from pipelines.cli.app import app\n",
    })
    assert import_cycles(package) == []
    assert ("pipelines.cli.drivers", "pipelines.cli.app") in {(a, b) for a, b, _ in import_edges(package)}


def test_house_the_core_never_imports_the_demo_drivers():
    """Issue 8: `pipelines.demo` joins the command line by an entry point; no other module names it."""
    package = ROOT / "pipelines"
    naming = [f"{where} imports {imported}" for importer, imported, where in import_edges(package)
              if imported.startswith("pipelines.demo") and not importer.startswith("pipelines.demo")]
    for name, path in package_modules(package).items():
        if not name.startswith("pipelines.demo"):
            naming += [f"{path.relative_to(ROOT)}:{node.lineno} names {node.value!r}"
                       for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                       if isinstance(node, ast.Constant) and isinstance(node.value, str)
                       and "pipelines.demo" in node.value]
    assert naming == []


def test_house_demo_commands_join_the_cli_through_the_entry_point():
    """`smsflow demo` and `smsflow airflow` come from the `smsflow.commands` entry point (pyproject.toml)."""
    code = ("from importlib.metadata import entry_points\n"
            "print([e.value for e in entry_points(group='smsflow.commands')])\n"
            "from typer.main import get_command\nfrom pipelines.cli import app\n"
            "print(sorted(get_command(app).commands))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    points, commands = result.stdout.strip().splitlines()
    assert points == "['pipelines.demo.commands:register']"
    assert {"demo", "airflow", "smsc", "test-send"} <= set(eval(commands))  # noqa: S307 - our own printed list


def test_send3_test_send_orchestrated_once():
    """Issue 8: the DAG, the CLI and the demo send a test through `campaign.send_test_message`, not `send_test`."""
    callers = []
    for path in [*(ROOT / "pipelines").rglob("*.py"), *(ROOT / "dags").glob("*.py")]:
        if path.relative_to(ROOT).parts[:2] == ("pipelines", "dispatch") or path == ROOT / "pipelines" / "campaign.py":
            continue
        callers += [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(ast.parse(path.read_text("utf-8")))
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipelines.dispatch")
                    and any(alias.name == "send_test" for alias in node.names)]
    assert callers == []
