"""One look for every strategy in every figure: colour, marker and line style by position.

The PNG plots (:mod:`raynas.report.plots`) and the HTML report (:mod:`raynas.report.html`)
both take a strategy's style from its position in the comparison, so a strategy looks the
same everywhere. The colours are the Okabe-Ito palette (distinguishable with the common
colour-vision deficiencies), then a few more; markers and dash patterns differ too, so two
strategies never differ by colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COLORS", "MARKERS", "DASHES", "Style", "style_of", "front_width", "front_marker_size"]

COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255", "#444444",
          "#117733", "#AA4499")
# (matplotlib marker, SVG marker name) pairs, in the same order
MARKERS = (("o", "circle"), ("s", "square"), ("^", "triangle-up"), ("D", "diamond"), ("v", "triangle-down"),
           ("P", "plus"), ("X", "cross"), ("*", "star"))
# dash patterns in units of the line width: (matplotlib, SVG stroke-dasharray)
DASHES = (((), ""), ((6, 2), "6 2"), ((1.5, 1.5), "1.5 1.5"), ((6, 2, 1.5, 2), "6 2 1.5 2"),
          ((10, 3), "10 3"), ((3, 2), "3 2"), ((10, 2, 2, 2, 2, 2), "10 2 2 2 2 2"), ((1, 3), "1 3"))


@dataclass(frozen=True)
class Style:
    """How strategy number ``index`` is drawn."""

    index: int
    color: str
    marker: str  # matplotlib marker
    svg_marker: str
    dash: tuple[float, ...]  # matplotlib dash pattern (empty: solid)
    svg_dash: str


def style_of(index: int) -> Style:
    marker, svg_marker = MARKERS[index % len(MARKERS)]
    dash, svg_dash = DASHES[index % len(DASHES)]
    return Style(index=index, color=COLORS[index % len(COLORS)], marker=marker, svg_marker=svg_marker,
                 dash=dash, svg_dash=svg_dash)


def front_width(index: int, count: int, *, widest: float = 5.0, thinnest: float = 1.5) -> float:
    """Line width of the ``index``-th of ``count`` Pareto fronts drawn one over the other.

    Earlier fronts are wider, so a front drawn later on the same path stays visible inside
    the ones beneath it, and theirs show at its edges.
    """
    if count <= 1:
        return (widest + thinnest) / 2
    return widest - (widest - thinnest) * index / (count - 1)


def front_marker_size(index: int, count: int, *, largest: float = 13.0, smallest: float = 5.0) -> float:
    """Diameter of the hollow markers of the ``index``-th Pareto front: concentric rings
    where several fronts share a point."""
    if count <= 1:
        return (largest + smallest) / 2
    return largest - (largest - smallest) * index / (count - 1)
