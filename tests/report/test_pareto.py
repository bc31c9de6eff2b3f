"""The Pareto front, non-dominated sorting and crowding distance against brute force."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raynas.errors import ConfigError
from raynas.pareto import crowding_distance, dominates, non_dominated_sort, pareto_front, pareto_rows


def _brute_dominates(a, b, modes):
    better_or_equal = all((x >= y) if m == "max" else (x <= y) for x, y, m in zip(a, b, modes))
    strictly = any((x > y) if m == "max" else (x < y) for x, y, m in zip(a, b, modes))
    return better_or_equal and strictly


def _brute_front(points, modes):
    return [i for i, p in enumerate(points) if not any(_brute_dominates(q, p, modes) for q in points)]


def test_a_small_hand_made_set():
    # accuracy (max), flops (min)
    points = [(90, 5.0), (80, 1.0), (85, 6.0), (90, 5.0), (70, 1.0), (95, 9.0)]
    assert pareto_front(points, ["max", "min"]) == [0, 1, 3, 5]  # duplicates are both kept
    assert dominates((90, 5.0), (85, 6.0), ["max", "min"])
    assert not dominates((90, 5.0), (90, 5.0), ["max", "min"])


_points = st.integers(min_value=1, max_value=3).flatmap(
    lambda k: st.tuples(
        st.lists(st.tuples(*[st.integers(-4, 4)] * k), min_size=0, max_size=25),
        st.lists(st.sampled_from(["max", "min"]), min_size=k, max_size=k),
    )
)


@settings(max_examples=200, deadline=None)
@given(_points)
def test_front_equals_brute_force(case):
    points, modes = case
    assert pareto_front(points, modes) == _brute_front(points, modes)


@settings(max_examples=100, deadline=None)
@given(_points)
def test_non_dominated_sort_peels_brute_force_fronts(case):
    points, modes = case
    fronts = non_dominated_sort(points, modes)
    assert sorted(i for f in fronts for i in f) == list(range(len(points)))
    remaining = list(range(len(points)))
    for front in fronts:
        subset = [points[i] for i in remaining]
        assert front == [remaining[j] for j in _brute_front(subset, modes)]
        remaining = [i for i in remaining if i not in front]


def test_crowding_distance_extremes_are_infinite_and_gaps_normalised():
    points = [(0.0, 4.0), (1.0, 3.0), (3.0, 1.0), (4.0, 0.0)]
    distance = crowding_distance(points, ["max", "max"])
    assert math.isinf(distance[0]) and math.isinf(distance[3])
    # point 1: neighbours 0 and 2 -> (3 - 0) / 4 on each objective
    assert distance[1] == pytest.approx(1.5) and distance[2] == pytest.approx(1.5)


def test_pareto_rows_skips_failed_rows():
    rows = [{"accuracy": 90.0, "flops": 5.0}, {"accuracy": math.nan, "flops": 1.0}, {"flops": 0.5},
            {"accuracy": 80.0, "flops": 1.0}]
    assert pareto_rows(rows, [("accuracy", "max"), ("flops", "min")]) == [rows[0], rows[3]]


@pytest.mark.parametrize("points,modes,message", [
    ([(1, 2)], ["up", "max"], r"modes\[0\] must be one of \['max', 'min'\], got 'up'"),
    ([(1, 2)], "max", "sequence of 'max'/'min'"),
    ([(1,)], ["max", "min"], r"points\[0\] must be a sequence of 2 numbers"),
    ([(1, float("nan"))], ["max", "min"], r"points\[0\]\[1\] must be a finite number, got nan"),
])
def test_bad_input_names_the_rule_and_value(points, modes, message):
    with pytest.raises(ConfigError, match=message):
        pareto_front(points, modes)
