"""The Tune adapters: StrategySearcher and ConstrainedSearcher, beyond the contract suite."""

from __future__ import annotations

import logging
import math
import pickle
import random

import pytest

import search_spaces
import strategies
from strategies import testing
from raynas.constraints import Constraints
from raynas.errors import ConfigError, InvalidCheckpoint
from strategies.searcher import ConstrainedSearcher, StrategySearcher, score_of
from strategies import FINISHED, Strategy
from strategies.random import RandomStrategy

logging.getLogger("optuna").setLevel(logging.WARNING)
NB201 = search_spaces.get("nb201")


class Recorder(Strategy):
    """Proposes random archs and records every tell."""

    def __init__(self, space, *, seed=0, constraints=None, finish_after=None):
        super().__init__(space, seed=seed, constraints=constraints)
        self.told = []
        self.finish_after = finish_after

    def _ask(self):
        if self.finish_after is not None and self.num_asked >= self.finish_after:
            return FINISHED
        return self.space.sample(self.rng)

    def _tell(self, arch, score):
        self.told.append((arch, score))


@pytest.mark.parametrize(
    "result, mode, expected",
    [
        ({"acc": 2.0}, "max", 2.0),
        ({"acc": 2.0}, "min", -2.0),
        ({"acc": float("nan")}, "max", None),
        ({"acc": float("inf")}, "min", None),
        ({"acc": "2"}, "max", None),
        ({"acc": True}, "max", None),
        ({"loss": 1.0}, "max", None),
        (None, "max", None),
    ],
)
def test_score_of(result, mode, expected):
    assert score_of(result, "acc", mode) == expected


def test_mode_min_negates_and_bad_results_are_told_as_none():
    strategy = Recorder(NB201)
    searcher = StrategySearcher(strategy, metric="loss", mode="min")
    results = [({"loss": 0.5}, False), ({"loss": float("nan")}, False), ({}, False), ({"loss": 0.1}, True)]
    for i, (result, error) in enumerate(results):
        searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", result, error=error)
    assert [score for _, score in strategy.told] == [-0.5, None, None, None]


def test_the_same_trial_id_gets_the_same_arch_and_unknown_completions_are_ignored():
    strategy = Recorder(NB201)
    searcher = StrategySearcher(strategy, metric="acc", mode="max")
    assert searcher.suggest("a") == searcher.suggest("a")
    searcher.on_trial_complete("zzz", {"acc": 1.0})
    searcher.on_trial_complete("a", {"acc": 1.0})
    searcher.on_trial_complete("a", {"acc": 1.0})
    assert len(strategy.told) == 1 and strategy.num_asked == 1


def test_finished_and_none_map_to_tunes_values():
    searcher = StrategySearcher(Recorder(NB201, finish_after=1), metric="acc", mode="max")
    assert isinstance(searcher.suggest("a"), dict)
    assert searcher.suggest("b") == "FINISHED"
    grid = strategies.get("grid", space=NB201, metric="acc", coarse_max=2)
    assert isinstance(grid.suggest("a"), dict) and isinstance(grid.suggest("b"), dict)
    assert grid.suggest("c") is None  # waiting for the coarse results


def test_bad_metric_or_mode_is_a_config_error_not_an_assert():
    with pytest.raises(ConfigError, match="mode must be 'min' or 'max'.*got 'up'"):
        StrategySearcher(Recorder(NB201), metric="acc", mode="up")
    with pytest.raises(ConfigError, match="metric must be a non-empty string"):
        StrategySearcher(Recorder(NB201), metric=3, mode="max")
    with pytest.raises(TypeError, match="must be a strategies.Strategy"):
        StrategySearcher(object())
    with pytest.raises(ConfigError, match="mode must be 'min' or 'max'"):
        strategies.get("tpe", space=NB201, mode="maximise")


def test_restore_continues_with_trials_in_flight(tmp_path):
    path = tmp_path / "s.pkl"
    a = strategies.get("evolution", space=NB201, metric="acc", seed=3, population_size=4, sample_size=2)
    archs = {f"t{i}": a.suggest(f"t{i}") for i in range(6)}
    for i in range(4):
        a.on_trial_complete(f"t{i}", {"acc": float(i)})
    a.save(str(path))  # t4 and t5 still running
    b = strategies.get("evolution", space=NB201, metric=None, mode=None, seed=0, population_size=4, sample_size=2)
    b.restore(str(path))
    for searcher in (a, b):
        searcher.on_trial_complete("t4", {"acc": 10.0})
        searcher.on_trial_complete("t5", {"acc": 0.5})
    assert [a.suggest(f"u{i}") for i in range(5)] == [b.suggest(f"u{i}") for i in range(5)]
    assert b.strategy.population[-2][0] == archs["t4"]
    assert (b.metric, b.mode) == ("acc", "max")


def test_restore_rejects_other_checkpoints(tmp_path):
    path = tmp_path / "s.pkl"
    strategies.get("random", space=NB201).save(str(path))
    with pytest.raises(InvalidCheckpoint, match="from strategy 'RandomStrategy'"):
        strategies.get("evolution", space=NB201).restore(str(path))
    with pytest.raises(InvalidCheckpoint, match="raynas.StrategySearcher"):
        strategies.get("tpe", space=NB201).restore(str(path))
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(InvalidCheckpoint, match="not a readable searcher checkpoint"):
        strategies.get("random", space=NB201).restore(str(tmp_path / "junk.pkl"))
    with pytest.raises(InvalidCheckpoint, match="no searcher checkpoint"):
        strategies.get("random", space=NB201).restore(str(tmp_path / "missing.pkl"))
    with pytest.raises(InvalidCheckpoint, match="from the 'tpe' searcher"):
        tpe = strategies.get("tpe", space=NB201)
        tpe.save(str(path))
        strategies.get("nevergrad", space=NB201).restore(str(path))


def test_searchers_pickle_for_tune():
    for name in strategies.available():
        searcher = strategies.get(name, space=NB201, seed=1, **testing.required_options(name, NB201))
        searcher.suggest("t0")
        clone = pickle.loads(pickle.dumps(searcher))
        assert clone.suggest("t1") == searcher.suggest("t1"), name


def test_set_max_concurrency_leaves_the_limit_to_the_concurrency_limiter():
    searcher = StrategySearcher(RandomStrategy(NB201), metric="acc", mode="max")
    assert searcher.set_max_concurrency(4) is False and searcher.max_concurrent == 4


# -- ConstrainedSearcher ------------------------------------------------------------------------------
def _budget():
    return Constraints(max_flops=NB201.flops(NB201.smallest()) + 0.2 * (NB201.flops(NB201.largest())
                                                                      - NB201.flops(NB201.smallest())))


@pytest.mark.parametrize("name", ["tpe", "nevergrad"])
@pytest.mark.parametrize("infeasible", ["penalty", "fail"])
def test_library_proposals_that_break_the_budget_are_never_handed_out(name, infeasible):
    budget = _budget()
    searcher = strategies.get(name, space=NB201, constraints=budget, seed=0, infeasible=infeasible, max_retries=1000)
    conv = lambda a: sum(op == "nor_conv_3x3" for op in a.values())  # noqa: E731 - drives it to the costly cells
    for i in range(40):
        arch = searcher.suggest(f"t{i}")
        assert budget.satisfied(NB201, arch)
        searcher.on_trial_complete(f"t{i}", {"accuracy": float(conv(arch))})
    assert searcher.num_rejected > 0


def test_penalty_is_below_the_worst_result_in_the_metrics_units():
    told = []

    class Inner:
        def suggest(self, trial_id):
            return NB201.largest() if len(told) % 2 else NB201.smallest()

        def on_trial_complete(self, trial_id, result=None, error=False):
            told.append((result, error))

    budget = Constraints(max_flops=NB201.flops(NB201.smallest()) * 1.5)
    searcher = ConstrainedSearcher(lambda metric, mode: Inner(), space=NB201, constraints=budget,
                                   metric="loss", mode="min")
    searcher.suggest("a")  # smallest: feasible
    searcher.on_trial_complete("a", {"loss": 2.0})
    searcher.suggest("b")  # largest rejected (told), then smallest
    assert told[0] == ({"loss": 2.0}, False)
    penalty, error = told[1]
    assert error is False and penalty["loss"] > 2.0 and math.isfinite(penalty["loss"])


def test_a_library_stuck_on_infeasible_proposals_raises_after_the_cap():
    from raynas.errors import InfeasibleConstraints

    class Inner:
        def suggest(self, trial_id):
            return NB201.largest()

        def on_trial_complete(self, trial_id, result=None, error=False):
            pass

    budget = Constraints(max_flops=NB201.flops(NB201.smallest()) * 1.5)
    searcher = ConstrainedSearcher(lambda metric, mode: Inner(), space=NB201, constraints=budget,
                                   metric="acc", mode="max", max_retries=7)
    with pytest.raises(InfeasibleConstraints, match="proposed 7 architectures in a row"):
        searcher.suggest("a")


class _Scripted:
    """A library searcher that proposes a fixed script of architectures and records what it is told."""

    def __init__(self, script):
        self.script, self.told, self.asked = list(script), {}, []

    def suggest(self, trial_id):
        self.asked.append(trial_id)
        return dict(self.script.pop(0))

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.told[trial_id] = (result, error)

    def save(self, path):
        with open(path, "wb") as f:
            pickle.dump(self.script, f)

    def restore(self, path):
        with open(path, "rb") as f:
            self.script = pickle.load(f)


def _archs(n):
    archs, rng = [], random.Random(0)
    while len(archs) < n:
        arch = NB201.sample(rng)
        if arch not in archs:
            archs.append(arch)
    return archs


def test_a_repeated_proposal_costs_no_trial_and_the_library_hears_the_known_result():
    a, b, c = _archs(3)
    inner = _Scripted([a, a, b, a, c])
    searcher = ConstrainedSearcher(lambda metric, mode: inner, space=NB201, metric="acc", mode="max")
    assert searcher.suggest("t1") == a
    searcher.on_trial_complete("t1", {"acc": 0.5})
    assert searcher.suggest("t2") == b  # the second `a` is answered from t1's result
    assert searcher.suggest("t3") == c  # the third `a` too
    assert searcher.num_reused == 2
    told = ({"acc": 0.5}, False)
    assert inner.told == {inner.asked[0]: told, inner.asked[1]: told, inner.asked[3]: told}


def test_a_repeat_of_an_architecture_in_flight_is_told_when_its_result_arrives():
    a, b = _archs(2)
    inner = _Scripted([a, a, b])
    searcher = ConstrainedSearcher(lambda metric, mode: inner, space=NB201, metric="loss", mode="min")
    assert searcher.suggest("t1") == a
    assert searcher.suggest("t2") == b  # `a` again while t1 runs: held, not a trial
    waiting = inner.asked[1]
    assert waiting not in inner.told
    searcher.on_trial_complete("t1", {"loss": 2.0})
    assert inner.told[waiting] == ({"loss": 2.0}, False) == inner.told[inner.asked[0]]


def test_repeats_evaluate_hands_every_proposal_out_and_a_converged_library_still_gets_trials():
    a, b = _archs(2)
    inner = _Scripted([a, a])
    searcher = ConstrainedSearcher(lambda metric, mode: inner, space=NB201, metric="acc", mode="max",
                                   repeats="evaluate")
    assert searcher.suggest("t1") == a and searcher.suggest("t2") == a and searcher.num_reused == 0
    stuck = _Scripted([a] * 20 + [b])
    searcher = ConstrainedSearcher(lambda metric, mode: stuck, space=NB201, metric="acc", mode="max")
    searcher.suggest("t1")
    searcher.on_trial_complete("t1", {"acc": 1.0})
    assert searcher.suggest("t2") == a  # after 10 answered repeats in a row, the next proposal is a trial
    assert searcher.num_reused == 10 and len(stuck.asked) == 12


def test_repeats_must_be_a_known_choice():
    with pytest.raises(ConfigError, match=r"repeats must be one of \['reuse', 'evaluate'\], got 'again'"):
        ConstrainedSearcher(lambda metric, mode: None, space=NB201, metric="acc", mode="max", repeats="again")


def test_known_results_survive_a_checkpoint(tmp_path):
    a, b = _archs(2)
    searcher = ConstrainedSearcher(lambda metric, mode: _Scripted([a, a, b]), space=NB201, metric="acc",
                                   mode="max")
    searcher.suggest("t1")
    searcher.on_trial_complete("t1", {"acc": 0.25})
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    fresh = ConstrainedSearcher(lambda metric, mode: _Scripted([]), space=NB201, metric="acc", mode="max")
    fresh.restore(str(path))
    assert fresh.suggest("t2") == b and fresh.num_reused == 1  # the repeated `a` answered from the checkpoint
    assert fresh.searcher.told[fresh.searcher.asked[0]] == ({"acc": 0.25}, False)


# -- through Ray Tune (raynas.search on a local Ray; slow: run with -m slow) ---------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["evolution", "tpe"])
def test_search_through_tune_on_the_nb201_table_under_a_budget(ray_session, tmp_path, name):
    import raynas
    from raynas.evaluate.table import TableEvaluator

    budget = _budget()
    result = raynas.search(NB201, TableEvaluator(space=NB201), strategy=name, num_samples=10,
                           max_concurrent=2, seed=0, constraints=budget, out_dir=tmp_path / "out",
                           strategy_options={"population_size": 4} if name == "evolution" else None)
    ok = [row for row in result.history if row["status"] == "ok"]
    assert len(ok) == 10
    assert all(budget.satisfied(NB201, row["arch"]) for row in ok)
    assert result.best_metrics["accuracy"] == max(row["accuracy"] for row in ok)


@pytest.mark.slow
def test_an_exhaustive_strategy_ends_the_search_early_through_tune(ray_session, tmp_path):
    import raynas
    from raynas.evaluate.table import TableEvaluator

    result = raynas.search(NB201, TableEvaluator(space=NB201), strategy="grid", num_samples=50,
                           max_concurrent=2, seed=0, out_dir=tmp_path / "out",
                           strategy_options={"coarse_max": 3, "fine_rounds": 0})
    assert len(result.history) == 3  # FINISHED after the coarse grid, well before 50 trials
