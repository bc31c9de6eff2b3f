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


def _colors(names: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def _mean_band(runs: Sequence[Sequence[float | None]], floor: float | None) -> tuple[list, list, list, list]:
    """x, mean, mean - std, mean + std over the runs at each step where some run has a value."""
    xs, means, lows, highs = [], [], [], []
    length = max((len(r) for r in runs), default=0)
    for step in range(length):
        values = [float(r[min(step, len(r) - 1)]) for r in runs if r and r[min(step, len(r) - 1)] is not None]
        if not values:
            continue
        if floor is not None:
            values = [max(v, floor) for v in values]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        low = mean - std
        if floor is not None:
            low = max(low, floor)
        xs.append(step + 1)
        means.append(mean)
        lows.append(low)
        highs.append(mean + std)
    return xs, means, lows, highs


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
    colors = _colors(list(curves))
    floor = REGRET_FLOOR if log else None
    for strategy, runs in curves.items():
        xs, means, lows, highs = _mean_band(runs, floor)
        if not xs:
            continue
        label = f"{strategy} ({len(runs)} seed{'s' if len(runs) != 1 else ''})"
        ax.plot(xs, means, color=colors[strategy], linewidth=2, label=label, drawstyle="steps-post")
        if len(runs) > 1:
            ax.fill_between(xs, lows, highs, color=colors[strategy], alpha=0.2, step="post", linewidth=0)
    if reference is not None:
        ax.axhline(reference, color="black", linestyle="--", linewidth=1, label=reference_label or None)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("evaluations (trials completed)")
    ax.set_ylabel(ylabel)
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=9, title="mean, band = +-1 std over seeds", title_fontsize=8)
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
    colors = _colors(strategies)
    for strategy in strategies:
        points = [
            (float(r[x]), float(r[y])) for r in rows
            if r["strategy"] == strategy and r.get("status", "ok") == "ok"
            and all(isinstance(r.get(k), (int, float)) and math.isfinite(r[k]) for k in (x, y))
        ]
        if not points:
            continue
        ax.scatter([p[0] / x_scale for p in points], [p[1] for p in points], s=14, alpha=0.35,
                   color=colors[strategy], edgecolors="none", label=f"{strategy}: {len(points)} evaluated")
        front = sorted({points[i] for i in pareto_front(points, [x_mode, y_mode])})
        ax.plot([p[0] / x_scale for p in front], [p[1] for p in front], color=colors[strategy], linewidth=2,
                marker="o", markersize=5, drawstyle="steps-post" if x_mode == "min" else "steps-pre",
                label=f"{strategy}: Pareto front ({len(front)})")
    ax.set_xlabel(f"{x_label} ({'lower' if x_mode == 'min' else 'higher'} is better)")
    ax.set_ylabel(f"{y_label} ({'higher' if y_mode == 'max' else 'lower'} is better)")
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_wall_time(
    times: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    *,
    title: str,
    subtitle: str = "",
) -> Path:
    """Wall time of each strategy's runs: a bar at the mean over seeds, each seed as a dot."""
    fig = _figure()
    ax = fig.add_subplot()
    names = list(times)
    colors = _colors(names)
    for i, name in enumerate(names):
        values = [float(v) for v in times[name]]
        if not values:
            continue
        mean = sum(values) / len(values)
        ax.bar(i, mean, color=colors[name], alpha=0.6, width=0.6)
        ax.scatter([i] * len(values), values, color="black", s=16, zorder=3)
        ax.annotate(f"{mean:.1f}s", (i, mean), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=9)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlabel("strategy (bar: mean over seeds, dots: each seed)")
    ax.set_ylabel("wall time per run (s)")
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)
