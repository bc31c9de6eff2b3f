"""Pareto fronts: the non-dominated set, NSGA-II's non-dominated sorting and crowding distance.

Pure Python (no numpy, no matplotlib) in the core, so ask/tell strategies
(``strategies.nsga2``) and the report's plots use the same functions. Every function
takes ``points`` (a sequence of equal-length sequences of finite numbers, one per
candidate) and ``modes`` (``"max"`` or ``"min"`` per objective).

``a`` *dominates* ``b`` when ``a`` is at least as good as ``b`` in every objective and
strictly better in at least one. Equal points do not dominate each other, so duplicates
of a non-dominated point are all in the front.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping, Sequence

from raynas.checks import check_choice
from raynas.errors import ConfigError

__all__ = ["dominates", "pareto_front", "non_dominated_sort", "crowding_distance", "pareto_rows"]

MODES = ("max", "min")


def _check_modes(modes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(modes, str) or not isinstance(modes, Sequence) or not modes:
        raise ConfigError(f"modes must be a non-empty sequence of 'max'/'min', one per objective, got {modes!r}")
    for i, mode in enumerate(modes):
        check_choice(None, f"modes[{i}]", mode, MODES)
    return tuple(modes)


def _signed(points: Sequence[Sequence[float]], modes: Sequence[str]) -> list[tuple[float, ...]]:
    """The points as tuples to *maximise* (``min`` objectives negated), checked."""
    modes = _check_modes(modes)
    out = []
    for i, point in enumerate(points):
        if isinstance(point, (str, bytes)) or not isinstance(point, Sequence) or len(point) != len(modes):
            raise ConfigError(f"points[{i}] must be a sequence of {len(modes)} numbers (one per mode), got {point!r}")
        values = []
        for j, value in enumerate(point):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ConfigError(f"points[{i}][{j}] must be a finite number, got {value!r}")
            values.append(float(value) if modes[j] == "max" else -float(value))
        out.append(tuple(values))
    return out


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """Whether point ``a`` dominates point ``b`` under ``modes``."""
    sa, sb = _signed([a, b], modes)
    return _dominates(sa, sb)


def pareto_front(points: Sequence[Sequence[float]], modes: Sequence[str]) -> list[int]:
    """Indices of the non-dominated points, in input order.

    Points are visited in decreasing lexicographic order of their (maximised) values; a
    point can only be dominated by one visited before it, and by transitivity it is
    enough to compare it with the front found so far, so the cost is
    ``O(n log n + n * front size)``.

    Example::

        pareto_front([(90, 5e6), (80, 1e6), (85, 6e6)], ["max", "min"])  # -> [0, 1]
    """
    signed = _signed(points, modes)
    order = sorted(range(len(signed)), key=lambda i: signed[i], reverse=True)
    front: list[int] = []
    for i in order:
        if not any(_dominates(signed[j], signed[i]) for j in front):
            front.append(i)
    return sorted(front)


def non_dominated_sort(points: Sequence[Sequence[float]], modes: Sequence[str]) -> list[list[int]]:
    """NSGA-II's fronts: ``[front 0 (non-dominated), front 1 (dominated only by front 0), ...]``.

    Every index appears in exactly one front; each front lists its indices in input order.
    """
    signed = _signed(points, modes)
    n = len(signed)
    dominated_by_count = [0] * n
    dominating: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if _dominates(signed[i], signed[j]):
                dominating[i].append(j)
                dominated_by_count[j] += 1
            elif _dominates(signed[j], signed[i]):
                dominating[j].append(i)
                dominated_by_count[i] += 1
    fronts: list[list[int]] = []
    current = [i for i in range(n) if dominated_by_count[i] == 0]
    while current:
        fronts.append(sorted(current))
        following = []
        for i in current:
            for j in dominating[i]:
                dominated_by_count[j] -= 1
                if dominated_by_count[j] == 0:
                    following.append(j)
        current = following
    return fronts


def crowding_distance(points: Sequence[Sequence[float]], modes: Sequence[str]) -> list[float]:
    """NSGA-II's crowding distance of each point within ``points`` (one front).

    The extreme points of every objective get ``inf``; the others the sum over objectives
    of the normalised gap between their two neighbours. Larger means lonelier.
    """
    signed = _signed(points, modes)
    n = len(signed)
    distance = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for k in range(len(signed[0])):
        order = sorted(range(n), key=lambda i: signed[i][k])
        low, high = signed[order[0]][k], signed[order[-1]][k]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for rank in range(1, n - 1):
            i = order[rank]
            if math.isfinite(distance[i]):
                distance[i] += (signed[order[rank + 1]][k] - signed[order[rank - 1]][k]) / (high - low)
    return distance


def pareto_rows(rows: Sequence[Mapping[str, Any]], objectives: Sequence[tuple[str, str]]) -> list[Mapping[str, Any]]:
    """The rows whose ``(name, mode)`` objective values are non-dominated, in input order.

    Rows lacking an objective or holding a non-finite value (failed trials) are ignored.
    """
    names = [name for name, _ in objectives]
    modes = [mode for _, mode in objectives]
    usable = [
        row for row in rows
        if all(isinstance(row.get(name), numbers.Real) and not isinstance(row.get(name), bool)
               and math.isfinite(row[name]) for name in names)
    ]
    front = pareto_front([[row[name] for name in names] for row in usable], modes)
    return [usable[i] for i in front]
