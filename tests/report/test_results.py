"""results.csv / summary.csv helpers on hand-made runs."""

from __future__ import annotations

import pytest

from raynas.report.results import (
    best_so_far,
    default_budgets,
    incumbent_curve,
    read_results,
    read_summary,
    summarize,
    write_results,
    write_summary,
)


def _run(strategy, seed, values, tests=None, statuses=None):
    rows = []
    for i, value in enumerate(values):
        status = (statuses or ["ok"] * len(values))[i]
        rows.append({"strategy": strategy, "seed": seed, "trial": i + 1, "trial_id": f"{strategy}{seed}_{i}",
                     "status": status, "wall_time_s": 1.0 + i, "arch": {"x": i},
                     "accuracy": value if status == "ok" else None,
                     "test_accuracy": (tests[i] if tests else None) if status == "ok" else None,
                     "error": "" if status == "ok" else "boom"})
    return rows


def test_best_so_far_and_incumbent():
    rows = _run("r", 0, [1.0, 3.0, 2.0, 3.0, 5.0], tests=[10.0, 30.0, 99.0, 0.0, 50.0],
                statuses=["failed", "ok", "ok", "ok", "ok"])
    assert best_so_far(rows, "accuracy", "max") == [None, 3.0, 3.0, 3.0, 5.0]
    assert best_so_far(rows, "accuracy", "min") == [None, 3.0, 2.0, 2.0, 2.0]
    # a tie (3.0 again at trial 4) keeps the first incumbent
    assert incumbent_curve(rows, "accuracy", "max", "test_accuracy") == [None, 30.0, 30.0, 30.0, 50.0]


def test_summary_statistics_over_seeds():
    rows = _run("a", 0, [1.0, 4.0], tests=[5.0, 6.0]) + _run("a", 1, [2.0, 3.0], tests=[7.0, 8.0])
    summary = summarize(rows, budgets=[1, 2], objectives=[("accuracy", "max")], score="test_accuracy", optimum=10.0)
    cell = {(r["budget"], r["quantity"]): r for r in summary}
    assert cell[(1, "best_accuracy")]["mean"] == pytest.approx(1.5)
    assert cell[(1, "best_accuracy")]["std"] == pytest.approx(0.5)  # population std
    assert cell[(2, "best_accuracy")]["median"] == pytest.approx(3.5)
    assert cell[(2, "incumbent_test_accuracy")]["mean"] == pytest.approx(7.0)  # 6 and 8
    assert cell[(2, "regret")]["mean"] == pytest.approx(3.0)
    assert cell[(2, "wall_time_s")]["mean"] == pytest.approx(2.0)
    assert {r["seeds"] for r in summary} == {2}


def test_csv_round_trip(tmp_path):
    rows = _run("a", 0, [1.0, 4.0], statuses=["ok", "failed"])
    write_results(tmp_path / "results.csv", rows)
    back = read_results(tmp_path / "results.csv")
    assert [r["arch"] for r in back] == [{"x": 0}, {"x": 1}]
    assert back[1]["accuracy"] is None and back[1]["error"] == "boom" and back[0]["seed"] == 0
    header = (tmp_path / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:7] == ["strategy", "seed", "trial", "trial_id", "status", "wall_time_s", "arch"]
    assert header[-1] == "error"
    summary = summarize(rows, budgets=[2], objectives=[("accuracy", "max")])
    write_summary(tmp_path / "summary.csv", summary)
    assert read_summary(tmp_path / "summary.csv")[0]["mean"] == 1.0


def test_default_budgets():
    assert default_budgets(20) == [5, 10, 15, 20]
    assert default_budgets(2) == [1, 2]


def test_wall_time_split():
    from raynas.report.results import wall_time_split

    rows = [  # two at a time: evaluations over [2, 3], [2.5, 4], then [6, 7]; a failed trial at 8
        {"wall_time_s": 3.0, "eval_time_s": 1.0}, {"wall_time_s": 4.0, "eval_time_s": 1.5},
        {"wall_time_s": 7.0, "eval_time_s": 1.0}, {"wall_time_s": 8.0, "eval_time_s": None},
    ]
    split = wall_time_split(rows)
    assert split == pytest.approx({"total_s": 8.0, "startup_s": 2.0, "evaluating_s": 3.0, "other_s": 3.0,
                                   "eval_sum_s": 3.5})
    assert wall_time_split([{"wall_time_s": 5.0}])["startup_s"] is None  # no evaluation times recorded
