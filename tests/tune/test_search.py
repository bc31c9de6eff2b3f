"""raynas.search end to end on a local Ray, with a plain choice space and toy evaluators."""

import json
import math
import sys

import pytest

import raynas
import search_spaces

ray_cloudpickle = pytest.importorskip("ray.cloudpickle")
# Ray workers cannot import test modules: ship this module's evaluators by value.
ray_cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = search_spaces.ChoiceSpace({"a": (1, 2, 3, 4), "b": (1, 2, 3)}, name="toy",
                                  flops=lambda arch: 10.0 * arch["a"] * arch["b"])


class Product:
    def __call__(self, arch):
        return {"accuracy": float(arch["a"] * arch["b"]), "flops": SPACE.flops(arch)}


class FailsOnFour:
    """Raises for a == 4 and returns NaN for a == 3: both must be recorded as failed."""

    def __call__(self, arch):
        if arch["a"] == 4:
            raise RuntimeError("simulated evaluator crash")
        if arch["a"] == 3:
            return {"accuracy": math.nan}
        return {"accuracy": float(arch["a"] * arch["b"])}


def test_search_records_every_trial_and_the_best(ray_session, tmp_path):
    result = raynas.search(SPACE, Product(), strategy="random", num_samples=8, max_concurrent=2, seed=0,
                           out_dir=tmp_path / "s")
    assert len(result.history) == 8
    for row in result.history:
        SPACE.validate(row["arch"])
        assert row["status"] == "ok" and math.isfinite(row["accuracy"])
        assert row["accuracy"] == row["arch"]["a"] * row["arch"]["b"]
    assert result.best_metrics["accuracy"] == max(r["accuracy"] for r in result.history)
    best = json.loads((tmp_path / "s" / "best.json").read_text())
    assert best["arch"] == result.best_arch
    assert (tmp_path / "s" / "history.csv").read_text().count("\n") == 9
    assert (tmp_path / "s" / "tune").is_dir()
    assert "Best accuracy:" in (tmp_path / "s" / "report.html").read_text()


def test_failed_trials_are_recorded_and_never_best(ray_session, tmp_path):
    result = raynas.search(SPACE, FailsOnFour(), strategy="random", num_samples=12, max_concurrent=2, seed=1,
                           out_dir=tmp_path / "s")
    assert len(result.history) == 12  # the search went on
    failed = [r for r in result.history if r["status"] == "failed"]
    assert failed, "the seeded sample should hit a == 3 or a == 4"
    for row in failed:
        assert row["arch"]["a"] in (3, 4)
        assert ("simulated evaluator crash" in row["error"]) or ("non-finite" in row["error"])
    assert result.best_arch["a"] in (1, 2)


def test_constraints_are_honoured(ray_session, tmp_path):
    result = raynas.search(SPACE, Product(), strategy="random", num_samples=5, max_concurrent=2,
                           constraints=raynas.Constraints(max_flops=40), out_dir=tmp_path / "s")
    assert all(SPACE.flops(r["arch"]) <= 40 for r in result.history)


def test_infeasible_constraints_fail_before_ray_work(tmp_path):
    with pytest.raises(raynas.InfeasibleConstraints, match="smallest achievable flops is 10"):
        raynas.search(SPACE, Product(), strategy="random", num_samples=5,
                      constraints=raynas.Constraints(max_flops=5), out_dir=tmp_path / "s")
    assert not (tmp_path / "s").exists()
