"""A comparison's report: ``results.csv``, ``summary.csv``, the plots, ``report.md`` and ``report.html``.

:func:`raynas.compare` runs the strategies x seeds and hands the trials here; this module
only composes what a user reads (see :mod:`raynas.tune.compare` for the folder's layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["ComparisonReport", "write_comparison", "PARETO_FILE"]

PARETO_FILE = "pareto.csv"
_COST_LABELS = {"flops": ("MFLOPs", 1e6), "params": ("M parameters", 1e6)}


@dataclass
class ComparisonReport:
    """What :func:`write_comparison` wrote: the summary rows, Pareto sets, plots and ``report.md``."""

    summary: list[dict[str, Any]]
    pareto: list[dict[str, Any]]
    pareto_by_strategy: dict[str, list[dict[str, Any]]]
    plots: dict[str, Path]
    report: Path


def _axis(name: str) -> tuple[str, float]:
    return _COST_LABELS.get(name, (name, 1.0))


def write_comparison(out: Path, rows: list[dict[str, Any]], settings: Mapping[str, Any],
                     objectives: Sequence[tuple[str, str]], *, multi: bool, score: str | None, optimum: float | None,
                     budgets: list[int], title: str | None = None, setup: Mapping[str, str] | None = None,
                     notes: Sequence[str] = ()) -> ComparisonReport:
    """Write a comparison's tables, plots, ``report.md`` and ``report.html`` into ``out``.

    Args:
        rows: every trial of every run (``strategy``, ``seed``, ``trial`` and the metrics).
        settings: what ``compare.json`` holds (space, evaluator, strategies, seeds,
            num_samples, max_concurrent, objectives as text, constraints).
        objectives: ``(name, mode)`` pairs, the first the main one.
        multi: a multi-objective comparison (``pareto.csv`` and Pareto sets).
        score, optimum: the incumbent's final score and its best value (regret), or None.
        budgets: evaluations at which ``summary.csv`` summarises.
        setup, notes: further lines for the report's set-up table and notes.
    """
    from raynas.pareto import pareto_rows
    from raynas.report import plots
    from raynas.report.html import write_html_report
    from raynas.report.markdown import write_report
    from raynas.report.results import (
        RESULTS_FILE,
        SUMMARY_FILE,
        run_curves,
        runs_of,
        summarize,
        wall_time_split,
        write_results,
        write_summary,
    )

    pairs = [(name, mode) for name, mode in objectives]
    write_results(out / RESULTS_FILE, rows)
    summary = summarize(rows, budgets=budgets, objectives=pairs, score=score, optimum=optimum)
    write_summary(out / SUMMARY_FILE, summary)

    names = settings["strategies"]
    curves: dict[str, dict[str, list]] = {name: {} for name in names}
    for (name, _seed), trials in runs_of(rows).items():
        for quantity, values in run_curves(trials, objectives=pairs, score=score, optimum=optimum).items():
            curves[name].setdefault(quantity, []).append(values)
    first_name, first_mode = pairs[0]
    title = title or f"{settings['space']}: {', '.join(names)}"
    subtitle = (f"{settings['evaluator']}; {len(settings['seeds'])} seeds x {settings['num_samples']} evaluations, "
                f"concurrency {settings['max_concurrent']}")
    if any(v is not None for v in settings["constraints"].values()):
        subtitle += "; " + ", ".join(f"{k}={v:g}" for k, v in settings["constraints"].items() if v is not None)

    made: dict[str, Path] = {}
    captions: dict[str, tuple[str, str]] = {}
    key = f"best_{first_name}"
    made["best_so_far"] = plots.plot_curves(
        {n: curves[n].get(key, []) for n in names}, out / "best_so_far.png",
        ylabel=f"best {first_name} so far ({'higher' if first_mode == 'max' else 'lower'} is better)",
        title=f"{title}: best {first_name} so far", subtitle=subtitle)
    captions["best_so_far"] = (f"Best {first_name} so far against evaluations", "best_so_far.png")
    if optimum is not None and score is not None:
        made["regret"] = plots.plot_curves(
            {n: curves[n].get("regret", []) for n in names}, out / "regret.png", log=True,
            ylabel=f"regret: optimum {optimum:.4g} - incumbent's {score} (log)",
            title=f"{title}: regret of the incumbent", subtitle=subtitle)
        captions["regret"] = (f"Regret of the incumbent's {score} (log scale; 0 drawn at "
                              f"{plots.REGRET_FLOOR:g})", "regret.png")
    axes = _pareto_axes(pairs, multi, rows)
    if axes is not None:
        (x, x_mode), (y, y_mode) = axes
        x_label, x_scale = _axis(x)
        y_label, y_scale = _axis(y)
        made["pareto"] = plots.plot_pareto(
            rows, out / "pareto.png", x=x, y=y, x_mode=x_mode, y_mode=y_mode, x_scale=x_scale, x_label=x_label,
            y_label=y_label, title=f"{title}: {y} vs {x}", subtitle=subtitle)
        captions["pareto"] = (f"{y} against {x} for every evaluated architecture, with each "
                              "strategy's Pareto front", "pareto.png")
    times = {n: [wall_time_split(trials) for (name, _seed), trials in runs_of(rows).items() if name == n]
             for n in names}
    made["wall_time"] = plots.plot_wall_time(times, out / "wall_time.png", title=f"{title}: wall time per run",
                                             subtitle=subtitle)
    captions["wall_time"] = ("Wall time per run, split into Tune start-up, evaluating and Tune overhead",
                             "wall_time.png")

    pareto: list[dict[str, Any]] = []
    by_strategy: dict[str, list[dict[str, Any]]] = {}
    if multi:
        pareto = [dict(r) for r in pareto_rows(rows, pairs)]
        by_strategy = {n: [dict(r) for r in pareto_rows([r for r in rows if r["strategy"] == n], pairs)]
                       for n in names}
        write_results(out / PARETO_FILE, pareto)

    extra_setup, setup = setup, {
        "space": settings["space"], "evaluator": settings["evaluator"], "strategies": ", ".join(names),
        "seeds": ", ".join(map(str, settings["seeds"])), "evaluations per run": settings["num_samples"],
        "concurrency": settings["max_concurrent"],
        "early stopping": settings.get("scheduler") or "none",
        "objectives": ", ".join(settings["objectives"]),
        "constraints": ", ".join(f"{k}={v:g}" for k, v in settings["constraints"].items() if v is not None) or "none",
    }
    setup.update(extra_setup or {})
    if optimum is not None:
        setup["known optimum"] = f"{score} = {optimum:.6g}"
    failed = sum(1 for r in rows if r.get("status") not in ("ok", "stopped"))
    notes = [f"{len(rows)} trials in all, {failed} failed (their reasons are in results.csv).", *notes]
    stopped = sum(1 for r in rows if r.get("status") == "stopped")
    if stopped:
        notes.append(f"{stopped} trials were stopped early by the trial scheduler after part of the validation set "
                     "(status 'stopped', fraction_evaluated in results.csv); only subnets evaluated in full count "
                     "as results.")
    files = {"report.html": "the comparison on one page (open it in a browser)", "results.csv": "one row per trial", "summary.csv": "mean/std/median over seeds at each budget",
             "compare.json": "the settings", "runs/": "each run's own search folder"}
    if multi:
        files[PARETO_FILE] = "the Pareto set over every run"
    report = write_report(out / "report.md", title=f"Comparison: {title}", setup=setup, summary=summary,
                          plots=captions, pareto=pareto, pareto_columns=[name for name, _ in pairs], notes=notes,
                          files=files)
    write_html_report(out)
    return ComparisonReport(summary=summary, pareto=pareto, pareto_by_strategy=by_strategy, plots=made,
                            report=report)


def _pareto_axes(objectives: Sequence[tuple[str, str]], multi: bool, rows: Sequence[Mapping[str, Any]]):
    """((x, mode), (y, mode)) of the Pareto plot: the two objectives of a two-objective
    comparison, else the first objective against FLOPs (None without FLOPs)."""
    if multi and len(objectives) == 2:
        return objectives[1], objectives[0]
    if any(isinstance(r.get("flops"), (int, float)) for r in rows) and objectives[0][0] != "flops":
        return ("flops", "min"), objectives[0]
    return None
