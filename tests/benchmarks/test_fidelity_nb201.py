"""benchmarks/fidelity_nb201.py end to end on a small generated stand-in for CIFAR-10 (an image
folder of digits): trains the nb201 supernet per method, scores cells, writes Kendall tau."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from raynas.data.generate import write_digits_folder

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fidelity_nb201.py"


@pytest.mark.slow
def test_fidelity_nb201_runs_on_a_stand_in(tmp_path, one_torch_thread):
    root = write_digits_folder(tmp_path / "stand-in", train_images=120, val_images=60, size=16)
    spec = importlib.util.spec_from_file_location("fidelity_nb201", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "fidelity.md"
    assert module.main(["--dataset", "folder", "--data-dir", str(root), "--methods", "uniform,sandwich",
                        "--epochs", "1", "--batch-size", "32", "--loader-workers", "0", "--cells", "12",
                        "--calib-images", "32", "--channels", "4", "--cells-per-stage", "1", "--resolution", "16",
                        "--workdir", str(tmp_path / "work"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| uniform |" in text and "| sandwich |" in text and "say nothing about" in text
    results = json.loads(out.with_suffix(".json").read_text())
    assert len(results["cells"]) == 12 and len({json.dumps(c, sort_keys=True) for c in results["cells"]}) == 12
    for method in ("uniform", "sandwich"):
        row = results["methods"][method]
        assert len(row["accuracy"]) == 12 and all(0 <= a <= 100 for a in row["accuracy"])
        assert math.isnan(row["kendall_tau_accuracy"]) or -1 <= row["kendall_tau_accuracy"] <= 1
    assert -1 <= results["table_val_12ep_tau"] <= 1
