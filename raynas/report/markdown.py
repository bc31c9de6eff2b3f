"""``report.md``: the setup, a summary table at the final budget, the plots, the Pareto set."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["write_report", "markdown_table"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(
    path: str | os.PathLike,
    *,
    title: str,
    setup: Mapping[str, Any],
    summary: Sequence[Mapping[str, Any]],
    plots: Mapping[str, tuple[str, str]],
    pareto: Sequence[Mapping[str, Any]] = (),
    pareto_columns: Sequence[str] = (),
    notes: Sequence[str] = (),
    files: Mapping[str, str] | None = None,
) -> Path:
    """Write ``report.md``.

    Args:
        setup: what was compared (shown as a two-column table).
        summary: ``summary.csv`` rows; the table shows every quantity at the largest budget,
            as ``mean +- std (median)`` over seeds, one row per strategy.
        plots: key -> (caption, PNG file name relative to the report).
        pareto: rows of the Pareto set (with ``strategy``, ``seed``, ``trial``, ``arch``).
        pareto_columns: the metric columns shown for the Pareto rows.
        files: file name -> what it holds.
    """
    path = Path(path)
    out = [f"# {title}", ""]
    out += [markdown_table(["setting", "value"], [[k, v] for k, v in setup.items()]), ""]
    if summary:
        final = max(int(r["budget"]) for r in summary)
        quantities = list(dict.fromkeys(r["quantity"] for r in summary))
        strategies = list(dict.fromkeys(r["strategy"] for r in summary))
        cells = {(r["strategy"], r["quantity"]): r for r in summary if int(r["budget"]) == final}
        rows = []
        for strategy in strategies:
            row: list[Any] = [strategy]
            for quantity in quantities:
                cell = cells.get((strategy, quantity))
                if cell is None or cell["mean"] is None:
                    row.append("-")
                else:
                    row.append(f"{_fmt(cell['mean'])} +- {_fmt(cell['std'])} ({_fmt(cell['median'])})")
            rows.append(row)
        out += [f"## Summary after {final} evaluations", "",
                "mean +- std (median) over seeds; every budget is in `summary.csv`.", "",
                markdown_table(["strategy", *quantities], rows), ""]
    if plots:
        out += ["## Plots", ""]
        for caption, file in plots.values():
            out += [f"### {caption}", "", f"![{caption}]({file})", ""]
    if pareto:
        out += [f"## Pareto set ({len(pareto)} architectures, over every strategy and seed)", ""]
        rows = [[r.get("strategy"), r.get("seed"), r.get("trial"), *[r.get(c) for c in pareto_columns],
                 "`" + json.dumps(r.get("arch"), sort_keys=True) + "`"] for r in pareto]
        out += [markdown_table(["strategy", "seed", "trial", *pareto_columns, "arch"], rows), ""]
    if notes:
        out += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    if files:
        out += ["## Files", ""] + [f"- `{name}`: {what}" for name, what in files.items()] + [""]
    path.write_text("\n".join(out))
    return path
