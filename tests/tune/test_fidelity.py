"""Multi-fidelity evaluation: per-chunk results through Tune, schedulers stopping subnets early,
history fractions, stopped subnets never best, the best re-checked on the whole set."""

import json
import math
import sys

import pytest

import raynas
import search_spaces
from raynas.errors import ConfigError
from raynas.evaluate.toy import ToyEvaluator
from raynas.tune.fidelity import FRACTION, chunks_of, evaluate_in_chunks, is_full, make_scheduler

ray_cloudpickle = pytest.importorskip("ray.cloudpickle")
ray_cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = search_spaces.ChoiceSpace({"a": (1, 2, 3, 4), "b": (1, 2, 3)}, name="toy",
                                  flops=lambda arch: 10.0 * arch["a"] * arch["b"])


class Chunked:
    """a * b after every one of 4 chunks, with the fraction seen."""

    num_chunks = 4

    def __call__(self, arch):
        return {"accuracy": float(arch["a"] * arch["b"])}

    def evaluate_chunks(self, arch):
        for k in range(1, 5):
            yield {"accuracy": float(arch["a"] * arch["b"]), FRACTION: k / 4}


def _stopping(predicate):
    """A scheduler stopping a trial at its first result when ``predicate(config)``."""
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler

    class StopSome(FIFOScheduler):
        def on_trial_result(self, tune_controller, trial, result):
            return TrialScheduler.STOP if predicate(trial.config) else TrialScheduler.CONTINUE

    return StopSome()


def test_evaluate_in_chunks_checks_the_protocol():
    rows = list(evaluate_in_chunks({"a": 2, "b": 3}, Chunked(), "accuracy"))
    assert [r[FRACTION] for r in rows] == [0.25, 0.5, 0.75, 1.0]
    assert all(r["eval_time_s"] >= 0 for r in rows)
    assert chunks_of(Chunked()) == 4 and chunks_of(lambda arch: {}) == 1

    class Stalls(Chunked):
        def evaluate_chunks(self, arch):
            yield {"accuracy": 1.0, FRACTION: 0.5}

    with pytest.raises(ValueError, match="last result must be 1.0"):
        list(evaluate_in_chunks({"a": 1, "b": 1}, Stalls(), "accuracy"))

    class Shrinks(Chunked):
        def evaluate_chunks(self, arch):
            yield {"accuracy": 1.0, FRACTION: 0.5}
            yield {"accuracy": 1.0, FRACTION: 0.25}

    with pytest.raises(ValueError, match="growing"):
        list(evaluate_in_chunks({"a": 1, "b": 1}, Shrinks(), "accuracy"))


def test_make_scheduler_names_and_errors():
    from ray.tune.schedulers import AsyncHyperBandScheduler, MedianStoppingRule

    assert make_scheduler("none", metric="accuracy", mode="max", chunks=8) is None
    assert isinstance(make_scheduler("asha", metric="accuracy", mode="max", chunks=8), AsyncHyperBandScheduler)
    assert isinstance(make_scheduler("hyperband", metric="loss", mode="min", chunks=8), AsyncHyperBandScheduler)
    assert isinstance(make_scheduler("median", metric="accuracy", mode="max", chunks=8), MedianStoppingRule)
    with pytest.raises(ConfigError, match="unknown early-stop scheduler 'bohb'.*asha, hyperband, median"):
        make_scheduler("bohb", metric="accuracy", mode="max", chunks=8)
    with pytest.raises(ConfigError, match="reduction_factor"):
        make_scheduler("asha", metric="accuracy", mode="max", chunks=8, reduction_factor=1)


def test_is_full():
    assert is_full({"accuracy": 1.0}) and is_full({FRACTION: 1.0}) and not is_full({FRACTION: 0.5})


def test_search_refuses_a_scheduler_with_batched_trials(tmp_path):
    with pytest.raises(ConfigError, match="archs_per_trial=2"):
        raynas.search(SPACE, Chunked(), strategy="random", num_samples=4, scheduler="asha", archs_per_trial=2,
                      out_dir=tmp_path / "s")
    assert not (tmp_path / "s").exists()
    with pytest.raises(ConfigError, match="unknown early-stop"):
        raynas.search(SPACE, Chunked(), strategy="random", num_samples=4, scheduler="fast", out_dir=tmp_path / "s")


def test_stopped_subnets_are_recorded_told_and_never_best(ray_session, tmp_path):
    # every a == 4 subnet (the true best, a * b up to 12) is stopped after its first chunk
    result = raynas.search(SPACE, Chunked(), strategy="random", num_samples=12, max_concurrent=2, seed=0,
                           out_dir=tmp_path / "s", scheduler=_stopping(lambda c: c["a"] == 4))
    assert len(result.history) == 12
    stopped = [r for r in result.history if r["status"] == "stopped"]
    assert sorted(r["arch"]["b"] for r in stopped) == [1, 2, 3]
    assert all(r["arch"]["a"] == 4 and r[FRACTION] == 0.25 for r in stopped)
    assert all(r[FRACTION] == 1.0 for r in result.history if r["status"] == "ok")
    assert result.num_stopped == 3 and result.num_failed == 0
    # a stopped subnet reported 12 > 9, but only full evaluations can be best
    assert result.best_arch == {"a": 3, "b": 3} and result.best_metrics["accuracy"] == 9.0
    best = json.loads((tmp_path / "s" / "best.json").read_text())
    assert best["arch"] == {"a": 3, "b": 3}
    assert best["recheck"]["accuracy_full"] == 9.0 and best["recheck"]["status_in_search"] == "ok"
    assert best["metrics"][FRACTION] == 1.0
    # the per-chunk results reached Tune: full trials report 4 times, stopped ones once
    iterations = {r.metrics["trial_id"]: r.metrics["training_iteration"] for r in result.result_grid}
    by_id = {r["trial_id"]: r for r in result.history}
    for trial_id, iteration in iterations.items():
        assert iteration == (1 if by_id[trial_id]["status"] == "stopped" else 4)


def test_strategy_is_told_the_fraction():
    import strategies
    from strategies.searcher import StrategySearcher

    searcher = strategies.get("random", space=SPACE, metric="accuracy", mode="max", seed=0)
    assert isinstance(searcher, StrategySearcher)
    first, second = searcher.suggest("t1"), searcher.suggest("t2")
    searcher.on_trial_complete("t1", {"accuracy": 50.0, FRACTION: 0.25})
    searcher.on_trial_complete("t2", {"accuracy": 3.0, FRACTION: 1.0})
    strategy = searcher.strategy
    assert strategy.num_partial == 1 and strategy.num_told == 2
    assert strategy.best_score == 3.0 and strategy.best_arch == SPACE.canonical(second)
    assert first != second
    with pytest.raises(ConfigError, match="fraction"):
        strategy.tell(first, 1.0, fraction=0.0)


def test_when_every_subnet_is_stopped_the_best_is_evaluated_in_full(ray_session, tmp_path):
    result = raynas.search(SPACE, Chunked(), strategy="random", num_samples=5, max_concurrent=2, seed=3,
                           out_dir=tmp_path / "s", scheduler=_stopping(lambda c: True))
    assert all(r["status"] == "stopped" and r[FRACTION] == 0.25 for r in result.history)
    top = max(result.history, key=lambda r: r["accuracy"])
    assert result.best_arch == top["arch"]
    best = json.loads((tmp_path / "s" / "best.json").read_text())
    assert best["recheck"]["status_in_search"] == "stopped"
    assert best["metrics"][FRACTION] == 1.0 and best["metrics"]["accuracy"] == top["accuracy"]


def test_asha_stops_poor_subnets_of_a_chunked_evaluator(ray_session, tmp_path):
    space = search_spaces.get("tiny")
    evaluator = ToyEvaluator(space, chunks=4, noise=2.0)
    result = raynas.search(space, evaluator, strategy="random", num_samples=16, max_concurrent=2, seed=0,
                           out_dir=tmp_path / "s", scheduler="asha")
    statuses = [r["status"] for r in result.history]
    assert statuses.count("stopped") >= 1 and statuses.count("ok") >= 1 and "failed" not in statuses
    for row in result.history:
        assert 0 < row[FRACTION] <= 1.0
        assert (row["status"] == "ok") == (row[FRACTION] == 1.0)
    assert result.best_metrics[FRACTION] == 1.0
    full = [r for r in result.history if r["status"] == "ok"]
    assert result.best_metrics["accuracy"] == pytest.approx(max(r["accuracy"] for r in full))
    assert math.isclose(result.best_metrics["accuracy"], evaluator(result.best_arch)["accuracy"])
