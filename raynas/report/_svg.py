"""Inline SVG charts for the HTML report: axes with readable ticks, step lines, bands, markers.

A :class:`Chart` maps data to pixels and collects SVG elements; :meth:`Chart.render`
returns one ``<svg>`` element (no external resources). Every element drawn for a strategy
carries the class ``s<index>`` so the page can show or hide a strategy everywhere at once.
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

from raynas.report._ticks import linear_ticks, log_ticks, tick_label

__all__ = ["Chart", "marker_path"]


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def marker_path(name: str, x: float, y: float, size: float) -> str:
    """SVG path data of a marker of diameter ``size`` centred on ``(x, y)``."""
    r = size / 2
    if name == "square":
        r *= 0.85
        return f"M{_num(x - r)},{_num(y - r)}h{_num(2 * r)}v{_num(2 * r)}h{_num(-2 * r)}z"
    if name in ("triangle-up", "triangle-down"):
        s = 1 if name == "triangle-up" else -1
        return (f"M{_num(x)},{_num(y - s * r * 1.1)}L{_num(x + r * 1.05)},{_num(y + s * r * 0.75)}"
                f"L{_num(x - r * 1.05)},{_num(y + s * r * 0.75)}z")
    if name == "diamond":
        return (f"M{_num(x)},{_num(y - r * 1.15)}L{_num(x + r)},{_num(y)}"
                f"L{_num(x)},{_num(y + r * 1.15)}L{_num(x - r)},{_num(y)}z")
    if name in ("plus", "cross"):
        w = r * 0.38
        arms = [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w),
                (-w, -w)]
        if name == "cross":
            c = math.sqrt(0.5)
            arms = [((a - b) * c, (a + b) * c) for a, b in arms]
        return "M" + "L".join(f"{_num(x + a)},{_num(y + b)}" for a, b in arms) + "z"
    if name == "star":
        points = []
        for k in range(10):
            radius = r * 1.2 if k % 2 == 0 else r * 0.5
            angle = math.pi / 2 + k * math.pi / 5
            points.append(f"{_num(x + radius * math.cos(angle))},{_num(y - radius * math.sin(angle))}")
        return "M" + "L".join(points) + "z"
    # circle
    return (f"M{_num(x - r)},{_num(y)}a{_num(r)},{_num(r)} 0 1,0 {_num(2 * r)},0"
            f"a{_num(r)},{_num(r)} 0 1,0 {_num(-2 * r)},0")


class Chart:
    """One x/y chart of ``width`` x ``height`` pixels.

    Args:
        x_range, y_range: the data ranges; ticks extend them to round numbers.
        log_y: a log y axis (its ticks read 0.01, 0.1, 0.2, 0.5, 1, 2, ...).
        show_title: draw ``title`` inside the chart (it is always the SVG's accessible label).
        kind: a CSS class of the ``<svg>`` (``curves``, ``scatter``, ...), which the page's
            script uses to attach hovering.
    """

    LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 46

    def __init__(self, *, x_range: tuple[float, float], y_range: tuple[float, float], x_label: str, y_label: str,
                 title: str, kind: str, log_y: bool = False, width: int = 720, height: int = 380,
                 chart_id: str = "", show_title: bool = False) -> None:
        self.show_title = show_title
        if not show_title:
            self.TOP = 14
        self.width, self.height, self.kind, self.log_y, self.chart_id = width, height, kind, log_y, chart_id
        self.title, self.x_label, self.y_label = title, x_label, y_label
        self.x_ticks = linear_ticks(*x_range)
        self.y_ticks = log_ticks(*y_range) if log_y else linear_ticks(*y_range)
        self.x0, self.x1 = self.x_ticks[0], self.x_ticks[-1]
        self.y0, self.y1 = self.y_ticks[0], self.y_ticks[-1]
        self.elements: list[str] = []

    # data -> pixels
    def px(self, x: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return self.LEFT + (x - self.x0) / span * (self.width - self.LEFT - self.RIGHT)

    def py(self, y: float) -> float:
        if self.log_y:
            low, high, y = math.log10(self.y0), math.log10(self.y1), math.log10(max(y, self.y0))
        else:
            low, high = self.y0, self.y1
        span = (high - low) or 1.0
        return self.height - self.BOTTOM - (y - low) / span * (self.height - self.TOP - self.BOTTOM)

    def _path(self, xs: Sequence[float], ys: Sequence[float], step: str) -> str:
        parts: list[str] = []
        for i, (x, y) in enumerate(zip(xs, ys)):
            px, py = _num(self.px(x)), _num(self.py(y))
            if i == 0:
                parts.append(f"M{px},{py}")
            elif step == "post":
                parts.append(f"H{px}V{py}")
            elif step == "pre":
                parts.append(f"V{py}H{px}")
            else:
                parts.append(f"L{px},{py}")
        return "".join(parts)

    def line(self, xs: Sequence[float], ys: Sequence[float], *, cls: str, color: str, width: float = 2.0,
             dash: str = "", step: str = "", opacity: float = 1.0) -> None:
        """A polyline (``step``: ``"post"`` holds each value until the next x, ``"pre"`` moves first)."""
        if not xs:
            return
        dash_attr = f' stroke-dasharray="{" ".join(_num(float(d) * width) for d in dash.split())}"' if dash else ""
        self.elements.append(
            f'<path class="{cls}" d="{self._path(xs, ys, step)}" fill="none" stroke="{color}" '
            f'stroke-width="{_num(width)}" stroke-opacity="{opacity:g}" stroke-linejoin="round"{dash_attr}/>')

    def band(self, xs: Sequence[float], lows: Sequence[float], highs: Sequence[float], *, cls: str, color: str,
             dash: str = "") -> None:
        """A light fill between ``lows`` and ``highs`` (held steps), with both edges drawn as thin lines."""
        if not xs:
            return
        top = self._path(xs, highs, "post")
        # back along the lower edge, right to left
        back = []
        for i in range(len(xs) - 1, -1, -1):
            back.append(f"L{_num(self.px(xs[i]))},{_num(self.py(lows[i]))}")
            if i > 0:
                back.append(f"L{_num(self.px(xs[i]))},{_num(self.py(lows[i - 1]))}")
        self.elements.append(f'<path class="{cls} band" d="{top}{"".join(back)}z" fill="{color}" '
                             f'fill-opacity="0.13" stroke="none"/>')
        for edge in (lows, highs):
            self.line(xs, edge, cls=cls, color=color, width=1.0, dash=dash, step="post", opacity=0.85)

    def marker(self, x: float, y: float, *, cls: str, shape: str, size: float, color: str, filled: bool = True,
               opacity: float = 1.0, key: int | None = None, stroke_width: float = 1.5) -> None:
        """One marker; ``key`` (an index into the page's point data) makes it hoverable."""
        d = marker_path(shape, self.px(x), self.py(y), size)
        paint = (f'fill="{color}" fill-opacity="{opacity:g}" stroke="none"' if filled else
                 f'fill="none" stroke="{color}" stroke-opacity="{opacity:g}" stroke-width="{_num(stroke_width)}"')
        data = f' data-k="{key}"' if key is not None else ""
        self.elements.append(f'<path class="{cls}" d="{d}" {paint}{data}/>')

    def hline(self, y: float, *, label: str, color: str = "#222") -> None:
        py = _num(self.py(y))
        self.elements.append(f'<path d="M{self.LEFT},{py}H{self.width - self.RIGHT}" stroke="{color}" '
                             f'stroke-dasharray="5 4" stroke-width="1"/>')
        self.elements.append(f'<text x="{self.width - self.RIGHT - 4}" y="{_num(float(py) - 4)}" text-anchor="end" '
                             f'class="note">{escape(label)}</text>')

    def raw(self, element: str) -> None:
        self.elements.append(element)

    def _axes(self) -> list[str]:
        left, right, top, bottom = self.LEFT, self.width - self.RIGHT, self.TOP, self.height - self.BOTTOM
        out = [f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" class="plot-area"/>']
        for x in self.x_ticks:
            px = _num(self.px(x))
            out.append(f'<path d="M{px},{top}V{bottom}" class="grid"/>')
            out.append(f'<text x="{px}" y="{bottom + 16}" text-anchor="middle" class="tick">{tick_label(x)}</text>')
        for y in self.y_ticks:
            py = _num(self.py(y))
            out.append(f'<path d="M{left},{py}H{right}" class="grid"/>')
            out.append(f'<text x="{left - 6}" y="{_num(float(py) + 4)}" text-anchor="end" class="tick">'
                       f'{tick_label(y)}</text>')
        out.append(f'<path d="M{left},{top}V{bottom}H{right}" class="axis"/>')
        out.append(f'<text x="{(left + right) / 2:.0f}" y="{self.height - 10}" text-anchor="middle" class="label">'
                   f'{escape(self.x_label)}</text>')
        out.append(f'<text transform="translate(14,{(top + bottom) / 2:.0f}) rotate(-90)" text-anchor="middle" '
                   f'class="label">{escape(self.y_label)}</text>')
        if self.show_title:
            out.append(f'<text x="{left}" y="20" class="title">{escape(self.title)}</text>')
        return out

    def render(self) -> str:
        frame = (f'data-x0="{self.x0:g}" data-x1="{self.x1:g}" data-px0="{self.px(self.x0):.1f}" '
                 f'data-px1="{self.px(self.x1):.1f}" data-top="{self.TOP}" data-bottom="{self.height - self.BOTTOM}"')
        ident = f' id="{escape(self.chart_id)}"' if self.chart_id else ""
        body = "\n".join(self._axes() + self.elements)
        return (f'<svg{ident} class="chart {self.kind}" viewBox="0 0 {self.width} {self.height}" '
                f'width="{self.width}" height="{self.height}" role="img" aria-label="{escape(self.title)}" {frame} '
                f'xmlns="http://www.w3.org/2000/svg">\n{body}\n</svg>')
