"""Objectives, the scalarization, and the multi-objective searchers driven through the Searcher API (no Ray cluster)."""

from __future__ import annotations

import logging
import math

import pytest

from raynas.constraints import Constraints
from raynas.errors import ConfigError
from raynas.tune.objectives import (
    SCALARIZED,
    Objective,
    ScalarizedEvaluator,
    method_of,
    multi_objective_searcher,
    parse_objectives,
    resolve_scales,
)
from search_spaces import ChoiceSpace
from strategies.searcher import ConstrainedSearcher, StrategySearcher

logging.getLogger("optuna").setLevel(logging.WARNING)


def _flops(arch):
    return 10.0 * arch["a"] * arch["b"]


SPACE = ChoiceSpace({"a": (1, 2, 3, 4), "b": (1, 2, 3), "c": ("x", "y")}, name="mo-toy", flops=_flops)
OBJECTIVES = resolve_scales(parse_objectives("accuracy:max,flops:min"), SPACE)


def _metrics(arch):
    return {"accuracy": float(arch["a"] + arch["b"] + (arch["c"] == "y")), "flops": _flops(arch)}


def test_parse_objectives_text_and_weights():
    objectives = parse_objectives("accuracy:max, flops:min:0.5")
    assert objectives == (Objective("accuracy", "max", 1.0), Objective("flops", "min", 0.5))
    assert parse_objectives([("loss", "min")]) == (Objective("loss", "min"),)


@pytest.mark.parametrize("text,message", [
    ("", "at least one"),
    ("accuracy", "name:max|min"),
    ("accuracy:up", "must be 'max' or 'min', got 'up'"),
    ("accuracy:max:heavy", "weight must be a positive number, got 'heavy'"),
    ("accuracy:max:-1", "weight of 'accuracy' must be a positive finite number, got -1.0"),
    ("accuracy:max,accuracy:min", "more than once"),
    ("scalarized:max", "name of the scalarized metric"),
])
def test_bad_objectives_name_the_rule_and_value(text, message):
    with pytest.raises(ConfigError, match=message.replace("|", r"\|").replace("(", r"\(")):
        parse_objectives(text)


def test_scales_and_the_scalarized_metric():
    assert OBJECTIVES[1].scale == _flops(SPACE.largest()) == 120.0
    assert OBJECTIVES[0].scale == 1.0
    evaluator = ScalarizedEvaluator(_metrics, resolve_scales(parse_objectives("accuracy:max:2,flops:min:3"), SPACE))
    arch = {"a": 2, "b": 3, "c": "y"}
    out = evaluator(arch)
    assert out[SCALARIZED] == pytest.approx(2 * 6.0 - 3 * 60.0 / 120.0)
    assert out["accuracy"] == 6.0  # the evaluator's own metrics are kept
    with pytest.raises(ValueError, match="flops=nan"):
        ScalarizedEvaluator(lambda a: {"accuracy": 1.0, "flops": math.nan}, OBJECTIVES)(arch)


def test_method_of_each_strategy():
    assert "NSGA-II" in method_of("evolution")
    assert "Optuna" in method_of("tpe")
    assert "scalarization" in method_of("random")


def _drive(searcher, n, *, start=0):
    archs = []
    for i in range(start, start + n):
        config = searcher.suggest(f"t{i}")
        assert isinstance(config, dict), config
        archs.append(config)
        searcher.on_trial_complete(f"t{i}", _metrics(config))
    return archs


@pytest.mark.parametrize("name", ["tpe", "evolution"])
def test_multi_objective_searchers_propose_only_feasible_archs(name):
    constraints = Constraints(max_flops=60)
    searcher, metric, mode = multi_objective_searcher(name, space=SPACE, objectives=OBJECTIVES, seed=0,
                                                      constraints=constraints)
    assert isinstance(searcher, ConstrainedSearcher if name == "tpe" else StrategySearcher)
    assert (metric, mode) == ("accuracy", "max")
    archs = _drive(searcher, 16)
    for arch in archs:
        SPACE.validate(arch)
        assert constraints.satisfied(SPACE, arch), arch
    assert searcher.set_search_properties("other", "min", {}) is False


@pytest.mark.parametrize("name", ["tpe", "evolution"])
def test_save_restore_continues_the_same_sequence(name, tmp_path):
    def build(seed):
        return multi_objective_searcher(name, space=SPACE, objectives=OBJECTIVES, seed=seed,
                                        constraints=Constraints(max_flops=60))[0]

    original = build(0)
    _drive(original, 12)
    original.save(str(tmp_path / "s.pkl"))
    expected = _drive(original, 6, start=12)
    restored = build(1)
    restored.restore(str(tmp_path / "s.pkl"))
    assert _drive(restored, 6, start=12) == expected


def test_failed_and_nan_results_are_told_as_failed():
    searcher, _, _ = multi_objective_searcher("evolution", space=SPACE, objectives=OBJECTIVES, seed=0)
    config = searcher.suggest("a")
    searcher.on_trial_complete("a", {"accuracy": math.nan, "flops": 1.0})
    config = searcher.suggest("b")
    searcher.on_trial_complete("b", None, error=True)
    searcher.suggest("c")
    searcher.on_trial_complete("c", {"accuracy": 1.0})  # flops missing
    assert searcher.strategy.num_failed == 3 and searcher.strategy.population == []
    assert isinstance(config, dict)


def test_other_strategies_maximise_the_scalarization():
    searcher, metric, mode = multi_objective_searcher("random", space=SPACE, objectives=OBJECTIVES, seed=0)
    assert (metric, mode) == (SCALARIZED, "max")
    assert isinstance(searcher.suggest("x"), dict)


def test_unknown_tpe_option_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="n_startup_trials"):
        multi_objective_searcher("tpe", space=SPACE, objectives=OBJECTIVES, options={"speed": 2})
