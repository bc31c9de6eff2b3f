"""benchmarks/gpu.py: its refusal without CUDA, and its checks' code run on the CPU (``--device cpu``)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


def _main(argv: list[str]) -> int:
    return runpy.run_path(str(SCRIPT))["main"](argv)  # the script's namespace, not run as __main__


def test_without_cuda_it_exits_2_and_writes_nothing(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the refusal needs one without")
    out = tmp_path / "gpu.md"
    assert _main(["--parts", "nccl", "--out", str(out)]) == 2
    assert "no CUDA device" in capsys.readouterr().err and not out.exists()


def test_a_dry_run_on_the_cpu_reports_each_check(tmp_path, one_torch_thread):
    out = tmp_path / "gpu.md"
    assert _main(["--device", "cpu", "--parts", "nccl", "diagnose", "--diagnose-batch-size", "16", "--diagnose-steps", "1",
                  "--out", str(out)]) == 0
    text = out.read_text()
    assert "| (d) nccl | ok | gloo: all-reduce over one rank kept" in text
    assert "| (g) diagnose | ok |" in text and "| the same 4 subnets every step |" in text and "gamma 1, not 0" in text
    assert "--device cpu: a dry run" in text


def test_a_failing_check_fails_the_run_and_says_why(tmp_path, one_torch_thread):
    out = tmp_path / "gpu.md"
    # (c) needs the supernet that (a) trains; alone it has nothing to evaluate
    assert _main(["--device", "cpu", "--parts", "evaluate", "--out", str(out)]) == 1
    assert "| (c) evaluate | FAILED | no checkpoint from (a)" in out.read_text()


def test_a_bad_count_is_refused_with_the_value(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _main(["--device", "cpu", "--diagnose-steps", "0", "--out", str(tmp_path / "gpu.md")])
    assert exit_info.value.code == 2
    assert "--diagnose-steps must be >= 1, got 0" in capsys.readouterr().err
