"""Packaging (issue 8): the library installs without Airflow; the Airflow provider depends on it, not the reverse."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

from helpers import ROOT

UV = ROOT / ".tools" / "bin" / "uv"


def _requirements(project: Path, out: Path) -> list[str]:
    subprocess.run([str(UV), "build", "--wheel", "--out-dir", str(out), str(project)], check=True,
                   capture_output=True, timeout=300)
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    return [line.split(":", 1)[1].strip().split(" ")[0].split(";")[0].split("=")[0].split(">")[0].split("<")[0]
            for line in lines if line.startswith("Requires-Dist:")]


def test_house_the_library_wheel_needs_no_airflow(tmp_path: Path):
    requirements = _requirements(ROOT, tmp_path / "smsflow")
    assert "polars" in requirements and "duckdb" in requirements
    assert not [name for name in requirements if name.startswith("apache-airflow") or name == "smsflow-provider"]


def test_house_the_provider_depends_on_smsflow_and_airflow(tmp_path: Path):
    requirements = _requirements(ROOT / "plugins" / "smsflow-provider", tmp_path / "provider")
    assert "smsflow" in requirements and "apache-airflow" in requirements
