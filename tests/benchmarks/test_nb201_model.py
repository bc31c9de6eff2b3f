"""benchmarks/nb201_model.py: the default's model fitted on a few cells of the shipped NAS-Bench-201 table."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "nb201_model.py"


def _main(argv: list[str]) -> int:
    return runpy.run_path(str(SCRIPT))["main"](argv)  # the script's namespace, not run as __main__


def test_report_ranks_the_best_cell_and_the_whole_table_fit_finds_it(tmp_path):
    report = tmp_path / "model.md"
    argv = ["--samples", "5", "15625", "--seeds", "2", "--datasets", "cifar10", "--targets", "ranks",
            "--report", str(report)]
    assert _main(argv) == 0
    text = report.read_text()
    assert f"`python benchmarks/nb201_model.py {' '.join(argv)}`" in text and "load average" in text
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| cifar10 |")]
    assert [(r[1].strip(), r[3].strip()) for r in rows] == [("5", "2"), ("15625", "1")]
    few, every = rows
    assert 1 <= float(few[4]) <= 15625 and -1 <= float(few[7].split("±")[0]) <= 1
    # fitted on every cell, the model's form still ranks the best cell near its top
    assert float(every[4]) <= 10 and float(every[7].split("±")[0]) > float(few[7].split("±")[0])


def test_bad_sample_count_is_refused_with_the_value(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _main(["--samples", "1", "30", "--seeds", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--samples" in err and "got [1]" in err
