"""REP-3: sql/ ships in the wheel and an installed copy finds it (builds the wheel: a subprocess)."""

from __future__ import annotations


def test_rep3_the_wheel_carries_the_sql_and_an_installed_copy_finds_it(tmp_path):
    """sql/ ships as package data (pipelines/sql): an installed wheel has no checkout above it to find it in."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    uv = root / ".tools" / "bin" / "uv"
    build = subprocess.run([str(uv), "build", "--wheel", "-o", str(tmp_path / "dist"), str(root)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("smsflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packaged = {name for name in archive.namelist() if name.startswith("pipelines/sql/")}
        archive.extractall(tmp_path / "installed")
    assert {f"pipelines/sql/{path.name}" for path in (root / "sql").glob("*.sql")} <= packaged
    found = subprocess.run(
        [sys.executable, "-c", "from pipelines.queries import SQL_DIR, queries; "
                               "print(SQL_DIR); print(sorted(queries('status.sql')))"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "installed"), "PATH": ""})
    assert found.returncode == 0, found.stderr
    where, names = found.stdout.splitlines()
    assert Path(where) == tmp_path / "installed" / "pipelines" / "sql" and "create_views" in names
