"""Every example in examples/ runs in its fastest setting (``--fast``).

Ray instances on one machine collide, so the examples do not start their own Ray here:
each runs in a subprocess that joins the test session's local Ray with ``--address``
(the same path a user takes to an existing cluster, which ``cluster_search.py`` is
about). Each costs a Python start, torch and Ray imports and a new Ray job (tens of
seconds on two busy cores), so only ``cluster_search.py`` (the cheapest: 6 table
look-ups) runs by default; the others are marked slow (``pytest -m slow``). What they
call is tested by default elsewhere: tests/tune/test_compare.py, tests/test_export.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def address(ray_session):
    return ray_session.get_runtime_context().gcs_address


def _run(script: str, args: list[str], address: str, cwd: Path, timeout: int = 600) -> str:
    # No RAYNAS_NB201 and a temporary working directory: the examples use the packaged table.
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAYNAS_EXAMPLE_FAST", "RAYNAS_NB201")}
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--fast", "--address", address, *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
def test_compare_nb201(address, tmp_path):
    out = _run("compare_nb201.py", ["--out", str(tmp_path / "cmp")], address, tmp_path)
    assert "regret" in out and "report with plots" in out
    for name in ("results.csv", "summary.csv", "report.md", "report.html", "best_so_far.png", "regret.png",
                 "pareto.png"):
        assert (tmp_path / "cmp" / name).stat().st_size > 0, name


def test_cluster_search(address, tmp_path):
    out = _run("cluster_search.py", ["--out", str(tmp_path / "search")], address, tmp_path)
    assert "starting a local Ray" not in out  # it joined the running one
    assert "Ray: 1 node(s), 2 CPUs" in out
    assert "6 trials (0 failed)" in out
    assert (tmp_path / "search" / "history.csv").exists() and (tmp_path / "search" / "best.json").exists()


@pytest.mark.slow
def test_flops_budget_export(address, tmp_path):
    import torch

    import search_spaces

    torch.manual_seed(0)
    net = search_spaces.get("tiny").build_supernet(num_classes=10)
    net.save(tmp_path / "supernet", train_config={"dataset": "digits"})  # untrained is enough to run the flow
    out = _run("flops_budget_export.py", ["--checkpoint", str(tmp_path / "supernet"), "--out", str(tmp_path / "b")],
               address, tmp_path)
    assert "as the search measured: True" in out
    assert (tmp_path / "b" / "subnet.pt").stat().st_size > 0


@pytest.mark.slow
def test_quickstart(address, tmp_path):
    out = _run("quickstart.py", ["--out", str(tmp_path / "q")], address, tmp_path)
    assert "exported" in out and "validation images" in out
    assert (tmp_path / "q" / "supernet" / "supernet.pt").exists()


@pytest.mark.slow
def test_flops_budget_export_trains_when_given_no_checkpoint(address, tmp_path):
    out = _run("flops_budget_export.py", ["--out", str(tmp_path / "b")], address, tmp_path)
    assert "as the search measured: True" in out
