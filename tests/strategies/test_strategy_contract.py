"""Every registered strategy x every space case through strategies.testing's contract suite.

Space cases: two plain ChoiceSpaces (one under a FLOPs budget that excludes most of it),
every space in ``search_spaces.available()`` (generated from the registry, so a new space
is tested the day it is registered), and a FLOPs-constrained variant of each registered
space that defines ``flops``.
"""

from __future__ import annotations

import logging

import pytest

import search_spaces
import strategies
from strategies import testing
from raynas.constraints import Constraints
from search_spaces import ChoiceSpace

logging.getLogger("optuna").setLevel(logging.WARNING)


def _choice_flops(arch):
    return arch["a"] * arch["b"] * (2 if arch["d"] > 0.2 else 1)


def _choice() -> ChoiceSpace:
    return ChoiceSpace(
        {"a": (1, 2, 3, 4), "b": (8, 16, 32), "c": ("x", "y", "z"), "d": (0.1, 0.5)},
        name="choice",
        flops=_choice_flops,
    )


def _registry_space(name: str):
    try:
        return search_spaces.get(name)
    except ImportError as exc:
        pytest.skip(f"space {name!r} is registered but its module cannot be imported yet: {exc}")


def _midway_flops(space) -> Constraints:
    """A FLOPs budget halfway between the space's smallest and largest architecture."""
    try:
        low, high = space.flops(space.smallest()), space.flops(space.largest())
    except NotImplementedError as exc:
        pytest.skip(f"space {space.name!r} defines no flops(), so a FLOPs constraint cannot apply: {exc}")
    if high <= low:
        pytest.skip(f"space {space.name!r}: largest() is not costlier than smallest(); no budget to set")
    return Constraints(max_flops=(low + high) / 2)


CASES = ["choice", "choice+flops"] + [
    case for name in search_spaces.available() for case in (name, f"{name}+flops")
]


def _case(case: str):
    base, _, constrained = case.partition("+")
    if base == "choice":
        space = _choice()
        return space, (Constraints(max_flops=40) if constrained else None)
    space = _registry_space(base)
    return space, (_midway_flops(space) if constrained else None)


# Small populations and grids, so 16 trials reach the strategies' later phases (children, fine grid);
# bo: few random samples and candidates, so most trials are the model's and each costs little.
OPTIONS = {"evolution": {"population_size": 6}, "grid": {"coarse_max": 6},
           "bo": {"initial_samples": 4, "candidates": 16, "neighbourhoods": 2}}


def _num_trials(name: str, space) -> int:
    # nevergrad's own ask/tell costs about 0.1 s on spaces of 50+ choices; fewer trials keep the suite fast
    return 6 if name == "nevergrad" and len(space.choices) > 30 else 16


@pytest.mark.parametrize("check", testing.CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", strategies.available())
def test_contract(name, case, check):
    space, constraints = _case(case)
    try:
        check(name, space, constraints=constraints, num_trials=_num_trials(name, space),
              options=OPTIONS.get(name))
    except testing.NotApplicable as exc:
        pytest.skip(str(exc))


def test_choice_flops_constraint_excludes_most_of_the_space():
    """The constrained case is a real test: most architectures break the budget."""
    space = _choice()
    constraints = Constraints(max_flops=40)
    feasible = [a for a in space.enumerate() if constraints.satisfied(space, a)]
    assert 0 < len(feasible) < space.size / 2


def test_contract_suite_catches_a_strategy_that_breaks_the_constraints():
    """The suite can fail: a strategy ignoring constraints is reported."""
    from strategies._base import Strategy

    class Careless(Strategy):
        def _ask(self):
            return self.space.largest()  # the most expensive, ignoring the budget

        def _tell(self, arch, score):
            pass

    strategies.register("careless-test", lambda *, space, seed=0, constraints=None: Careless(
        space, seed=seed, constraints=constraints), overwrite=True)
    try:
        with pytest.raises(testing.ContractError, match="infeasible"):
            testing.check_valid_and_feasible("careless-test", _choice(), constraints=Constraints(max_flops=40))
    finally:
        strategies.unregister("careless-test")


def test_contract_suite_catches_an_unseeded_strategy():
    from strategies._base import Strategy

    class Unseeded(Strategy):
        calls = 0

        def _ask(self):
            Unseeded.calls += 1  # state outside the instance: a second instance differs
            return self.space.sample(__import__("random").Random(Unseeded.calls))

        def _tell(self, arch, score):
            pass

    strategies.register("unseeded-test", lambda *, space, seed=0, constraints=None: Unseeded(
        space, seed=seed, constraints=constraints), overwrite=True)
    try:
        with pytest.raises(testing.ContractError, match="same seed"):
            testing.check_seeded_repeat("unseeded-test", search_spaces.get("nb201"))
    finally:
        strategies.unregister("unseeded-test")
