"""The comparison plots, as PNG files readable without the text around them.

Every figure is drawn on its own ``matplotlib.figure.Figure`` with the Agg canvas (no
pyplot, no global backend switch, no display needed) and saved at a fixed pixel size,
:data:`FIGSIZE` inches at :data:`DPI` (800 x 500 pixels): titles, axis labels with
units and a legend make each one stand on its own.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from raynas.pareto import pareto_front
from raynas.report._style import Style, front_marker_size, front_width, style_of
from raynas.report._ticks import log_ticks, tick_label
from raynas.report.results import mean_band

__all__ = ["FIGSIZE", "DPI", "pixel_size", "plot_curves", "plot_pareto", "plot_wall_time"]

logger = logging.getLogger(__name__)

FIGSIZE = (8.0, 5.0)
DPI = 100
REGRET_FLOOR = 1e-2  # regret 0 (the optimum found) is drawn at this value on the log scale


def pixel_size() -> tuple[int, int]:
    """(width, height) in pixels of every PNG written here."""
    return int(round(FIGSIZE[0] * DPI)), int(round(FIGSIZE[1] * DPI))


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=DPI, format="png")  # no bbox_inches="tight": the pixel size stays fixed
    return path


def _styles(names: Sequence[str]) -> dict[str, Style]:
    return {name: style_of(i) for i, name in enumerate(names)}


def _log_axis(ax, low: float, high: float) -> None:
    """A log y axis whose ticks read as plain numbers (0.01, 0.1, 0.2, 0.5, 1, 2, 5), never 4x10^0."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ax.set_yscale("log")
    ticks = log_ticks(low, high)
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: tick_label(value)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(ticks[0], ticks[-1])


def plot_curves(
    curves: Mapping[str, Sequence[Sequence[float | None]]],
    path: str | os.PathLike,
    *,
    ylabel: str,
    title: str,
    subtitle: str = "",
    log: bool = False,
    reference: float | None = None,
    reference_label: str = "",
) -> Path:
    """One line per strategy: the mean over seeds of a per-evaluation curve, with a +-1 std band.

    Args:
        curves: strategy -> list of runs (one per seed) -> value after each evaluation
            (``None`` before the first successful one).
        log: log-scale y (values below :data:`REGRET_FLOOR` are drawn at the floor).
        reference: a horizontal dashed line (e.g. the known optimum), with ``reference_label``.
    """
    fig = _figure()
    ax = fig.add_subplot()
    styles = _styles(list(curves))
    floor = REGRET_FLOOR if log else None
    drawn: list[float] = []
    bands = {strategy: mean_band(runs, floor) for strategy, runs in curves.items()}
    shown = [strategy for strategy, band in bands.items() if band[0]]
    for strategy in shown:
        runs = curves[strategy]
        xs, means, lows, highs = bands[strategy]
        style = styles[strategy]
        label = f"{strategy} ({len(runs)} seed{'s' if len(runs) != 1 else ''})"
        # the first strategy's line widest, each later one narrower with its own dash pattern:
        # a curve lying on another's (the same proposals) stays visible
        rank = shown.index(strategy)
        ax.plot(xs, means, color=style.color, linewidth=front_width(rank, len(shown), widest=4.0, thinnest=1.6),
                linestyle=(0, style.dash) if style.dash else "-", label=label, drawstyle="steps-post",
                zorder=3 + rank)
        drawn += lows + highs
        if len(runs) > 1:
            # a light fill, and the band's edges as thin lines in the strategy's colour and dash
            # pattern, so overlapping bands stay apart instead of blending into one colour
            ax.fill_between(xs, lows, highs, color=style.color, alpha=0.12, step="post", linewidth=0, zorder=1)
            for edge in (lows, highs):
                ax.plot(xs, edge, color=style.color, linewidth=0.9, alpha=0.8, drawstyle="steps-post",
                        linestyle=(0, style.dash) if style.dash else "-", zorder=2)
    if reference is not None:
        ax.axhline(reference, color="black", linestyle="--", linewidth=1, label=reference_label or None)
    if log and drawn:
        _log_axis(ax, min(drawn), max(drawn))
    ax.set_xlabel("evaluations (trials completed)")
    ax.set_ylabel(ylabel)
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best", fontsize=9, title="line: mean; band (edges drawn): +-1 std over seeds", title_fontsize=8)
    return _save(fig, path)


def plot_pareto(
    rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    x: str = "flops",
    y: str = "accuracy",
    x_mode: str = "min",
    y_mode: str = "max",
    title: str,
    subtitle: str = "",
    x_scale: float = 1e6,
    x_label: str = "MFLOPs",
    y_label: str = "accuracy (%)",
) -> Path:
    """Every evaluated architecture as a point (``x`` against ``y``, one color per strategy),
    and each strategy's Pareto front over all its seeds drawn as a step line over it."""
    fig = _figure()
    ax = fig.add_subplot()
    strategies = list(dict.fromkeys(row["strategy"] for row in rows))
    styles = _styles(strategies)
    fronts: dict[str, list[tuple[float, float]]] = {}
    for strategy in strategies:
        points = [
            (float(r[x]), float(r[y])) for r in rows
            if r["strategy"] == strategy and r.get("status", "ok") == "ok"
            and all(isinstance(r.get(k), (int, float)) and math.isfinite(r[k]) for k in (x, y))
        ]
        if not points:
            continue
        style = styles[strategy]
        ax.scatter([p[0] / x_scale for p in points], [p[1] for p in points], s=16, alpha=0.3, marker=style.marker,
                   color=style.color, edgecolors="none", label=f"{strategy}: {len(points)} evaluated", zorder=1)
        fronts[strategy] = sorted({points[i] for i in pareto_front(points, [x_mode, y_mode])})
    # every front over the points, the first drawn widest with the largest hollow markers and
    # each later one narrower and smaller: a front on the same path as another shows inside it
    for rank, (strategy, front) in enumerate(fronts.items()):
        style = styles[strategy]
        same = [other for other in list(fronts)[:rank] if fronts[other] == front]
        label = f"{strategy}: Pareto front ({len(front)})" + (f", same points as {same[0]}'s" if same else "")
        ax.plot([p[0] / x_scale for p in front], [p[1] for p in front], color=style.color,
                linewidth=front_width(rank, len(fronts), widest=4.5, thinnest=1.2),
                linestyle=(0, style.dash) if style.dash else "-", marker=style.marker,
                markersize=front_marker_size(rank, len(fronts), largest=12, smallest=5), markerfacecolor="none",
                markeredgewidth=1.6, drawstyle="steps-post" if x_mode == "min" else "steps-pre", label=label,
                zorder=3 + rank)
    ax.set_xlabel(f"{x_label} ({'lower' if x_mode == 'min' else 'higher'} is better)")
    ax.set_ylabel(f"{y_label} ({'higher' if y_mode == 'max' else 'lower'} is better)")
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_wall_time(
    times: Mapping[str, Sequence[float | Mapping[str, float | None]]],
    path: str | os.PathLike,
    *,
    title: str,
    subtitle: str = "",
) -> Path:
    """Wall time of each strategy's runs, split into start-up, evaluating and Tune's overhead.

    Args:
        times: strategy -> one entry per run (seed): a :func:`raynas.report.results.wall_time_split`
            dict, or a plain number of seconds where no split is known. Each strategy gets a
            horizontal bar stacked from the means over its runs, labelled in seconds; each
            run's total is a dot.
    """
    fig = _figure()
    ax = fig.add_subplot()
    names = list(times)
    parts = (("startup_s", "start-up (Ray Tune starts the experiment and trial workers)", "#BBBBBB", "//"),
             ("evaluating_s", "evaluating (at least one evaluation running)", "#4477AA", ""),
             ("other_s", "Tune overhead (scheduling, results; no evaluation running)", "#EE8866", ".."))
    labelled: set[str] = set()
    for i, name in enumerate(names):
        splits = [v if isinstance(v, Mapping) else {"total_s": float(v)} for v in times[name]]
        totals = [float(s["total_s"]) for s in splits if s.get("total_s") is not None]
        if not totals:
            continue
        complete = [s for s in splits if all(s.get(k) is not None for k, *_ in parts)]
        left = 0.0
        if complete:
            for key, label, color, hatch in parts:
                mean = sum(float(s[key]) for s in complete) / len(complete)
                ax.barh(i, mean, left=left, color=color, hatch=hatch, edgecolor="white", height=0.6,
                        label=None if key in labelled else label)
                labelled.add(key)
                if mean > 0:
                    ax.annotate(f"{mean:.1f}s", (left + mean / 2, i), ha="center", va="center", fontsize=8)
                left += mean
        else:
            mean = sum(totals) / len(totals)
            ax.barh(i, mean, color="#999999", height=0.6,
                    label=None if "total" in labelled else "total (no evaluation times recorded)")
            labelled.add("total")
            left = mean
        ax.scatter(totals, [i] * len(totals), color="black", s=14, zorder=3,
                   label=None if "dots" in labelled else "each run's total")
        labelled.add("dots")
        ax.annotate(f"{sum(totals) / len(totals):.1f}s in all", (max(left, *totals), i), textcoords="offset points",
                    xytext=(6, 0), va="center", fontsize=9)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("wall time per run (s): bars are means over seeds")
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    ax.grid(True, axis="x", alpha=0.3)
    ax.margins(x=0.18)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False)
    return _save(fig, path)
