"""Several architectures per Tune trial: BatchSearcher alone, then through raynas.search."""

import math
import re
import sys

import pytest

import raynas
import search_spaces
import strategies
from raynas.tune.batch import BATCH_KEY, BatchSearcher, sub_trial_id

ray_cloudpickle = pytest.importorskip("ray.cloudpickle")
ray_cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = search_spaces.ChoiceSpace({"a": (1, 2, 3, 4), "b": (1, 2, 3)}, name="toy")


class Product:
    def __call__(self, arch):
        return {"accuracy": float(arch["a"] * arch["b"])}


class FailsOnFour:
    def __call__(self, arch):
        if arch["a"] == 4:
            raise RuntimeError("simulated evaluator crash")
        if arch["a"] == 3:
            return {"accuracy": math.nan}
        return {"accuracy": float(arch["a"] * arch["b"])}


def _inner(seed=0, name="random", **options):
    searcher = strategies.get(name, space=SPACE, seed=seed, **options)
    searcher.set_search_properties("accuracy", "max", {})
    return searcher


def test_batches_carry_the_inner_proposals_in_order_and_stop_at_the_budget():
    plain = _inner()
    expected = [plain.suggest(f"p{i}") for i in range(10)]
    batch = BatchSearcher(_inner(), archs_per_trial=4, total=10)
    configs = [batch.suggest(f"t{i}") for i in range(4)]
    assert [len(c[BATCH_KEY]) for c in configs[:3]] == [4, 4, 2]  # the last one carries what is left
    assert [a for c in configs[:3] for a in c[BATCH_KEY]] == expected
    assert configs[3] == "FINISHED"


def test_each_entry_is_told_to_the_inner_searcher_and_errors_as_failures():
    told = []

    class Spy:
        metric, mode = "accuracy", "max"

        def suggest(self, trial_id):
            return {"a": 1, "b": 1}

        def on_trial_complete(self, trial_id, result=None, error=False):
            told.append((trial_id, result, error))

    batch = BatchSearcher(Spy(), archs_per_trial=3, total=9)
    batch.suggest("t0")
    batch.suggest("t1")
    batch.on_trial_complete("t0", {BATCH_KEY: [{"accuracy": 1.0}, {"error": "boom"}, {"accuracy": 2.0}]})
    batch.on_trial_complete("t1", None, error=True)
    batch.on_trial_complete("t1", None, error=True)  # twice: ignored
    assert told == [
        (sub_trial_id("t0", 0), {"accuracy": 1.0}, False),
        (sub_trial_id("t0", 1), None, True),
        (sub_trial_id("t0", 2), {"accuracy": 2.0}, False),
        ("t1/0", None, True), ("t1/1", None, True), ("t1/2", None, True),
    ]


def test_save_restore_continues_the_same_sequence(tmp_path):
    def drive(searcher, start, count):
        out = []
        for i in range(start, start + count):
            config = searcher.suggest(f"t{i}")
            out.append(config)
            searcher.on_trial_complete(f"t{i}", {BATCH_KEY: [{"accuracy": float(a["a"] * a["b"])}
                                                             for a in config[BATCH_KEY]]})
        return out

    reference = BatchSearcher(_inner(name="evolution", population_size=4, sample_size=2, dedupe=False), 3, 60)
    expected = drive(reference, 0, 8)
    first = BatchSearcher(_inner(name="evolution", population_size=4, sample_size=2, dedupe=False), 3, 60)
    head = drive(first, 0, 4)
    first.save(str(tmp_path / "ckpt.pkl"))
    bare = BatchSearcher(_inner(name="evolution", seed=99, population_size=4, sample_size=2, dedupe=False), 3, 60)
    bare.restore(str(tmp_path / "ckpt.pkl"))
    assert head + drive(bare, 4, 4) == expected


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_bad_archs_per_trial_is_refused_with_the_value(value):
    with pytest.raises(raynas.ConfigError, match=rf"archs_per_trial must be an int( >= 1)?, got {re.escape(repr(value))}"):
        raynas.search(SPACE, Product(), strategy="random", num_samples=4, archs_per_trial=value)


def test_search_with_batches_records_one_row_per_architecture(ray_session, tmp_path):
    result = raynas.search(SPACE, Product(), strategy="evolution", num_samples=10, max_concurrent=2, seed=0,
                           out_dir=tmp_path / "s", archs_per_trial=4,
                           strategy_options={"population_size": 4, "sample_size": 2})
    assert len(result.history) == 10
    trials = {row["trial_id"].split("/")[0] for row in result.history}
    assert len(trials) == 3  # 4 + 4 + 2
    for row in result.history:
        assert row["status"] == "ok" and row["accuracy"] == row["arch"]["a"] * row["arch"]["b"]
        assert row["node_id"] and row["eval_time_s"] >= 0
    assert result.best_metrics["accuracy"] == max(r["accuracy"] for r in result.history)
    assert (tmp_path / "s" / "history.csv").read_text().count("\n") == 11


def test_a_failing_architecture_fails_alone_in_its_batch(ray_session, tmp_path):
    result = raynas.search(SPACE, FailsOnFour(), strategy="random", num_samples=12, max_concurrent=1, seed=1,
                           out_dir=tmp_path / "s", archs_per_trial=6)
    assert len(result.history) == 12
    failed = [r for r in result.history if r["status"] == "failed"]
    assert failed and len(failed) < 12
    for row in failed:
        assert row["arch"]["a"] in (3, 4)
        assert ("simulated evaluator crash" in row["error"]) or ("non-finite" in row["error"])
    assert all(r["arch"]["a"] in (1, 2) for r in result.history if r["status"] == "ok")


@pytest.mark.parametrize("kwargs, message", [
    ({"gpus_per_trial": 1000.0}, "gpus_per_trial=1000.0 fits on no node of this Ray cluster: the most GPU on one node"),
    ({"cpus_per_trial": 64.0}, "cpus_per_trial=64.0 fits on no node of this Ray cluster"),
    ({"gpus_per_trial": -1.0}, "gpus_per_trial must be a number >= 0, got -1.0"),
    ({"cpus_per_trial": 0}, "cpus_per_trial must be a number > 0, got 0"),
])
def test_trial_resources_no_node_can_hold_are_refused(ray_session, tmp_path, kwargs, message):
    with pytest.raises(raynas.ConfigError, match=message):
        raynas.search(SPACE, Product(), strategy="random", num_samples=2, out_dir=tmp_path / "s", **kwargs)


def test_resume_keeps_the_rows_of_finished_batches_only(tmp_path):
    from types import SimpleNamespace

    from raynas.tune.search import _append_csv, _reconcile_history, read_history

    path = tmp_path / "history.csv"
    rows = [{"trial_id": tid, "status": "ok", "arch": {"a": 1, "b": 1}, "wall_time_s": 1.0, "accuracy": 1.0,
             "node_id": "n", "error": ""} for tid in ("aa_00000/0", "aa_00000/1", "aa_00001/0", "aa_00002")]
    for row in rows:
        _append_csv(path, row)
    # the restored experiment knows trials aa_00000 (a batch) and aa_00002 (single) as finished
    restored = [SimpleNamespace(metrics={"trial_id": "aa_00000"}, error=None, path=None),
                SimpleNamespace(metrics={"trial_id": "aa_00002"}, error=None, path=None)]
    kept = _reconcile_history(path, restored)
    assert [r["trial_id"] for r in kept] == ["aa_00000/0", "aa_00000/1", "aa_00002"]
    assert [r["trial_id"] for r in read_history(path)] == ["aa_00000/0", "aa_00000/1", "aa_00002"]
