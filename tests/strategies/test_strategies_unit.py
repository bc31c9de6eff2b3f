"""Each ask/tell strategy's own behaviour, and the registry."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import search_spaces
import strategies
from raynas.constraints import Constraints
from raynas.errors import ConfigError, InfeasibleConstraints, InvalidCheckpoint
from search_spaces import ChoiceSpace
from strategies import FINISHED
from strategies.testing import drive
from strategies.evolution import EvolutionStrategy
from strategies.grid import GridStrategy, coarse_axes
from strategies.random import RandomStrategy
from strategies.reinforce import ReinforceStrategy

REPO = Path(__file__).resolve().parents[2]
NB201 = search_spaces.get("nb201")


def conv3x3_count(arch) -> float:
    """A toy objective on nb201: how many edges are 3x3 convolutions (6 at best)."""
    return float(sum(op == "nor_conv_3x3" for op in arch.values()))



def small_space(flops=None) -> ChoiceSpace:
    return ChoiceSpace({"a": (1, 2, 3), "b": ("x", "y")}, name="small", flops=flops)


# -- registry -------------------------------------------------------------------------------------
def test_available_lists_the_builtin_strategies():
    assert strategies.available() == ["bo", "default", "dna", "evolution", "grid", "guided", "local", "nevergrad",
                                      "random", "reinforce", "tpe"]


def test_unknown_strategy_lists_the_available_ones():
    with pytest.raises(ConfigError, match="unknown strategy 'nope'.*evolution, grid, guided, local, nevergrad"):
        strategies.get("nope", space=NB201)


@pytest.mark.parametrize("name", ["evolution", "reinforce", "random", "grid", "tpe", "nevergrad"])
def test_unknown_option_lists_the_valid_options(name):
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['bogus'\].*valid options: .*max_retries="):
        strategies.get(name, space=NB201, bogus=1)


def test_options_report_defaults():
    assert strategies.options("evolution")["population_size"] == EvolutionStrategy(NB201).population_size


def test_importing_strategies_does_not_import_ray():
    code = "import sys, strategies; strategies.available(); print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_get_accepts_a_space_name():
    searcher = strategies.get("random", space="nb201", seed=3)
    assert NB201.validate(searcher.suggest("t0"))


def test_register_a_users_strategy_class():
    strategies.register("my-random", RandomStrategy)
    try:
        assert "my-random" in strategies.available()
        searcher = strategies.get("my-random", space=NB201, dedupe=False)
        assert searcher.strategy.dedupe is False
        with pytest.raises(ValueError, match="already registered"):
            strategies.register("my-random", RandomStrategy)
    finally:
        strategies.unregister("my-random")
    assert "my-random" not in strategies.available()


def test_factory_returning_something_else_is_a_clear_error():
    strategies.register("broken-test", lambda *, space, seed=0, constraints=None: 42)
    try:
        with pytest.raises(TypeError, match="returned int"):
            strategies.get("broken-test", space=NB201)
    finally:
        strategies.unregister("broken-test")


# -- constraints and options, for every strategy -----------------------------------------------
@pytest.mark.parametrize("name", ["evolution", "reinforce", "random", "grid", "tpe", "nevergrad"])
def test_infeasible_constraints_fail_at_construction_naming_the_smallest_value(name):
    smallest = NB201.flops(NB201.smallest())
    with pytest.raises(InfeasibleConstraints, match=re.escape(f"smallest achievable flops is {smallest:.6g}")):
        strategies.get(name, space=NB201, constraints=Constraints(max_flops=smallest / 2))


@pytest.mark.parametrize(
    "cls, options, message",
    [
        (EvolutionStrategy, {"population_size": 1}, r"population_size must be an int >= 2, got 1"),
        (EvolutionStrategy, {"population_size": 4, "sample_size": 5}, r"sample_size must be an int in \[1, 4\], got 5"),
        (EvolutionStrategy, {"mutation_prob": 1.5}, r"mutation_prob must be a number in \[0, 1\], got 1.5"),
        (EvolutionStrategy, {"population_size": 2.5}, r"population_size must be an int, got 2.5"),
        (ReinforceStrategy, {"learning_rate": 0.0}, r"learning_rate must be a number > 0, got 0.0"),
        (ReinforceStrategy, {"baseline_decay": 1.0}, r"baseline_decay must be a number in \[0, 1\), got 1.0"),
        (GridStrategy, {"coarse_max": 1}, r"coarse_max must be an int >= 2, got 1"),
        (RandomStrategy, {"dedupe": "yes"}, r"dedupe must be True or False, got 'yes'"),
        (RandomStrategy, {"max_retries": 0}, r"max_retries must be an int >= 1, got 0"),
        (RandomStrategy, {"seed": 1.5}, r"seed must be an int, got 1.5"),
    ],
)
def test_options_are_validated_with_the_rule_and_value(cls, options, message):
    with pytest.raises(ConfigError, match=message):
        cls(NB201, **options)


def test_library_options_are_validated():
    with pytest.raises(ConfigError, match="n_startup_trials must be an int >= 0, got -1"):
        strategies.get("tpe", space=NB201, n_startup_trials=-1)
    with pytest.raises(ConfigError, match="optimizer must be a name in nevergrad.optimizers.registry, got 'Nope'"):
        strategies.get("nevergrad", space=NB201, optimizer="Nope")


@pytest.mark.parametrize("cls", [RandomStrategy, EvolutionStrategy, ReinforceStrategy, GridStrategy])
def test_every_proposal_is_feasible_under_a_tight_budget(cls):
    budget = Constraints(max_params=NB201.params(NB201.smallest()) + 3 * 2400)  # about three 3x3 convs
    strategy = cls(NB201, seed=1, constraints=budget)
    archs = drive(strategy, conv3x3_count, 60)
    assert archs and all(budget.satisfied(NB201, a) for a in archs)


def test_a_budget_too_tight_to_sample_raises_after_the_retry_cap():
    space = ChoiceSpace({f"k{i}": (0, 1) for i in range(16)}, name="bits", flops=lambda a: 1 + sum(a.values()))
    strategy = RandomStrategy(space, constraints=Constraints(max_flops=1), max_retries=50)  # only all-zeros fits
    with pytest.raises(InfeasibleConstraints, match="max_retries=50"):
        strategy.ask()


def test_when_every_strategy_draw_is_over_budget_a_uniform_feasible_sample_is_proposed():
    # a policy that has learned "bigger is better" under a binding budget: its own draws never fit
    class Greedy(RandomStrategy):
        def _ask(self):
            return self._propose(self.space.largest, dedupe=True, draws=20)

    budget = Constraints(max_params=NB201.params(NB201.smallest()) + 3 * 2400)
    strategy = Greedy(NB201, seed=3, constraints=budget)
    archs = [strategy.ask() for _ in range(5)]
    assert all(budget.satisfied(NB201, a) for a in archs)
    assert len({str(sorted(a.items())) for a in archs}) == 5  # still no repeats


# -- base bookkeeping ---------------------------------------------------------------------------
def test_tell_validates_scores_and_tracks_the_best():
    strategy = RandomStrategy(NB201)
    a, b = strategy.ask(), strategy.ask()
    with pytest.raises(TypeError, match="score must be a number or None"):
        strategy.tell(a, "high")
    strategy.tell(a, float("nan"))
    strategy.tell(b, 2.0)
    assert (strategy.num_told, strategy.num_failed, strategy.best_score, strategy.best_arch) == (2, 1, 2.0, b)


def test_state_dict_of_another_strategy_is_rejected():
    with pytest.raises(InvalidCheckpoint, match="from strategy 'RandomStrategy'"):
        EvolutionStrategy(NB201).load_state_dict(RandomStrategy(NB201).state_dict())


@pytest.mark.parametrize("cls", [RandomStrategy, EvolutionStrategy, ReinforceStrategy, GridStrategy])
def test_state_dict_survives_json_and_continues_the_sequence(cls):
    first = cls(NB201, seed=5)
    drive(first, conv3x3_count, 30)
    state = json.loads(json.dumps(first.state_dict()))
    second = cls(NB201, seed=99)
    second.load_state_dict(state)
    assert drive(second, conv3x3_count, 15) == drive(first, conv3x3_count, 15)


# -- random ---------------------------------------------------------------------------------------
def test_random_never_repeats_and_depends_on_the_seed():
    archs = drive(RandomStrategy(NB201, seed=0), conv3x3_count, 300)
    assert len({NB201.key(a) for a in archs}) == 300
    assert drive(RandomStrategy(NB201, seed=1), conv3x3_count, 5) != archs[:5]


def test_random_exhausts_a_small_feasible_space_then_finishes():
    space = small_space(flops=lambda a: a["a"])
    strategy = RandomStrategy(space, constraints=Constraints(max_flops=2))
    archs = drive(strategy, lambda a: 0.0, 100)
    assert sorted(json.dumps(a, sort_keys=True) for a in archs) == sorted(
        json.dumps(a, sort_keys=True) for a in space.enumerate() if a["a"] <= 2
    )
    assert strategy.ask() is FINISHED


def test_random_without_dedupe_repeats_on_a_small_space():
    archs = drive(RandomStrategy(small_space(), dedupe=False), lambda a: 0.0, 30)
    assert len(archs) == 30 and len({json.dumps(a, sort_keys=True) for a in archs}) <= 6


# -- evolution ------------------------------------------------------------------------------------
def test_evolution_stays_busy_before_any_result():
    strategy = EvolutionStrategy(NB201, population_size=5, sample_size=2)
    archs = [strategy.ask() for _ in range(12)]  # twelve trials in flight, none told
    assert all(isinstance(a, dict) for a in archs)


def test_evolution_children_mutate_tournament_winners_and_the_oldest_dies():
    strategy = EvolutionStrategy(NB201, population_size=6, sample_size=6, seed=2)
    drive(strategy, conv3x3_count, 6)
    best = max(strategy.population, key=lambda m: m[1])[0]
    members = [m[0] for m in strategy.population]
    child = strategy.ask()  # sample_size == population: the parent is the best member
    assert 1 <= sum(child[k] != best[k] for k in child) <= 3
    strategy.tell(child, 0.0)
    assert [m[0] for m in strategy.population] == members[1:] + [child]  # the oldest died


def test_evolution_failed_trials_do_not_join_the_population():
    strategy = EvolutionStrategy(NB201, population_size=4, sample_size=2)
    for _ in range(3):
        strategy.tell(strategy.ask(), None)
    assert len(strategy.population) == 0 and strategy.num_failed == 3


def test_evolution_finds_the_optimum_of_a_toy_objective():
    archs = drive(EvolutionStrategy(NB201, seed=0), conv3x3_count, 150)
    assert max(conv3x3_count(a) for a in archs) == 6.0


def test_evolution_with_crossover_proposes_valid_children():
    strategy = EvolutionStrategy(NB201, population_size=8, sample_size=3, crossover_prob=1.0, seed=4)
    archs = drive(strategy, conv3x3_count, 40)
    assert all(NB201.validate(a) == a for a in archs)


# -- reinforce ------------------------------------------------------------------------------------
def test_reinforce_learns_the_good_operation():
    strategy = ReinforceStrategy(NB201, seed=0)
    drive(strategy, conv3x3_count, 200)
    conv = NB201.choices["edge.1<-0"].index("nor_conv_3x3")
    assert all(p[conv] > 0.5 for p in strategy.probabilities().values())


def test_reinforce_ignores_failed_trials_and_entropy_keeps_it_spread():
    strategy = ReinforceStrategy(NB201, seed=0)
    before = {k: v.copy() for k, v in strategy.logits.items()}
    strategy.tell(strategy.ask(), None)
    assert all(np.array_equal(before[k], strategy.logits[k]) for k in before)
    greedy = ReinforceStrategy(NB201, seed=0, entropy_weight=0.0)
    spread = ReinforceStrategy(NB201, seed=0, entropy_weight=2.0)
    drive(greedy, conv3x3_count, 100)
    drive(spread, conv3x3_count, 100)

    def entropy(s):
        return sum(-float(np.dot(p, np.log(p))) for p in s.probabilities().values())

    assert entropy(spread) > entropy(greedy)


# -- grid -----------------------------------------------------------------------------------------
def stage_space(flops=None) -> ChoiceSpace:
    choices = {"resolution": (12, 16, 20, 24, 28, 32, 36)}
    for stage in (1, 2):
        choices[f"s{stage}.depth"] = (1, 2)
        for block in (0, 1):
            choices[f"s{stage}.b{block}.kernel"] = (3, 5, 7)
            choices[f"s{stage}.b{block}.expand"] = (2, 4, 6)
    return ChoiceSpace(choices, name="stages", flops=flops)


def test_coarse_axes_use_stage_wise_patterns_and_spread_resolutions():
    axes = coarse_axes(stage_space().choices)
    assert [a["resolution"] for a in axes[0]] == [12, 20, 24, 28, 36]
    for axis in axes[1:]:
        assert len(axis) == 8  # depth x kernel x expand, each min or max
        for pattern in axis:
            kernels = {v for k, v in pattern.items() if k.endswith(".kernel")}
            expands = {v for k, v in pattern.items() if k.endswith(".expand")}
            assert len(kernels) == 1 and kernels <= {3, 7} and len(expands) == 1 and expands <= {2, 6}


def test_coarse_axes_of_a_plain_space_take_first_middle_last_numbers_and_every_string():
    axes = coarse_axes({"n": (1, 2, 3, 4, 5, 6), "op": ("a", "b", "c", "d")})
    assert [p["n"] for p in axes[0]] == [1, 3, 6]
    assert [p["op"] for p in axes[1]] == ["a", "b", "c", "d"]
    assert len(coarse_axes(NB201.choices)) == 6


def test_grid_is_coarse_then_waits_then_fine_around_the_best_then_finished():
    space = ChoiceSpace({"a": (1, 2, 3, 4, 5), "b": (1, 2, 3)}, name="ab")
    strategy = GridStrategy(space)
    coarse = [strategy.ask() for _ in range(9)]
    assert [(c["a"], c["b"]) for c in coarse] == [(a, b) for a in (1, 3, 5) for b in (1, 2, 3)]
    assert strategy.ask() is None  # results pending
    for arch in coarse:
        strategy.tell(arch, -abs(arch["a"] - 4) - abs(arch["b"] - 2))  # best coarse: a=3 or 5, b=2
    fine = []
    while (arch := strategy.ask()) not in (None, FINISHED):
        fine.append(arch)
    best = {"a": 3, "b": 2}
    assert fine and all(sum(f[k] != best[k] for k in f) == 1 for f in fine)
    assert {(f["a"], f["b"]) for f in fine} == {(2, 2), (4, 2)}  # unevaluated neighbours of (3, 2)
    assert strategy.ask() is None
    for arch in fine:
        strategy.tell(arch, 0.0)
    assert strategy.ask() is FINISHED and strategy.ask() is FINISHED


def test_grid_caps_the_coarse_grid_and_keeps_the_extremes():
    space = stage_space()
    strategy = GridStrategy(space, coarse_max=20, seed=0)
    grid = strategy.coarse_grid()
    assert len(grid) <= 20
    assert space.canonical(space.smallest()) in grid and space.canonical(space.largest()) in grid
    assert GridStrategy(space, coarse_max=20, seed=0).coarse_grid() == grid


def test_grid_filters_the_coarse_grid_by_the_constraints():
    space = stage_space(flops=lambda a: a["resolution"] ** 2)
    strategy = GridStrategy(space, constraints=Constraints(max_flops=20**2), coarse_max=10**6)
    grid = strategy.coarse_grid()
    assert {a["resolution"] for a in grid} == {12, 20}
    assert len(grid) == 2 * 8 * 8


def test_grid_with_every_trial_failed_finishes():
    strategy = GridStrategy(small_space())
    while isinstance(arch := strategy.ask(), dict):
        strategy.tell(arch, None)
    assert strategy.ask() is FINISHED


def test_grid_more_fine_rounds_climb_further():
    one = GridStrategy(NB201, coarse_max=8, fine_rounds=1)
    many = GridStrategy(NB201, coarse_max=8, fine_rounds=10)
    best_one = max(conv3x3_count(a) for a in drive(one, conv3x3_count, 10**4))
    best_many = max(conv3x3_count(a) for a in drive(many, conv3x3_count, 10**4))
    assert best_many == 6.0 and best_one < best_many


def test_probabilities_are_normalised():
    strategy = ReinforceStrategy(NB201)
    assert all(math.isclose(float(p.sum()), 1.0) for p in strategy.probabilities().values())
