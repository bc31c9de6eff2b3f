"""``raynas compare`` end to end on the NAS-Bench-201 table (local Ray), and its input errors."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import math
import statistics
import struct
from collections import defaultdict

import pytest

import raynas
import search_spaces
from raynas.cli.main import main
from raynas.errors import ConfigError
from raynas.evaluate.table import nb201_table_path
from raynas.report.plots import pixel_size
from raynas.report.progress import Progress
from raynas.tune.compare import compare

NB201_TABLE = nb201_table_path()  # the copy packaged with raynas
logging.getLogger("optuna").setLevel(logging.WARNING)

class _Tty(io.StringIO):
    def isatty(self):
        return True


STRATEGIES = ("random", "evolution")
SEEDS = (0, 1)
BUDGET = 20


@pytest.fixture(scope="module")
def compared(ray_session, tmp_path_factory):
    """One CLI comparison: 2 strategies x 2 seeds x 20 evaluations on the packaged table, run from
    a temporary working directory (no --table, no RAYNAS_NB201: the table comes with the package)."""
    import os

    out = tmp_path_factory.mktemp("cmp") / "nb201"
    elsewhere = tmp_path_factory.mktemp("cwd")
    previous = os.getcwd()
    env_table = os.environ.pop("RAYNAS_NB201", None)
    os.chdir(elsewhere)
    try:
        code = main(["compare", "--benchmark", "nb201", "--dataset", "cifar10",
                     "--strategies", ",".join(STRATEGIES), "--seeds", str(len(SEEDS)), "--budget", str(BUDGET),
                     "--concurrency", "2", "--budgets", "5,10,20", "--out", str(out), "--quiet"])
    finally:
        os.chdir(previous)
        if env_table is not None:
            os.environ["RAYNAS_NB201"] = env_table
    assert code == 0
    return out


def _results(out):
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_results_have_one_row_per_trial(compared):
    rows = _results(compared)
    assert len(rows) == len(STRATEGIES) * len(SEEDS) * BUDGET
    for strategy in STRATEGIES:
        for seed in SEEDS:
            run = [r for r in rows if r["strategy"] == strategy and int(r["seed"]) == seed]
            assert sorted(int(r["trial"]) for r in run) == list(range(1, BUDGET + 1))
    space = search_spaces.get("nb201")
    table = raynas.TableEvaluator(NB201_TABLE, signal="cifar10_val_12ep")
    for row in rows[:10]:
        arch = json.loads(row["arch"])
        assert row["status"] == "ok"
        assert float(row["accuracy"]) == table.lookup(arch)["cifar10_val_12ep"]
        assert float(row["test_accuracy"]) == table.lookup(arch)["cifar10_test_200ep"]
        assert float(row["flops"]) == space.flops(arch)
        assert float(row["wall_time_s"]) > 0


def test_summary_agrees_with_results_recomputed_independently(compared):
    rows = _results(compared)
    optimum = max(float(r["cifar10_test_200ep"]) for r in csv.DictReader(gzip.open(NB201_TABLE, "rt", newline="")))
    runs = defaultdict(list)
    for row in rows:
        runs[(row["strategy"], int(row["seed"]))].append(row)
    expected = {}
    for (strategy, seed), run in runs.items():
        run.sort(key=lambda r: int(r["trial"]))
        for budget in (5, 10, 20):
            first = [r for r in run[:budget] if r["status"] == "ok"]
            best_value = max(float(r["accuracy"]) for r in first)
            incumbent = next(r for r in first if float(r["accuracy"]) == best_value)  # the earliest of ties
            values = {
                "best_accuracy": best_value,
                "incumbent_test_accuracy": float(incumbent["test_accuracy"]),
                "regret": optimum - float(incumbent["test_accuracy"]),
                "wall_time_s": max(float(r["wall_time_s"]) for r in run[:budget]),
            }
            for quantity, value in values.items():
                expected.setdefault((strategy, budget, quantity), []).append(value)
    with open(compared / "summary.csv", newline="") as f:
        summary = list(csv.DictReader(f))
    assert len(summary) == len(expected)
    for row in summary:
        values = expected[(row["strategy"], int(row["budget"]), row["quantity"])]
        assert int(row["seeds"]) == len(SEEDS)
        assert float(row["mean"]) == pytest.approx(statistics.fmean(values))
        assert float(row["std"]) == pytest.approx(statistics.pstdev(values), abs=1e-9)
        assert float(row["median"]) == pytest.approx(statistics.median(values))


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_plots_are_written_and_embedded_in_the_report(compared):
    report = (compared / "report.md").read_text()
    for name in ("best_so_far", "regret", "pareto", "wall_time"):
        path = compared / f"{name}.png"
        assert path.stat().st_size > 10_000, f"{name}.png is too small to hold a plot"
        assert _png_size(path) == pixel_size()
        assert f"]({name}.png)" in report
    assert "known optimum" in report and "| random |" in report and "| evolution |" in report
    page = (compared / "report.html").read_text()
    assert 'class="verdict">After 20 evaluations' in page and 'table class="summary"' in page
    assert (compared / "runs" / "random-seed0" / "report.html").exists()  # each run's search page


def test_an_occupied_folder_is_refused_without_overwrite(compared, capsys):
    before = (compared / "results.csv").read_bytes()
    code = main(["compare", "--benchmark", "nb201", "--strategies", "random", "--seeds", "1", "--budget", "2",
                 "--out", str(compared)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raynas: error:") and "\n" not in err and "--overwrite" in err
    assert (compared / "results.csv").read_bytes() == before


def test_multi_objective_compare_returns_the_pareto_set(ray_session, tmp_path):
    space = search_spaces.get("nb201")
    evaluator = raynas.TableEvaluator(NB201_TABLE, signal="cifar10_val_12ep")
    terminal = _Tty()
    progress = Progress(2 * 6, enabled=True, stream=terminal, min_interval=0)
    # random (the weighted scalarization) goes through the same Tune path: tested without Ray in test_objectives.py
    result = compare(space, evaluator, ["tpe", "evolution"], seeds=[0], num_samples=6, max_concurrent=2,
                     objectives="accuracy:max,flops:min", out_dir=tmp_path / "mo", progress=progress,
                     strategy_options={"evolution": {"population_size": 3}, "tpe": {"n_startup_trials": 3}})
    rows = [r for r in result.results if r["status"] == "ok"]
    assert len(result.results) == 2 * 6
    assert all(math.isfinite(r["scalarized"]) for r in rows)
    brute = [r for r in rows if not any(
        o["accuracy"] >= r["accuracy"] and o["flops"] <= r["flops"]
        and (o["accuracy"] > r["accuracy"] or o["flops"] < r["flops"]) for o in rows)]
    key = lambda r: (r["strategy"], r["seed"], r["trial"])  # noqa: E731
    assert sorted(map(key, result.pareto)) == sorted(map(key, brute))
    assert set(result.pareto_by_strategy) == {"tpe", "evolution"}
    with open(tmp_path / "mo" / "pareto.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(result.pareto)
    lines = terminal.getvalue().split("\r")
    assert len(lines) > 12 and "[evolution seed 0] trials 12/12 | best accuracy" in lines[-1]
    assert "[tpe seed 0] trials 6/12 | best accuracy" in terminal.getvalue()
    report = (tmp_path / "mo" / "report.md").read_text()
    assert "NSGA-II" in report and "Optuna multi-objective TPE" in report and "Pareto set" in report


@pytest.mark.parametrize("kwargs,message", [
    ({"strategies": ["random", "magic"]}, "unknown strategy 'magic'; available:"),
    ({"seeds": 0}, "seeds must be a number of seeds >= 1"),
    ({"seeds": [0, 0]}, "seeds repeat a value"),
    ({"budgets": [0]}, r"budgets must be ints in \[1, num_samples=4\]"),
    ({"objectives": "accuracy:up"}, "must be 'max' or 'min', got 'up'"),
    ({"strategy_options": {"tpe": {}}}, "not compared"),
])
def test_bad_arguments_fail_before_any_ray_work(kwargs, message, tmp_path):
    space = search_spaces.ChoiceSpace({"a": (1, 2)}, name="two")
    args = {"strategies": ["random"], "num_samples": 4, "out_dir": tmp_path / "out", **kwargs}
    with pytest.raises(ConfigError, match=message):
        compare(space, lambda arch: {"accuracy": 1.0}, **args)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv,needle", [
    (["compare", "--out", "X"], "one of the arguments --checkpoint --benchmark is required"),
    (["compare", "--benchmark", "nb201", "--dataset", "mnist", "--out", "X"], "must be one of ['cifar10'"),
    (["compare", "--benchmark", "nb201", "--objectives", "flops", "--out", "X"], "name:max|min"),
    (["compare", "--benchmark", "nb201", "--budgets", "0,5", "--out", "X"], "comma-separated positive integers"),
])
def test_cli_errors_are_one_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raynas: error:") and "\n" not in err
    assert needle in err
    assert not (tmp_path / "X").exists()


def test_help_says_which_strategy_does_what(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = capsys.readouterr().out
    assert "NSGA-II" in text and "multi-objective TPE" in text and "weighted sum" in text


def test_cli_builds_the_same_evaluators_as_search(tmp_path):
    """--checkpoint: the supernet evaluator on the data set it was trained on; --benchmark: the table."""
    import argparse

    from raynas.cli._compare import _evaluator
    from raynas.evaluate.supernet import SupernetEvaluator

    net = search_spaces.get("tiny").build_supernet(num_classes=10)
    net.save(tmp_path / "sn", train_config={"dataset": "synthetic"})
    base = {"benchmark": None, "checkpoint": None, "dataset": None, "table": None, "data_dir": None}
    space, evaluator = _evaluator(argparse.Namespace(**{**base, "checkpoint": str(tmp_path / "sn")}))
    assert space.name == "tiny" and isinstance(evaluator, SupernetEvaluator) and evaluator.dataset == "synthetic"
    with pytest.raises(ConfigError, match="--table applies to --benchmark only"):
        _evaluator(argparse.Namespace(**{**base, "checkpoint": str(tmp_path / "sn"), "table": "t.csv"}))
    space, evaluator = _evaluator(argparse.Namespace(**{**base, "benchmark": "nb201", "dataset": "cifar100",
                                                        "table": str(NB201_TABLE)}))
    assert space.name == "nb201" and evaluator.signal == "cifar100_val_12ep"
    assert evaluator.test_column == "cifar100_test_200ep"
