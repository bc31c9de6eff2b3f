"""``raynas.compare``: several strategies x seeds through the same ``raynas.search``, one report.

Every run (one strategy with one seed) is a ``raynas.search`` with the same space,
evaluator, constraints, budget and concurrency, so strategies differ only in what they
propose. This module runs them; :mod:`raynas.report.comparison` writes what the
comparison folder then holds:

- ``results.csv``: one row per trial of every run (see :mod:`raynas.report.results`);
- ``summary.csv``: mean, std and median over seeds of best-so-far (and, on a table, the
  incumbent's test score and its regret) at chosen budgets;
- ``best_so_far.png``, ``regret.png`` (where the optimum is known), ``pareto.png``
  (accuracy against FLOPs with each strategy's Pareto front), ``wall_time.png``;
- ``report.md`` embedding the plots; ``report.html``, one self-contained page (see
  :mod:`raynas.report.html`); ``pareto.csv`` for a multi-objective comparison;
- ``compare.json`` (the settings) and ``runs/<strategy>-seed<seed>/`` (each search's own
  ``history.csv``, ``best.json`` and Tune experiment).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import numbers
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from raynas._outdir import prepare_out_dir
from raynas.checks import check_int
from raynas.constraints import Constraints
from raynas.errors import ConfigError
from raynas.tune.objectives import (
    METHODS,
    Objective,
    ScalarizedEvaluator,
    method_of,
    multi_objective_searcher,
    parse_objectives,
    resolve_scales,
)

__all__ = ["compare", "CompareResult", "table_reference"]

logger = logging.getLogger(__name__)

MARKER = "compare.json"


@dataclass
class CompareResult:
    """What a comparison produced.

    Attributes:
        path: the comparison folder.
        results: every trial of every run (the rows of ``results.csv``).
        summary: the rows of ``summary.csv``.
        runs: ``(strategy, seed) -> SearchResult``.
        objectives: what was optimised (one objective unless multi-objective).
        pareto: the non-dominated trials over every run, for the objectives (multi-objective
            comparisons; empty otherwise).
        pareto_by_strategy: each strategy's non-dominated trials over its seeds.
        plots: plot name -> PNG path; report: ``report.md``.
    """

    path: Path
    results: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    runs: dict[tuple[str, int], Any] = field(repr=False)
    objectives: tuple[Objective, ...]
    pareto: list[dict[str, Any]]
    pareto_by_strategy: dict[str, list[dict[str, Any]]]
    plots: dict[str, Path]
    report: Path
    score: str | None = None
    optimum: float | None = None

    def final(self, quantity: str | None = None) -> dict[str, dict[str, Any]]:
        """Strategy -> summary row of ``quantity`` (default ``best_<first objective>``) at the largest budget."""
        quantity = quantity or f"best_{self.objectives[0].name}"
        budget = max(int(r["budget"]) for r in self.summary)
        return {r["strategy"]: r for r in self.summary if r["quantity"] == quantity and int(r["budget"]) == budget}


def table_reference(evaluator: Any, space: Any, constraints: Constraints | None) -> tuple[str | None, float | None]:
    """``(score, optimum)`` for a tabular evaluator: ``test_accuracy`` and the best test value
    of the table among the architectures that meet ``constraints`` (``(None, None)`` otherwise)."""
    from raynas.evaluate.table import TableEvaluator

    if not isinstance(evaluator, TableEvaluator):
        return None, None
    constraints = constraints or Constraints()
    if not constraints.active:
        return "test_accuracy", float(evaluator.optimum)
    if getattr(space, "size", math.inf) > 100_000 or not hasattr(space, "enumerate"):
        return "test_accuracy", None
    column = evaluator.test_column
    values = []
    for arch in space.enumerate():
        if constraints.satisfied(space, arch):
            try:
                values.append(evaluator.lookup(arch)[column])
            except ValueError:
                continue
    return "test_accuracy", (max(values) if values else None)


def _check_strategies(names: Any) -> list[str]:
    import strategies

    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, Sequence) or not names:
        raise ConfigError(f"strategies must be a non-empty list of names from {strategies.available()}, got {names!r}")
    names = list(names)
    for name in names:
        if name not in strategies.available():
            raise ConfigError(f"unknown strategy {name!r}; available: {', '.join(strategies.available())}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"strategies lists {repeated} more than once: {names}")
    return names


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError(f"seeds must be a number of seeds >= 1 or a list of ints, got {seeds!r}")
        return list(range(int(seeds)))
    if not isinstance(seeds, Sequence) or isinstance(seeds, str) or not seeds:
        raise ConfigError(f"seeds must be a number of seeds >= 1 or a non-empty list of ints, got {seeds!r}")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ConfigError(f"seeds must be ints >= 0, got {seed!r} in {list(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds repeat a value: {list(seeds)}")
    return [int(s) for s in seeds]


def _check_budgets(budgets: Any, num_samples: int) -> list[int]:
    from raynas.report.results import default_budgets

    if budgets is None:
        return default_budgets(num_samples)
    if isinstance(budgets, str) or not isinstance(budgets, Sequence) or not budgets:
        raise ConfigError(f"budgets must be a non-empty list of ints in [1, {num_samples}], got {budgets!r}")
    for budget in budgets:
        if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or not 1 <= budget <= num_samples:
            raise ConfigError(f"budgets must be ints in [1, num_samples={num_samples}], got {budget!r} in {list(budgets)}")
    return sorted({int(b) for b in budgets})


def _describe(evaluator: Any) -> str:
    signal = getattr(evaluator, "signal", None)
    if signal:
        return f"table {Path(getattr(evaluator, 'path', '')).name} (signal {signal})"
    checkpoint = getattr(evaluator, "checkpoint", None)
    if checkpoint:
        return f"supernet {checkpoint} (data {getattr(evaluator, 'dataset', '?')})"
    return type(evaluator).__name__


def compare(
    space: Any,
    evaluator: Callable[[dict[str, Any]], Mapping[str, Any]],
    strategies: Sequence[str] | str = ("random", "evolution"),
    *,
    seeds: int | Sequence[int] = 2,
    num_samples: int = 50,
    max_concurrent: int = 2,
    constraints: Constraints | None = None,
    metric: str = "accuracy",
    mode: str = "max",
    objectives: str | Sequence[Any] | None = None,
    score: str | None = None,
    optimum: float | None = None,
    budgets: Sequence[int] | None = None,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    strategy_options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Any = None,
    title: str | None = None,
    callbacks: list[Any] | None = None,
    scheduler: Any = None,
    runtime_env: Mapping[str, Any] | None = None,
) -> CompareResult:
    """Run every strategy with every seed through ``raynas.search``; write tables, plots and a report.

    Args:
        space, evaluator, constraints, metric, mode, max_concurrent, address, cpus_per_trial:
            as for :func:`raynas.search`, the same for every run.
        strategies: registry names (a list, or text ``"random,evolution"``).
        seeds: a number of seeds (``2`` means seeds 0 and 1) or a list of seeds.
        num_samples: trials per run (the budget).
        objectives: several objectives (``"accuracy:max,flops:min"``, optionally with
            weights ``name:mode:weight``; see :mod:`raynas.tune.objectives` for how each
            strategy handles them). Then ``metric``/``mode`` are ignored, the result's
            ``pareto`` holds the non-dominated set, and ``pareto.csv`` is written.
        score, optimum: a metric measuring what the incumbent is finally worth and its
            best possible value, for the ``incumbent_<score>`` and ``regret`` summaries and
            the regret plot. For a :class:`raynas.TableEvaluator` they default to
            ``test_accuracy`` and the table's best (feasible) test value.
        budgets: numbers of evaluations at which ``summary.csv`` summarises (default: a
            quarter, half, three quarters and all of ``num_samples``).
        out_dir: the comparison folder (default: a new temporary folder). A folder that
            already holds a comparison is refused unless ``overwrite``.
        strategy_options: strategy name -> its options (``strategies.options(name)``).
        progress: as for :func:`raynas.search`; one display counts the trials of all runs.
        scheduler: as for :func:`raynas.search` (e.g. ``"asha"`` to stop poor subnets of a chunked
            evaluator early); each run gets its own copy, so no run's decisions depend on another's.
        callbacks, runtime_env: as for :func:`raynas.search`, given to every run.

    Raises:
        ConfigError: unknown strategy, bad seeds/budgets/objectives, or an occupied ``out_dir``.
        InfeasibleConstraints: no architecture meets ``constraints``.
    """
    import raynas
    from raynas.report.comparison import write_comparison
    from raynas.report.progress import make_progress

    names = _check_strategies(strategies)
    seed_list = _check_seeds(seeds)
    check_int(None, "num_samples", num_samples, low=1)
    budget_list = _check_budgets(budgets, num_samples)
    if not callable(evaluator):
        raise TypeError(f"evaluator must be callable arch -> dict of metrics, got {type(evaluator).__name__}")
    options = dict(strategy_options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ConfigError(f"strategy_options names strategies {unknown} that are not compared; compared: {names}")
    multi = objectives is not None
    objective_list = parse_objectives(objectives) if multi else parse_objectives([(metric, mode)])
    if multi:
        objective_list = resolve_scales(objective_list, space)
    constraints = constraints or Constraints()
    constraints.check_feasible(space)
    if not multi and (score is None and optimum is None):
        score, optimum = table_reference(evaluator, space, constraints)

    out = _prepare(out_dir, overwrite)
    settings = {
        "space": getattr(space, "name", None), "evaluator": _describe(evaluator), "strategies": names,
        "seeds": seed_list, "num_samples": num_samples, "max_concurrent": max_concurrent,
        "objectives": [str(o) for o in objective_list], "multi_objective": multi,
        "constraints": constraints.to_dict(), "score": score, "optimum": optimum, "budgets": budget_list,
        "strategy_options": options,
        "scheduler": scheduler if scheduler is None or isinstance(scheduler, str) else type(scheduler).__name__,
    }
    (out / MARKER).write_text(json.dumps(settings, indent=2, default=str))

    first = objective_list[0]
    display, owned = make_progress(progress, len(names) * len(seed_list) * num_samples, metric=first.name,
                                   mode=first.mode)
    run_evaluator = ScalarizedEvaluator(evaluator, objective_list) if multi else evaluator
    runs: dict[tuple[str, int], Any] = {}
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for name in names:
            for seed in seed_list:
                run_name = f"{name}-seed{seed}"
                if multi:
                    searcher, run_metric, run_mode = multi_objective_searcher(
                        name, space=space, objectives=objective_list, seed=seed, constraints=constraints,
                        options=options.get(name))
                    strategy, run_options = searcher, None
                else:
                    strategy, run_options, run_metric, run_mode = name, options.get(name), first.name, first.mode
                display.set_label(f"{name} seed {seed}", metric=run_metric, mode=run_mode)
                display.reset_best()
                logger.info("run %s: %d trials", run_name, num_samples)
                result = raynas.search(
                    space, run_evaluator, strategy=strategy, num_samples=num_samples, max_concurrent=max_concurrent,
                    seed=seed, constraints=constraints, metric=run_metric, mode=run_mode,
                    out_dir=out / "runs" / run_name, name=run_name, address=address,
                    cpus_per_trial=cpus_per_trial, strategy_options=run_options, progress=display,
                    scheduler=copy.deepcopy(scheduler), callbacks=callbacks, runtime_env=runtime_env,
                )
                runs[(name, seed)] = result
                rows += _rows_of(name, seed, result.history)
    finally:
        if owned:
            display.close()
    logger.info("compared %d strategies x %d seeds in %.1fs", len(names), len(seed_list), time.monotonic() - started)
    setup, notes = {}, []
    if multi:
        setup["multi-objective method"] = "; ".join(f"{n}: {method_of(n)}" for n in names)
        if any(n not in METHODS for n in names):
            notes.append(f"scalarized = sum of weight x sign x value / scale over "
                         f"{', '.join(f'{o.name} (weight {o.weight:g}, scale {o.scale:g})' for o in objective_list)}.")
    report = write_comparison(out, rows, settings, [(o.name, o.mode) for o in objective_list], multi=multi,
                              score=score, optimum=optimum, budgets=budget_list, title=title, setup=setup,
                              notes=notes)
    return CompareResult(path=out, results=rows, summary=report.summary, runs=runs, objectives=objective_list,
                         pareto=report.pareto, pareto_by_strategy=report.pareto_by_strategy, plots=report.plots,
                         report=report.report, score=score, optimum=optimum)


def _prepare(out_dir: str | os.PathLike | None, overwrite: bool) -> Path:
    if out_dir is None:
        return Path(tempfile.mkdtemp(prefix="raynas-compare-"))
    out = Path(out_dir).expanduser()
    held = [f for f in (MARKER, "results.csv") if (out / f).exists()]
    if held and not overwrite:
        raise ConfigError(
            f"output folder {str(out)!r} already holds comparison results ({', '.join(held)}); "
            "pass --overwrite (overwrite=True) to replace them, or choose another folder"
        )
    if held and not (out / MARKER).exists():
        (out / MARKER).write_text("{}")  # results.csv alone: let prepare_out_dir replace the folder
    return prepare_out_dir(out, resume=False, overwrite=overwrite, marker=MARKER)


def _rows_of(strategy: str, seed: int, history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for index, entry in enumerate(history, start=1):
        row = {"strategy": strategy, "seed": seed, "trial": index}
        row.update({k: v for k, v in entry.items() if k != "error"})
        row["error"] = entry.get("error") or ""
        rows.append(row)
    return rows
