"""Local search and the predictor-guided strategy: their own behaviour (the contract suite
covers them through the registry)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import search_spaces
import strategies
from raynas.constraints import Constraints
from raynas.errors import ConfigError
from search_spaces import ChoiceSpace
from strategies import FINISHED
from strategies.testing import drive
from strategies.guided import GuidedStrategy
from strategies.local import LocalSearchStrategy
from strategies.random import RandomStrategy

REPO = Path(__file__).resolve().parents[2]
NB201 = search_spaces.get("nb201")


def conv3x3_count(arch) -> float:
    return float(sum(op == "nor_conv_3x3" for op in arch.values()))



def distance(a, b) -> int:
    return sum(a[k] != b[k] for k in a)


def two_peaks(arch) -> float:
    """All-``conv`` is the global optimum (6); all-``pool`` a local one (5): from it, every
    one-change neighbour is worse, so only a restart escapes."""
    conv = sum(op == "nor_conv_3x3" for op in arch.values())
    pool = sum(op == "avg_pool_3x3" for op in arch.values())
    return float(max(conv, pool - 1 if pool == 6 else pool * 0.5))


# -- local search ---------------------------------------------------------------------------------
PLAIN = {"order": "random", "restart": "random", "patience": None}  # the hill climber without a model


def test_registered_and_options_listed():
    assert {"local", "guided"} <= set(strategies.available())
    local = strategies.options("local")
    assert local["step"] == "first" and local["order"] == local["restart"] == "predicted"
    assert strategies.options("guided")["acquisition"] == "thompson"


@pytest.mark.parametrize("step", ["first", "best"])
def test_local_climbs_one_change_at_a_time_to_the_optimum(step):
    strategy = LocalSearchStrategy(NB201, seed=0, step=step, initial_samples=3, **PLAIN)
    archs = drive(strategy, conv3x3_count, 120)
    top = [conv3x3_count(a) for a in archs].index(6)  # reached; a restart follows its neighbourhood
    # after the starting samples and up to the optimum, each proposal is a neighbour of an earlier one
    for i, arch in enumerate(archs[3:top + 1], start=3):
        assert any(distance(arch, prev) == 1 for prev in archs[:i]), i
    assert len({NB201.key(a) for a in archs}) == len(archs)  # never a repeat


def test_local_first_improvement_moves_at_once_and_best_waits_for_the_whole_neighbourhood():
    first = LocalSearchStrategy(NB201, seed=1, step="first", initial_samples=1, **PLAIN)
    start = first.ask()
    first.tell(start, 0.0)
    neighbour = first.ask()
    first.tell(neighbour, 1.0)  # an improvement: the next proposals are its neighbours
    assert first.current == neighbour
    assert distance(first.ask(), neighbour) == 1

    best = LocalSearchStrategy(NB201, seed=1, step="best", initial_samples=1, **PLAIN)
    start = best.ask()
    best.tell(start, 0.0)
    proposals = []
    for i in range(len(NB201.neighbours(start))):
        arch = best.ask()
        proposals.append(arch)
        best.tell(arch, float(i == 3))
        if i < len(NB201.neighbours(start)) - 1:
            assert best.current == start  # still evaluating the neighbourhood
    assert all(distance(a, start) == 1 for a in proposals)
    best.ask()
    assert best.current == proposals[3]


def test_local_restarts_at_a_local_optimum_and_starts_from_a_warm_start():
    space = ChoiceSpace({"a": (0, 1, 2), "b": (0, 1, 2)}, name="peaks")

    def score(arch):  # (0, 0) is a local optimum: its four neighbours all score 1
        return {(2, 2): 9.0, (0, 0): 5.0}.get((arch["a"], arch["b"]), 1.0)

    strategy = LocalSearchStrategy(space, seed=0, initial_samples=1, **PLAIN)
    strategy.tell({"a": 0, "b": 0}, 5.0)  # a warm start, better than any sample but (2, 2)
    sample = strategy.ask()
    strategy.tell(sample, score(sample))
    assert sample != {"a": 2, "b": 2}, "this seed must not sample the optimum first"
    neighbours = [n for n in space.neighbours({"a": 0, "b": 0}) if n != sample]
    climbed = drive(strategy, score, len(neighbours))
    assert sorted(map(str, climbed)) == sorted(map(str, neighbours)) and strategy.num_climbs == 1
    rest = drive(strategy, score, 10)
    assert strategy.num_climbs >= 2 and {"a": 2, "b": 2} in rest


@pytest.mark.parametrize("options", [PLAIN, {}])
def test_local_finds_the_global_optimum_past_a_local_one_by_restarting(options):
    archs = drive(LocalSearchStrategy(NB201, seed=0, **options), two_peaks, 600)
    assert max(map(two_peaks, archs)) == 6


def test_local_waits_while_the_neighbourhood_is_in_flight_then_finishes_a_small_space():
    space = ChoiceSpace({"a": (1, 2), "b": (1, 2)}, name="tiny-grid")
    strategy = LocalSearchStrategy(space, seed=0, initial_samples=1, **PLAIN)
    start = strategy.ask()
    assert strategy.ask() is None  # the start is in flight: nothing to climb from yet
    strategy.tell(start, 1.0)
    neighbours = [strategy.ask(), strategy.ask()]
    assert all(distance(n, start) == 1 for n in neighbours)
    assert strategy.ask() is None  # the whole neighbourhood is in flight
    for n in neighbours:
        strategy.tell(n, 0.0)
    last = strategy.ask()
    assert last == {"a": 3 - start["a"], "b": 3 - start["b"]}  # a restart: the one left
    assert strategy.ask() is None  # waiting for it
    strategy.tell(last, 0.5)
    assert strategy.ask() is FINISHED


@pytest.mark.parametrize("options", [PLAIN, {}])
def test_local_never_proposes_infeasible_neighbours(options):
    budget = Constraints(max_params=NB201.params(NB201.smallest()) + 3 * 2400)
    archs = drive(LocalSearchStrategy(NB201, seed=1, constraints=budget, **options), conv3x3_count, 80)
    assert archs and all(budget.satisfied(NB201, a) for a in archs)


@pytest.mark.parametrize("options", [PLAIN, {}])
def test_local_failed_results_are_not_climbed_to(options):
    strategy = LocalSearchStrategy(NB201, seed=3, initial_samples=2, **options)
    a, b = strategy.ask(), strategy.ask()
    strategy.tell(a, None)
    strategy.tell(b, 0.5)
    strategy.ask()
    assert strategy.current == b


@pytest.mark.parametrize(
    "cls, options, message",
    [
        (LocalSearchStrategy, {"step": "steepest"}, r"step must be one of \['first', 'best'\], got 'steepest'"),
        (LocalSearchStrategy, {"initial_samples": 0}, r"initial_samples must be an int >= 1, got 0"),
        (LocalSearchStrategy, {"order": "best"}, r"order must be one of \['predicted', 'random'\], got 'best'"),
        (LocalSearchStrategy, {"restart": "model"}, r"restart must be one of \['predicted', 'random'\], got 'model'"),
        (LocalSearchStrategy, {"patience": 0}, r"patience must be an int >= 1, got 0"),
        (LocalSearchStrategy, {"restart_distance": 0}, r"restart_distance must be an int >= 1, got 0"),
        (LocalSearchStrategy, {"ridge": 0.0}, r"ridge must be a number > 0, got 0.0"),
        (LocalSearchStrategy, {"targets": "scores"}, r"targets must be one of \['ranks', 'values'\], got 'scores'"),
        (GuidedStrategy, {"initial_samples": 1}, r"initial_samples must be an int >= 2, got 1"),
        (GuidedStrategy, {"acquisition": "ei"}, r"acquisition must be one of \['thompson', 'ucb', 'mean'\], got 'ei'"),
        (GuidedStrategy, {"model": "gp"}, r"model must be one of \['kernel', 'trees'\], got 'gp'"),
        (GuidedStrategy, {"ensemble_size": 1}, r"ensemble_size must be an int >= 2, got 1"),
        (GuidedStrategy, {"kappa": -1.0}, r"kappa must be a number >= 0, got -1.0"),
    ],
)
def test_options_are_validated_with_the_rule_and_value(cls, options, message):
    with pytest.raises(ConfigError, match=message):
        cls(NB201, **options)


@pytest.mark.parametrize("cls, options", [(LocalSearchStrategy, {}), (LocalSearchStrategy, {"step": "best"}),
                                          (LocalSearchStrategy, {**PLAIN, "initial_samples": 3}),
                                          (LocalSearchStrategy, {"initial_samples": 3, "patience": 2}),
                                          (GuidedStrategy, {}), (GuidedStrategy, {"model": "trees"})])
def test_state_dict_survives_json_and_continues_the_sequence(cls, options):
    first = cls(NB201, seed=5, **options)
    drive(first, conv3x3_count, 30)
    state = json.loads(json.dumps(first.state_dict()))
    second = cls(NB201, seed=99, **options)
    second.load_state_dict(state)
    assert drive(second, conv3x3_count, 15) == drive(first, conv3x3_count, 15)


# -- local search guided by its model (the defaults) ------------------------------------------------
def test_local_proposes_the_neighbour_its_model_ranks_best():
    strategy = LocalSearchStrategy(NB201, seed=2, initial_samples=20)
    drive(strategy, conv3x3_count, 20)  # the random start: enough for the model to see what scores
    nxt = strategy.ask()
    current = strategy.current
    assert distance(nxt, current) == 1
    assert conv3x3_count(nxt) == conv3x3_count(current) + 1  # the one change the objective rewards


@pytest.mark.parametrize("targets, same", [("ranks", True), ("values", False)])
def test_local_model_on_ranks_sees_only_the_order_of_the_scores(targets, same):
    """With ``targets="ranks"`` a monotone change of the scores (one disconnected cell far below
    the rest, say) leaves every prediction as it was; fitted on the values, it does not."""
    rng = random.Random(0)
    archs = [NB201.sample(rng) for _ in range(25)]
    candidates = [NB201.sample(rng) for _ in range(10)]
    predictions = []
    for transform in (conv3x3_count, lambda a: 2.0 ** (3 * conv3x3_count(a))):
        strategy = LocalSearchStrategy(NB201, seed=0, targets=targets)
        for arch in archs:
            strategy.tell(arch, transform(arch))
        predictions.append(strategy._predict(candidates))
    assert (abs(predictions[0] - predictions[1]).max() < 1e-9) == same


def test_local_with_patience_ends_a_climb_before_its_neighbourhood_is_exhausted():
    strategy = LocalSearchStrategy(NB201, seed=0, initial_samples=1, patience=3)
    start = strategy.ask()
    strategy.tell(start, 1.0)
    neighbours = drive(strategy, lambda a: 0.0, 3)  # three neighbours, none better
    assert all(distance(n, start) == 1 for n in neighbours) and strategy.num_climbs == 1
    strategy.ask()
    assert strategy.num_climbs == 2 and len(NB201.neighbours(start)) > 3


def test_local_restarts_where_the_model_points_far_from_every_local_optimum():
    strategy = LocalSearchStrategy(NB201, seed=1, initial_samples=10, patience=2, restart_distance=3)
    archs = drive(strategy, conv3x3_count, 60)
    assert strategy.num_climbs > 2 and strategy.optima
    optima = [dict(zip(NB201.keys, json.loads(f))) for f in strategy.optima]
    starts, climbs = [], 1
    strategy2 = LocalSearchStrategy(NB201, seed=1, initial_samples=10, patience=2, restart_distance=3)
    for arch in archs:  # replay: the first proposal of every new climb is a restart start
        proposed = strategy2.ask()
        assert proposed == arch
        if strategy2.num_climbs > climbs:
            climbs = strategy2.num_climbs
            starts.append((proposed, len(strategy2.optima)))
        strategy2.tell(proposed, conv3x3_count(proposed))
    assert starts
    for start, known in starts:
        assert all(distance(start, o) >= 3 for o in optima[:known])


def test_local_guided_keeps_every_trial_busy_while_its_start_is_in_flight():
    strategy = LocalSearchStrategy(NB201, seed=0, initial_samples=1)
    batch = [strategy.ask() for _ in range(4)]  # nothing told yet: random samples join the first climb
    assert all(isinstance(a, dict) for a in batch) and len({NB201.key(a) for a in batch}) == 4
    plain = LocalSearchStrategy(NB201, seed=0, initial_samples=1, **PLAIN)
    assert plain.ask() is not None and plain.ask() is None


def test_local_warm_up_is_fitted_to_a_small_budget():
    options, note = strategies.fit_budget("local", 20)
    assert options == {"initial_samples": 5} and "initial_samples=5" in note


# -- guided -----------------------------------------------------------------------------------------
def test_guided_starts_random_then_proposes_predicted_neighbours_of_the_best():
    strategy = GuidedStrategy(NB201, seed=0, initial_samples=8, mutations=0, random_candidates=0,
                              acquisition="mean")
    archs = drive(strategy, conv3x3_count, 8)
    assert strategy._model is None  # noqa: SLF001 - no model during the random start
    nxt = strategy.ask()
    best = sorted(archs, key=conv3x3_count, reverse=True)[: strategy.parents]
    assert any(distance(nxt, b) == 1 for b in best)


@pytest.mark.parametrize("model", ["kernel", "trees"])
def test_guided_beats_random_on_a_toy_objective(model):
    def best_after(cls, seed, **options):
        return max(map(conv3x3_count, drive(cls(NB201, seed=seed, **options), conv3x3_count, 40)))

    guided = [best_after(GuidedStrategy, s, model=model) for s in range(3)]
    rand = [best_after(RandomStrategy, s) for s in range(3)]
    assert guided == [6.0, 6.0, 6.0] and sum(guided) > sum(rand)


def test_guided_leaves_failed_trials_out_of_the_model_and_never_repeats():
    strategy = GuidedStrategy(NB201, seed=4, initial_samples=4)
    archs = drive(strategy, lambda a: None if a["edge.1<-0"] == "none" else conv3x3_count(a), 40)
    assert len(strategy.history) == sum(a["edge.1<-0"] != "none" for a in archs)
    assert len({NB201.key(a) for a in archs}) == len(archs)


def test_guided_with_trials_in_flight_proposes_distinct_candidates():
    strategy = GuidedStrategy(NB201, seed=6, initial_samples=4)
    drive(strategy, conv3x3_count, 10)
    batch = [strategy.ask() for _ in range(4)]  # four in flight, nothing told in between
    assert len({NB201.key(a) for a in batch}) == 4


def test_new_strategies_import_neither_torch_nor_ray():
    code = ("import sys, strategies.local, strategies.guided; "
            "print(any(m in sys.modules for m in ('torch', 'ray', 'raynas.nn')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the default ------------------------------------------------------------------------------------
def test_default_is_a_registered_strategy_with_its_options():
    assert "default" in strategies.available() and strategies.DEFAULT in strategies.available()
    assert strategies.DEFAULT != "default"
    assert strategies.options("default") == strategies.options(strategies.DEFAULT)
    searcher = strategies.get("default", space=NB201, seed=0)
    assert type(searcher.strategy).__name__ == type(strategies.get(strategies.DEFAULT, space=NB201).strategy).__name__


def test_search_and_the_cli_use_the_default_when_no_strategy_is_named():
    import inspect

    import raynas
    from raynas.cli.main import build_parser

    assert inspect.signature(raynas.search).parameters["strategy"].default == "default"
    args = build_parser().parse_args(["search", "--checkpoint", "runs/x", "--out", "runs/y"])
    assert args.strategy == "default"
    # --help names every strategy and what the default is
    for command in ("search", "run"):
        sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
        text = " ".join(next(a for a in sub._actions if a.dest == "strategy").help.split())
        assert f"that is {strategies.DEFAULT!r}" in text
        assert all(name in text for name in strategies.available()), text


def test_the_default_with_several_objectives_is_nsga2():
    from raynas.tune.objectives import Objective, method_of, multi_objective_searcher

    assert "NSGA-II" in method_of("default")
    objectives = (Objective("accuracy", "max"), Objective("flops", "min"))
    searcher, metric, mode = multi_objective_searcher("default", space=NB201, objectives=objectives, seed=0)
    assert type(searcher.strategy).__name__ == "NSGA2Strategy" and (metric, mode) == ("accuracy", "max")


def test_the_default_fits_its_warm_up_to_a_small_budget_as_the_strategy_it_names():
    options, note = strategies.fit_budget("default", 8)
    assert options == strategies.fit_budget(strategies.DEFAULT, 8)[0]
    assert (note is None) == (strategies.fit_budget(strategies.DEFAULT, 8)[1] is None)
