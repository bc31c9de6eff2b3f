"""Comparison results as tables: ``results.csv`` (one row per trial) and ``summary.csv``.

``results.csv`` holds one row per trial of every run (a run is one strategy with one seed):
``strategy, seed, trial`` (1-based, in completion order), ``trial_id``, ``status``
(``ok`` or ``failed``), ``wall_time_s`` (seconds from the start of the run to the trial's
completion), ``arch`` (JSON), then every metric the evaluator returned, then ``error``.

``summary.csv`` holds, for every strategy, budget and quantity, the ``mean``, ``std``
(population standard deviation over seeds, 0 for one seed) and ``median`` over the seeds
of the quantity after the first ``budget`` trials of each run:

- ``best_<metric>``: the best value of ``<metric>`` among the successful trials so far
  (one quantity per objective in a multi-objective comparison);
- ``incumbent_<score>``: the ``<score>`` (e.g. the final test accuracy of a table) of the
  incumbent, the trial with the best ``<metric>`` so far (ties: the earliest);
- ``regret``: ``optimum - incumbent_<score>`` where the optimum is known (tables);
- ``wall_time_s``: seconds until the ``budget``-th trial completed.

:func:`wall_time_split` divides a run's wall time into Tune's start-up, time spent
evaluating and the rest (Tune's scheduling and bookkeeping between evaluations).

A run that has no successful trial yet contributes no value; ``seeds`` counts the runs
that did.
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from raynas.errors import ConfigError

__all__ = [
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "write_results",
    "read_results",
    "write_summary",
    "read_summary",
    "runs_of",
    "best_so_far",
    "incumbent_curve",
    "run_curves",
    "summarize",
    "default_budgets",
    "wall_time_split",
    "mean_band",
]

RESULTS_FILE = "results.csv"
SUMMARY_FILE = "summary.csv"
LEADING = ("strategy", "seed", "trial", "trial_id", "status", "wall_time_s", "arch")
TRAILING = ("error",)
SUMMARY_COLUMNS = ("strategy", "budget", "quantity", "seeds", "mean", "std", "median")
_TEXT = {"strategy", "trial_id", "status", "error", "arch"}
_INTS = {"seed", "trial", "budget", "seeds"}


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _write(path: Path, rows: Sequence[Mapping[str, Any]], leading: Sequence[str], trailing: Sequence[str]) -> None:
    keys: list[str] = [k for k in leading]
    for row in rows:
        keys += [k for k in row if k not in keys and k not in trailing]
    keys += list(trailing)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="raise")
        writer.writeheader()
        for row in rows:
            flat = {k: ("" if v is None else v) for k, v in row.items()}
            if "arch" in flat and not isinstance(flat["arch"], str):
                flat["arch"] = json.dumps(flat["arch"], sort_keys=True)
            writer.writerow(flat)
    os.replace(tmp, path)


def _parse(raw: Mapping[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "arch":
            row[key] = json.loads(value) if value else None
        elif key in _TEXT:
            row[key] = value
        elif value == "":
            row[key] = None
        elif key in _INTS:
            row[key] = int(value)
        else:
            try:
                row[key] = float(value)
            except ValueError:
                row[key] = value
    return row


def write_results(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``results.csv`` rows (``arch`` as a dict or JSON text); returns the path."""
    path = Path(path)
    _write(path, rows, LEADING, TRAILING)
    return path


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a ``results.csv``: ``arch`` decoded, ``seed``/``trial`` ints, metrics floats."""
    with open(path, newline="") as f:
        return [_parse(raw) for raw in csv.DictReader(f)]


def write_summary(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    path = Path(path)
    _write(path, rows, SUMMARY_COLUMNS, ())
    return path


def read_summary(path: str | os.PathLike) -> list[dict[str, Any]]:
    with open(path, newline="") as f:
        return [_parse(raw) for raw in csv.DictReader(f)]


def runs_of(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], list[Mapping[str, Any]]]:
    """Rows grouped by ``(strategy, seed)``, each run sorted by ``trial``; runs in first-seen order."""
    runs: dict[tuple[str, int], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        runs[(row["strategy"], int(row["seed"]))].append(row)
    return {key: sorted(trials, key=lambda r: int(r["trial"])) for key, trials in runs.items()}


def _ok(row: Mapping[str, Any], metric: str) -> bool:
    return row.get("status", "ok") == "ok" and _is_number(row.get(metric))


def best_so_far(rows: Sequence[Mapping[str, Any]], metric: str, mode: str) -> list[float | None]:
    """After each trial of a run, the best ``metric`` among its successful trials so far (``None`` before any)."""
    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be 'max' or 'min', got {mode!r}")
    best: float | None = None
    out: list[float | None] = []
    for row in rows:
        if _ok(row, metric):
            value = float(row[metric])
            if best is None or (value > best if mode == "max" else value < best):
                best = value
        out.append(best)
    return out


def incumbent_curve(rows: Sequence[Mapping[str, Any]], metric: str, mode: str, score: str) -> list[float | None]:
    """After each trial, ``score`` of the incumbent: the first trial reaching the best ``metric`` so far."""
    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be 'max' or 'min', got {mode!r}")
    best: float | None = None
    incumbent: float | None = None
    out: list[float | None] = []
    for row in rows:
        if _ok(row, metric):
            value = float(row[metric])
            if best is None or (value > best if mode == "max" else value < best):
                best = value
                incumbent = float(row[score]) if _is_number(row.get(score)) else None
        out.append(incumbent)
    return out


def run_curves(
    rows: Sequence[Mapping[str, Any]],
    *,
    objectives: Sequence[tuple[str, str]],
    score: str | None = None,
    optimum: float | None = None,
) -> dict[str, list[float | None]]:
    """Every summary quantity of one run (rows sorted by trial), per trial.

    ``objectives`` is ``[(metric, mode), ...]``; the first one picks the incumbent.
    """
    metric, mode = objectives[0]
    curves: dict[str, list[float | None]] = {f"best_{name}": best_so_far(rows, name, m) for name, m in objectives}
    if score is not None:
        incumbent = incumbent_curve(rows, metric, mode, score)
        curves[f"incumbent_{score}"] = incumbent
        if optimum is not None:
            curves["regret"] = [None if v is None else float(optimum) - v for v in incumbent]
    elapsed: list[float | None] = []
    latest: float | None = None
    for row in rows:
        value = row.get("wall_time_s")
        if _is_number(value):
            latest = float(value) if latest is None else max(latest, float(value))
        elapsed.append(latest)
    curves["wall_time_s"] = elapsed
    return curves


def default_budgets(num_samples: int) -> list[int]:
    """A quarter, half, three quarters and all of the budget (distinct, at least 1)."""
    return sorted({max(1, num_samples * k // 4) for k in (1, 2, 3, 4)})


def summarize(
    rows: Iterable[Mapping[str, Any]],
    *,
    budgets: Sequence[int],
    objectives: Sequence[tuple[str, str]],
    score: str | None = None,
    optimum: float | None = None,
) -> list[dict[str, Any]]:
    """``summary.csv`` rows: mean/std/median over seeds of every quantity at every budget.

    A run with fewer trials than a budget is summarised over all its trials.
    """
    for budget in budgets:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ConfigError(f"budgets must be ints >= 1, got {budget!r} in {list(budgets)}")
    per_strategy: dict[str, list[dict[str, list[float | None]]]] = defaultdict(list)
    for (strategy, _seed), trials in runs_of(rows).items():
        per_strategy[strategy].append(run_curves(trials, objectives=objectives, score=score, optimum=optimum))
    out: list[dict[str, Any]] = []
    for strategy, runs in per_strategy.items():
        for budget in sorted(set(budgets)):
            for quantity in runs[0]:
                values = [c[quantity][min(budget, len(c[quantity])) - 1] for c in runs if c[quantity]]
                values = [float(v) for v in values if v is not None]
                out.append({
                    "strategy": strategy, "budget": budget, "quantity": quantity, "seeds": len(values),
                    "mean": statistics.fmean(values) if values else None,
                    "std": statistics.pstdev(values) if values else None,
                    "median": statistics.median(values) if values else None,
                })
    return out


def wall_time_split(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Where one run's wall time went, from its rows' ``wall_time_s`` and ``eval_time_s``.

    Each trial evaluated over ``[wall_time_s - eval_time_s, wall_time_s]`` (seconds from the
    start of the run). Returns:

    - ``total_s``: the last trial's ``wall_time_s``;
    - ``startup_s``: from the start of the run to the start of the first evaluation (Ray
      Tune setting up the experiment and starting the trial workers);
    - ``evaluating_s``: the time during which at least one evaluation was running;
    - ``other_s``: the rest, when no evaluation was running (Tune scheduling trials and
      processing results between evaluations);
    - ``eval_sum_s``: the evaluations' durations summed (more than ``evaluating_s`` when
      several ran at once).

    Rows without both numbers (failed trials) count only towards ``total_s``; a run none
    of whose rows has ``eval_time_s`` gets ``None`` for the parts.
    """
    total = max((float(r["wall_time_s"]) for r in rows if _is_number(r.get("wall_time_s"))), default=None)
    spans = sorted((float(r["wall_time_s"]) - float(r["eval_time_s"]), float(r["wall_time_s"])) for r in rows
                   if _is_number(r.get("wall_time_s")) and _is_number(r.get("eval_time_s")))
    if total is None or not spans:
        return {"total_s": total, "startup_s": None, "evaluating_s": None, "other_s": None, "eval_sum_s": None}
    startup = max(spans[0][0], 0.0)
    evaluating = 0.0
    start, end = spans[0]
    for low, high in spans[1:]:
        if low > end:
            evaluating += end - start
            start, end = low, high
        else:
            end = max(end, high)
    evaluating += end - start
    evaluating = min(evaluating, total - startup)
    return {"total_s": total, "startup_s": startup, "evaluating_s": evaluating,
            "other_s": max(total - startup - evaluating, 0.0), "eval_sum_s": sum(high - low for low, high in spans)}


def mean_band(runs: Sequence[Sequence[float | None]], floor: float | None = None) -> tuple[list, list, list, list]:
    """``(x, mean, mean - std, mean + std)`` over the runs at each step where some run has a value.

    ``runs`` holds one curve per seed (a value after each evaluation, ``None`` before the
    first); a shorter run keeps its last value. ``x`` counts evaluations from 1; the std is
    the population one. With ``floor`` (a log axis), values and the lower edge are raised to it.
    """
    xs: list[int] = []
    means: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    length = max((len(r) for r in runs), default=0)
    for step in range(length):
        values = [float(r[min(step, len(r) - 1)]) for r in runs if r and r[min(step, len(r) - 1)] is not None]
        if not values:
            continue
        if floor is not None:
            values = [max(v, floor) for v in values]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        low = mean - std if floor is None else max(mean - std, floor)
        xs.append(step + 1)
        means.append(mean)
        lows.append(low)
        highs.append(mean + std)
    return xs, means, lows, highs
