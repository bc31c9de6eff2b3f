"""The HTML report's charts, built from ``results.csv``-style rows as inline SVG.

Each builder returns the ``<svg>`` text and, where the page's script needs it for
hovering, the data behind the chart (JSON-serialisable).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Mapping, Sequence

from raynas.report._style import front_marker_size, front_width, style_of
from raynas.report._svg import Chart
from raynas.report._ticks import linear_ticks, tick_label
from raynas.pareto import pareto_front
from raynas.report.plots import REGRET_FLOOR
from raynas.report.results import mean_band

__all__ = ["curves_chart", "scatter_chart", "wall_time_chart", "finite"]


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def curves_chart(curves: Mapping[int, Sequence[Sequence[float | None]]], names: Sequence[str], *, chart_id: str,
                 title: str, y_label: str, log: bool = False, reference: tuple[float, str] | None = None,
                 points: Sequence[tuple[int, float, float, int]] = ()) -> tuple[str, dict[str, Any]] | None:
    """Mean over seeds of a per-evaluation curve per strategy, with a +-1 std band (edges drawn).

    Args:
        curves: strategy index -> runs (one per seed) -> value after each evaluation.
        names: strategy names by index.
        log: a log y axis; values below :data:`REGRET_FLOOR` are drawn at it.
        reference: ``(y, label)`` of a dashed horizontal line.
        points: ``(strategy index, x, y, key)`` markers to draw under the lines (a search's
            every trial), hoverable through ``key``.

    Returns ``None`` when no curve has a value.
    """
    floor = REGRET_FLOOR if log else None
    series = []
    for index, runs in curves.items():
        xs, means, lows, highs = mean_band(runs, floor)
        if xs:
            series.append({"s": index, "name": names[index], "seeds": len(runs), "x": xs, "mean": means,
                           "low": lows, "high": highs})
    if not series:
        return None
    ys = [v for s in series for v in s["low"] + s["high"]] + [p[2] for p in points]
    if reference is not None:
        ys.append(reference[0])
    x_max = max(max(s["x"]) for s in series)
    chart = Chart(x_range=(0, max(x_max, 1)), y_range=(min(ys), max(ys)), x_label="evaluations (trials completed)",
                  y_label=y_label, title=title, kind="curves", log_y=log, chart_id=chart_id)
    for index, x, y, key in points:
        style = style_of(index)
        chart.marker(x, y, cls=f"s{index} pt", shape=style.svg_marker, size=7, color=style.color, opacity=0.4,
                     key=key)
    for s in series:
        style = style_of(s["s"])
        if s["seeds"] > 1:
            chart.band(s["x"], s["low"], s["high"], cls=f"s{s['s']}", color=style.color, dash=style.svg_dash or "4 2")
    # the first strategy's line widest, each later one narrower with its own dash pattern: a
    # curve lying on another (two strategies that proposed the same architectures) stays visible
    for rank, s in enumerate(series):
        style = style_of(s["s"])
        chart.line(s["x"], s["mean"], cls=f"s{s['s']}", color=style.color, dash=style.svg_dash, step="post",
                   width=front_width(rank, len(series), widest=4.5, thinnest=1.8))
    if reference is not None:
        chart.hline(reference[0], label=reference[1])
    chart.raw(f'<path class="guide" d="M0,{chart.TOP}V{chart.height - chart.BOTTOM}" visibility="hidden"/>')
    return chart.render(), {"log": log, "series": series}


def scatter_chart(rows: Sequence[Mapping[str, Any]], strategies: Sequence[str], *, x: str, y: str, x_mode: str,
                  y_mode: str, x_scale: float, x_label: str, y_label: str, title: str, chart_id: str,
                  keys: Mapping[int, int], highlight: int | None = None) -> tuple[str, dict[str, Any]] | None:
    """Every successful trial as a faint marker (one shape and colour per strategy), and every
    strategy's Pareto front over all its seeds as hollow markers joined by a step line.

    Fronts are drawn after all the points, the first widest with the largest rings and each
    later one narrower, with its own dash pattern: a front on the same path as another stays
    visible inside it. ``keys`` maps a row's position in ``rows`` to its index in the page's
    point data (the hover key); ``highlight`` (a row position) is drawn as a star.

    Returns ``None`` when no row has both values; the data says which fronts coincide.
    """
    usable = [(i, r) for i, r in enumerate(rows)
              if r.get("status", "ok") == "ok" and finite(r.get(x)) and finite(r.get(y))]
    if not usable:
        return None
    xs = [float(r[x]) / x_scale for _, r in usable]
    ys = [float(r[y]) for _, r in usable]
    x_pad = (max(xs) - min(xs)) * 0.03 or 1.0
    y_pad = (max(ys) - min(ys)) * 0.03 or 1.0
    chart = Chart(x_range=(min(xs) - x_pad, max(xs) + x_pad), y_range=(min(ys) - y_pad, max(ys) + y_pad),
                  x_label=f"{x_label} ({'lower' if x_mode == 'min' else 'higher'} is better)",
                  y_label=f"{y_label} ({'higher' if y_mode == 'max' else 'lower'} is better)", title=title,
                  kind="scatter", chart_id=chart_id)
    fronts: dict[int, list[int]] = {}
    for index, name in enumerate(strategies):
        mine = [(i, r) for i, r in usable if r.get("strategy") == name]
        style = style_of(index)
        for i, r in mine:
            chart.marker(float(r[x]) / x_scale, float(r[y]), cls=f"s{index} pt", shape=style.svg_marker, size=8,
                         color=style.color, opacity=0.35, key=keys[i])
        if mine:
            front = pareto_front([(float(r[x]), float(r[y])) for _, r in mine], [x_mode, y_mode])
            fronts[index] = sorted((mine[j][0] for j in front), key=lambda i: (float(rows[i][x]), float(rows[i][y])))
    same: dict[int, int] = {}
    for rank, (index, front) in enumerate(fronts.items()):
        points = {(float(rows[i][x]), float(rows[i][y])) for i in front}
        for other in list(fronts)[:rank]:
            if points == {(float(rows[i][x]), float(rows[i][y])) for i in fronts[other]}:
                same[index] = other
                break
        style = style_of(index)
        width = front_width(rank, len(fronts), widest=5.0, thinnest=1.6)
        chart.line([float(rows[i][x]) / x_scale for i in front], [float(rows[i][y]) for i in front],
                   cls=f"s{index} front", color=style.color, width=width, dash=style.svg_dash,
                   step="post" if x_mode == "min" else "pre")
        size = front_marker_size(rank, len(fronts), largest=17, smallest=8)
        for i in front:
            chart.marker(float(rows[i][x]) / x_scale, float(rows[i][y]), cls=f"s{index} front-pt",
                         shape=style.svg_marker, size=size, color=style.color, filled=False, key=keys[i],
                         stroke_width=2.0)
    if highlight is not None and finite(rows[highlight].get(x)) and finite(rows[highlight].get(y)):
        chart.marker(float(rows[highlight][x]) / x_scale, float(rows[highlight][y]), cls="best", shape="star",
                     size=20, color="#111111", filled=False, key=keys[highlight], stroke_width=2.0)
    return chart.render(), {"fronts": {str(k): len(v) for k, v in fronts.items()},
                            "same": {str(k): v for k, v in same.items()}}


PARTS = (("startup_s", "start-up", "Ray Tune starting the experiment and its trial workers, until the first "
          "evaluation began", "#BBBBBB"),
         ("evaluating_s", "evaluating", "at least one evaluation running", "#4477AA"),
         ("other_s", "Tune overhead", "no evaluation running: Tune scheduling trials and processing results",
          "#EE8866"))


def wall_time_chart(splits: Mapping[int, Sequence[Mapping[str, float | None]]], names: Sequence[str], *,
                    title: str, width: int = 720) -> str | None:
    """One horizontal bar per strategy, stacked from the means over its runs of start-up,
    evaluating and Tune overhead (each part labelled in seconds); each run's total as a dot."""
    bars = []
    for index, runs in splits.items():
        totals = [float(r["total_s"]) for r in runs if finite(r.get("total_s"))]
        complete = [r for r in runs if all(finite(r.get(key)) for key, *_ in PARTS)]
        if not totals:
            continue
        means = ({key: sum(float(r[key]) for r in complete) / len(complete) for key, *_ in PARTS} if complete else {})
        bars.append((index, totals, means))
    if not bars:
        return None
    left, right, top, row_h = 120, 110, 12, 34
    height = top + row_h * len(bars) + 64
    longest = max(max(max(t), sum(m.values())) for _, t, m in bars)
    ticks = linear_ticks(0, longest)
    scale = (width - left - right) / (ticks[-1] or 1.0)
    out = [f'<svg class="chart walltime" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{row_h * len(bars)}" '
           'class="plot-area"/>']
    bottom = top + row_h * len(bars)
    for t in ticks:
        px = left + t * scale
        out.append(f'<path d="M{px:.1f},{top}V{bottom}" class="grid"/>')
        out.append(f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">{tick_label(t)}</text>')
    out.append(f'<text x="{(left + width - right) / 2:.0f}" y="{bottom + 34}" text-anchor="middle" class="label">'
               'wall time per run (s); bars: means over seeds, dots: each run\'s total</text>')
    for row, (index, totals, means) in enumerate(bars):
        y = top + row * row_h + 7
        out.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" class="tick s{index}">'
                   f'{escape(names[index])}</text>')
        at = 0.0
        if means:
            for key, label, what, color in PARTS:
                value = means[key]
                w = value * scale
                out.append(f'<rect class="s{index} part" x="{left + at * scale:.1f}" y="{y}" width="{w:.1f}" '
                           f'height="20" fill="{color}"><title>{escape(label)}: {value:.2f} s ({escape(what)})'
                           f'</title></rect>')
                if w > 34:
                    out.append(f'<text x="{left + (at + value / 2) * scale:.1f}" y="{y + 14}" text-anchor="middle" '
                               f'class="seg">{value:.1f}s</text>')
                at += value
        else:
            at = sum(totals) / len(totals)
            out.append(f'<rect class="s{index} part" x="{left}" y="{y}" width="{at * scale:.1f}" height="20" '
                       f'fill="#999999"><title>total {at:.2f} s (no evaluation times recorded)</title></rect>')
        for total in totals:
            out.append(f'<circle cx="{left + total * scale:.1f}" cy="{y + 10}" r="3" class="dot s{index}"/>')
        mean_total = sum(totals) / len(totals)
        out.append(f'<text x="{left + max(at, max(totals)) * scale + 8:.1f}" y="{y + 14}" class="tick">'
                   f'{mean_total:.1f}s in all</text>')
    legend_y = bottom + 50
    x = left
    for _key, label, what, color in PARTS:
        out.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{color}"/>')
        out.append(f'<text x="{x + 16}" y="{legend_y}" class="tick"><title>{escape(what)}</title>'
                   f'{escape(label)}</text>')
        x += 150
    out.append("</svg>")
    return "\n".join(out)
