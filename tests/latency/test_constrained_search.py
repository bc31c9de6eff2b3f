"""A search under a latency budget never proposes an architecture whose predicted latency is over budget.

Every registered strategy is driven directly through the searcher ``strategies.get`` builds
(no Ray cluster), scored by a ``PredictorEvaluator`` that carries the same latency table.
The predictor is fitted to an accuracy that grows with FLOPs, so every strategy is pulled
towards the budget's edge.
"""

from __future__ import annotations

import logging
import math
import random
import statistics

import pytest

import raynas
import search_spaces
import strategies
from strategies import testing
from raynas.latency import LatencyTable
from raynas.predictor import PredictorConfig, fit_predictor

logging.getLogger("optuna").setLevel(logging.WARNING)


@pytest.fixture(scope="module")
def hardware(synthetic_entries):
    space = search_spaces.get("tiny")
    table = LatencyTable(synthetic_entries(space), space=space.name, space_kwargs=space.kwargs,
                         device={"kind": "cpu", "name": "synthetic"}, overhead_ms=0.05)
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(64)]
    budget = statistics.median(space.latency(a, table) for a in archs)
    targets = [80.0 + 2.0 * math.log(space.flops(a)) for a in archs]
    config = PredictorConfig(hidden_size=32, epochs=20, weight_decay=1e-4, seed=0)
    predictor = fit_predictor(space, archs, targets, config)
    return space, table, budget, raynas.PredictorEvaluator(predictor, latency_table=table)


@pytest.mark.parametrize("name", strategies.available())
def test_no_proposal_is_over_the_latency_budget(name, hardware):
    space, table, budget, evaluator = hardware
    assert space.latency(space.largest(), table) > budget > space.latency(space.smallest(), table)
    constraints = raynas.Constraints(max_latency_ms=budget, latency_table=table)
    searcher = testing.make_searcher(name, space, seed=0, constraints=constraints)
    archs, _ = testing.run_searcher(searcher, lambda a: evaluator(a)["accuracy"], 30, concurrency=2, name=name)
    assert len(archs) >= 10, f"{name} proposed only {len(archs)} architectures"
    latencies = [evaluator(a)["latency_ms"] for a in archs]
    over = [(a, ms) for a, ms in zip(archs, latencies) if ms > budget]
    assert not over, f"{name} proposed {len(over)} architectures over {budget:.4f} ms, e.g. {over[0]}"
    assert all(ms == space.latency(a, table) for a, ms in zip(archs, latencies))


def test_an_impossible_budget_is_refused_up_front(hardware):
    space, table, _, _ = hardware
    smallest = space.latency(space.smallest(), table)
    constraints = raynas.Constraints(max_latency_ms=smallest * 0.5, latency_table=table)
    with pytest.raises(raynas.InfeasibleConstraints, match="latency_ms"):
        strategies.get("random", space=space, constraints=constraints)
