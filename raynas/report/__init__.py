"""What a user looks at: results and summary tables, plots, Pareto fronts, report.md, report.html, progress.

Pareto sorting lives in the core, :mod:`raynas.pareto` (pure Python, shared with the
strategies); its names are re-exported here. The plots import matplotlib only when drawn. Names are loaded on first use::

    from raynas.report import pareto_front, summarize, plot_curves
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "pareto_front": "raynas.pareto",
    "pareto_rows": "raynas.pareto",
    "non_dominated_sort": "raynas.pareto",
    "crowding_distance": "raynas.pareto",
    "dominates": "raynas.pareto",
    "write_results": "raynas.report.results",
    "read_results": "raynas.report.results",
    "write_summary": "raynas.report.results",
    "read_summary": "raynas.report.results",
    "summarize": "raynas.report.results",
    "best_so_far": "raynas.report.results",
    "incumbent_curve": "raynas.report.results",
    "runs_of": "raynas.report.results",
    "wall_time_split": "raynas.report.results",
    "mean_band": "raynas.report.results",
    "plot_curves": "raynas.report.plots",
    "plot_pareto": "raynas.report.plots",
    "plot_wall_time": "raynas.report.plots",
    "pixel_size": "raynas.report.plots",
    "write_report": "raynas.report.markdown",
    "write_html_report": "raynas.report.html",
    "load_report_data": "raynas.report.html",
    "Progress": "raynas.report.progress",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'raynas.report' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
