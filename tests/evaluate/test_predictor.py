"""The accuracy predictor and PredictorEvaluator: encoding, fitting, files, the drop-in evaluator."""

from __future__ import annotations

import math
import pickle
import sys

import numpy as np
import pytest
import torch

import raynas
import search_spaces
from raynas.latency import LatencyTable, space_layers
from raynas.predictor import (
    AccuracyPredictor,
    PredictorConfig,
    fit_predictor,
    load_pairs,
    sample_archs,
    save_pairs,
    score_predictor,
    top_candidates,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = PredictorConfig(hidden_size=64, epochs=60, batch_size=32, lr=3e-3, seed=0)


@pytest.fixture(scope="module")
def space():
    return search_spaces.get("tiny")


def synthetic_accuracy(arch) -> float:
    """Accuracy that grows with resolution and depth, prefers kernel 5, with an interaction term."""
    depth = sum(arch[f"s{s}.depth"] for s in (1, 2, 3))
    kernels = [arch[f"s{s}.b{b}.kernel"] for s in (1, 2, 3) for b in range(arch[f"s{s}.depth"])]
    kernel_bonus = sum(1.0 if k == 5 else 0.0 for k in kernels) / len(kernels)
    return 80.0 + 0.4 * arch["resolution"] + 1.5 * depth + 3.0 * kernel_bonus + 0.3 * depth * (arch["resolution"] == 20)


def test_equal_canonical_archs_encode_and_predict_the_same(space):
    predictor = AccuracyPredictor(space, hidden_size=16)
    arch = {**space.smallest(), "s2.depth": 2, "s2.b1.kernel": 7, "s2.b1.expand": 6}
    # Blocks past a stage's depth are inactive: changing them gives the same network.
    twin = {**arch, "s1.b2.kernel": 7, "s1.b2.expand": 6, "s3.b1.kernel": 5}
    assert space.canonical(arch) == space.canonical(twin)
    x = predictor.encode([arch, twin])
    assert torch.equal(x[0], x[1])
    assert predictor.predict(arch) == predictor.predict(twin)
    # An active change is a different input; the resolution is part of the encoding.
    different = {**arch, "s2.b1.kernel": 5}
    bigger = {**arch, "resolution": 20}
    x = predictor.encode([arch, different, bigger])
    assert not torch.equal(x[0], x[1]) and not torch.equal(x[0], x[2])
    assert x.shape == (3, len(space.encode(arch))) and predictor.input_size == x.shape[1]


def test_fitted_predictor_beats_a_constant_on_held_out_pairs(space):
    archs = sample_archs(space, 260, seed=0)
    targets = [synthetic_accuracy(a) for a in archs]
    train, test = slice(0, 200), slice(200, 260)
    predictor = fit_predictor(space, archs[train], targets[train], SMALL)
    scores = score_predictor(predictor, archs[test], targets[test])
    constant_rmse = float(np.sqrt(np.mean((np.array(targets[test]) - np.mean(targets[train])) ** 2)))
    assert scores["rmse"] < 0.5 * constant_rmse, (scores, constant_rmse)
    assert scores["kendall_tau"] > 0.6, scores
    assert predictor.meta["num_pairs"] == 200 and predictor.meta["config"]["hidden_size"] == 64


def test_fitting_is_seeded(space):
    archs = sample_archs(space, 40, seed=1)
    targets = [synthetic_accuracy(a) for a in archs]
    config = PredictorConfig(hidden_size=16, epochs=5, seed=3)
    a = fit_predictor(space, archs, targets, config).predict_many(archs)
    b = fit_predictor(space, archs, targets, config).predict_many(archs)
    np.testing.assert_array_equal(a, b)


def test_predictor_file_round_trip_is_weights_only(space, tmp_path):
    archs = sample_archs(space, 30, seed=2)
    predictor = fit_predictor(space, archs, [synthetic_accuracy(a) for a in archs],
                              PredictorConfig(hidden_size=16, epochs=3), meta={"checkpoint": "/x/supernet.pt"})
    path = predictor.save(tmp_path / "p.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["space"] == "tiny" and raw["num_layers"] == 3 and raw["hidden_size"] == 16
    loaded = AccuracyPredictor.load(path)
    np.testing.assert_allclose(loaded.predict_many(archs), predictor.predict_many(archs), rtol=0, atol=1e-5)
    assert loaded.meta["checkpoint"] == "/x/supernet.pt" and loaded.meta["num_pairs"] == 30
    other = search_spaces.get("tiny", resolutions=(12, 16))
    with pytest.raises(raynas.InvalidCheckpoint):
        AccuracyPredictor.load(path, space=other)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(raynas.InvalidCheckpoint, match="could not be read"):
        AccuracyPredictor.load(tmp_path / "junk.pt")


def test_config_and_input_errors(space):
    with pytest.raises(raynas.ConfigError, match="epochs"):
        PredictorConfig(epochs=0)
    with pytest.raises(raynas.ConfigError, match="lr"):
        PredictorConfig(lr=-1.0)
    with pytest.raises(raynas.ConfigError, match="valid keys"):
        PredictorConfig.from_dict({"hidden": 3})
    with pytest.raises(raynas.ConfigError, match="same length"):
        fit_predictor(space, [space.smallest()] * 3, [1.0, 2.0])
    with pytest.raises(raynas.ConfigError, match="finite"):
        fit_predictor(space, [space.smallest()] * 2, [1.0, math.nan])


def _table(space) -> LatencyTable:
    entries = {layer.key: 0.01 * (1 + layer.resolution) for layer in space_layers(space)}
    return LatencyTable(entries, space=space.name, device={"kind": "cpu", "name": "synthetic"}, overhead_ms=0.1)


def test_predictor_evaluator_is_a_drop_in_evaluator(space, tmp_path):
    archs = sample_archs(space, 30, seed=4)
    predictor = fit_predictor(space, archs, [synthetic_accuracy(a) for a in archs],
                              PredictorConfig(hidden_size=16, epochs=3))
    table = _table(space)
    evaluator = raynas.PredictorEvaluator(predictor, latency_table=table)
    arch = archs[0]
    metrics = evaluator(arch)
    assert metrics == {
        "accuracy": pytest.approx(predictor.predict(arch)),
        "flops": float(space.flops(arch)),
        "params": float(space.params(arch)),
        "latency_ms": pytest.approx(space.latency(arch, table)),
    }
    assert "latency_ms" not in raynas.PredictorEvaluator(predictor)(arch)
    # Files work too, and the evaluator survives pickling (it is shipped to Tune workers).
    from_files = raynas.PredictorEvaluator(predictor.save(tmp_path / "p.pt"), table.save(tmp_path / "t.json"))
    assert from_files(arch)["latency_ms"] == pytest.approx(metrics["latency_ms"])
    assert pickle.loads(pickle.dumps(from_files))(arch)["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-5)
    with pytest.raises(raynas.ConfigError, match="space"):
        raynas.PredictorEvaluator(predictor, LatencyTable({"k": 1.0}, space="other"))


def test_pairs_files_and_top_candidates(space, tmp_path):
    archs = sample_archs(space, 6, seed=5)
    rows = [{"arch": a, "accuracy": float(i)} for i, a in enumerate(archs)] + [{"arch": archs[0], "error": "boom"}]
    payload = load_pairs(save_pairs(tmp_path / "pairs.json", rows, space=space, meta={"seed": 5}))
    assert payload["space"] == "tiny" and payload["rows"] == rows and payload["meta"] == {"seed": 5}
    history = [{**r, "status": "ok"} for r in rows[:-1]] + [{"arch": archs[5], "accuracy": 99.0, "status": "failed"}]
    history.append({"arch": dict(archs[5]), "accuracy": 5.0, "status": "ok"})  # a repeat of the best
    top = top_candidates(history, 3, space=space)
    assert [r["accuracy"] for r in top] == [5.0, 4.0, 3.0]
    with pytest.raises(raynas.ConfigError, match="distinct feasible"):
        sample_archs(search_spaces.ChoiceSpace({"a": (1, 2)}, name="two"), 3)


ray_cloudpickle = pytest.importorskip("ray.cloudpickle")
ray_cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_search_on_the_predictor_under_a_latency_budget(ray_session, space, tmp_path):
    """Through raynas.search (Ray Tune): every trial's predicted latency is within the budget."""
    archs = sample_archs(space, 40, seed=6)
    predictor = fit_predictor(space, archs, [synthetic_accuracy(a) for a in archs],
                              PredictorConfig(hidden_size=16, epochs=5))
    table = _table(space)
    latencies = sorted(space.latency(a, table) for a in archs)
    budget = latencies[len(latencies) // 2]
    result = raynas.search(space, raynas.PredictorEvaluator(predictor, latency_table=table), strategy="evolution",
                           num_samples=12, max_concurrent=2, seed=0, out_dir=tmp_path / "s",
                           constraints=raynas.Constraints(max_latency_ms=budget, latency_table=table))
    ok = [r for r in result.history if r["status"] == "ok"]
    assert len(ok) == 12
    for row in ok:
        assert row["latency_ms"] <= budget
        assert row["latency_ms"] == pytest.approx(space.latency(row["arch"], table))
        assert row["accuracy"] == pytest.approx(predictor.predict(row["arch"]), abs=1e-4)
    assert result.best_arch is not None
