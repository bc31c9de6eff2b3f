"""NSGA2Strategy: the shared contract suite (scalar scores) and its multi-objective selection."""

from __future__ import annotations

import itertools
import random

import pytest

import strategies
from strategies import testing
from raynas.constraints import Constraints
from raynas.pareto import pareto_front
from search_spaces import ChoiceSpace
from strategies.nsga2 import NSGA2Strategy


def _flops(arch):
    return arch["a"] * arch["b"]


def _space() -> ChoiceSpace:
    return ChoiceSpace({"a": (1, 2, 3, 4), "b": (1, 2, 3), "c": ("x", "y", "z"), "d": (0, 1)}, name="nsga-toy",
                       flops=_flops)


@pytest.fixture
def registered():
    strategies.register("nsga2-test", NSGA2Strategy, overwrite=True)
    yield "nsga2-test"
    strategies.unregister("nsga2-test")


@pytest.mark.parametrize("constraints", [None, Constraints(max_flops=6)], ids=["free", "flops<=6"])
def test_contract_suite(registered, constraints):
    skipped = testing.check_all(registered, _space(), constraints=constraints, options={"population_size": 6})
    assert "check_finishes" in skipped  # not exhaustive; every other check applied
    assert len(skipped) < len(testing.CHECKS)


def _objectives(arch):
    """Two conflicting objectives, both maximised: 'accuracy' grows with cost, cost is negated."""
    accuracy = arch["a"] * 2 + arch["b"] + (1 if arch["c"] == "y" else 0) + arch["d"]
    return (float(accuracy), -float(_flops(arch)))


def test_population_keeps_the_first_fronts_when_told_everything():
    space = _space()
    everything = list(space.enumerate())
    scores = [_objectives(a) for a in everything]
    true_front = {space.key(everything[i]) for i in pareto_front(scores, ["max", "max"])}
    strategy = NSGA2Strategy(space, seed=0, population_size=len(true_front) + 2)
    for arch, score in zip(everything, scores):
        strategy.tell(arch, score)
    kept = {space.key(a) for a, _ in strategy.population}
    assert true_front <= kept, "environmental selection dropped a non-dominated architecture"
    assert len(strategy.population) == len(true_front) + 2


def test_finds_most_of_the_true_front_with_a_small_budget():
    space = _space()
    everything = list(space.enumerate())
    scores = [_objectives(a) for a in everything]
    true_front = {space.key(everything[i]) for i in pareto_front(scores, ["max", "max"])}
    found = []
    strategy = NSGA2Strategy(space, seed=3, population_size=8)
    for _ in range(60):
        arch = strategy.ask()
        strategy.tell(arch, _objectives(arch))
        found.append(arch)
    found_front = {space.key(found[i]) for i in pareto_front([_objectives(a) for a in found], ["max", "max"])}
    assert len(found_front & true_front) >= 0.8 * len(true_front)


def test_vector_scores_are_validated():
    strategy = NSGA2Strategy(_space(), seed=0)
    arch = strategy.ask()
    strategy.tell(arch, (1.0, 2.0))
    with pytest.raises(ValueError, match="3 objectives, earlier scores had 2"):
        strategy.tell(arch, (1.0, 2.0, 3.0))
    with pytest.raises(TypeError, match="score must be"):
        strategy.tell(arch, "high")
    strategy.tell(arch, (float("nan"), 1.0))  # a failed trial
    assert strategy.num_failed == 1 and strategy.num_told == 2


def test_state_dict_continues_the_same_sequence():
    space = _space()
    first = NSGA2Strategy(space, seed=5, population_size=4)
    rng = random.Random(0)
    for _ in range(10):
        arch = first.ask()
        first.tell(arch, (rng.random(), rng.random()))
    state = first.state_dict()
    second = NSGA2Strategy(space, seed=99, population_size=4)
    second.load_state_dict(state)
    a = [first.ask() for _ in range(5)]
    b = [second.ask() for _ in range(5)]
    assert a == b
    assert all(x is not None for x in itertools.chain(a, b))
