"""benchmarks/nb201_sweep.py: a tiny sweep on the shipped NAS-Bench-201 table, then its report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "nb201_sweep.py"


def _module():
    spec = importlib.util.spec_from_file_location("nb201_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sweep_records_how_it_ran_and_the_report_ranks_the_settings(tmp_path):
    sweep = _module()
    out = tmp_path / "sweep.jsonl"
    argv = ["--seeds", "2", "--seed-start", "100", "--budgets", "8", "16", "--datasets", "cifar10",
            "--settings", "random", "local:initial_samples=4", "--out", str(out)]
    assert sweep.main(argv) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["setting"] for r in records] == ["random", "local:initial_samples=4"]
    for record in records:
        assert record["seeds"] == [100, 102] and set(record["mean_regret"]) == {"cifar10@8", "cifar10@16"}
        assert all(v >= 0 for v in record["mean_regret"].values())  # regret against the table's best
        assert record["command"].endswith(" ".join(argv)) and record["machine"] and record["load"]
    report = tmp_path / "sweep.md"
    assert sweep.main(["--render", str(out), "--report", str(report)]) == 0
    text = report.read_text()
    assert "## seeds 100..101, 4 in flight" in text and "`local:initial_samples=4`" in text
    assert f"`python benchmarks/nb201_sweep.py {' '.join(argv)}`" in text
