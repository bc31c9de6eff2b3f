"""SupernetEvaluator(val_chunks=N): BN re-calibrated once, metrics after each chunk of a fixed,
seeded order of the validation images; the last chunk equals the whole-set evaluation."""

import pytest
import torch
from torch.utils.data import TensorDataset

import search_spaces
from raynas.data import EvalData, from_datasets
from raynas.errors import ConfigError
from raynas.evaluate.supernet import SupernetEvaluator


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, one_torch_thread):
    torch.manual_seed(0)
    net = search_spaces.get("tiny").build_supernet(num_classes=10)
    return str(net.save(tmp_path_factory.mktemp("supernet") / "supernet.pt"))


def _data(n_val=50):
    g = torch.Generator().manual_seed(1)
    train = TensorDataset(torch.randn(64, 1, 8, 8, generator=g), torch.randint(10, (64,), generator=g))
    # class-sorted labels, as an image folder lists them
    val = TensorDataset(torch.randn(n_val, 1, 8, 8, generator=g), torch.arange(n_val) * 10 // n_val)
    return from_datasets(train, val, 10)


def test_chunks_are_a_fixed_seeded_order_of_the_whole_set():
    data = _data()
    chunks = list(EvalData(data, batch_size=8, seed=0).validation_chunks(None, 3))
    again = list(EvalData(data, batch_size=8, seed=0).validation_chunks(None, 3))
    labels = [torch.cat([y for _, y in c.batches]) for c in chunks]
    labels_again = [torch.cat([y for _, y in c.batches]) for c in again]
    assert all(torch.equal(a, b) for a, b in zip(labels, labels_again))  # same images, same order
    assert [c.fraction for c in chunks] == [pytest.approx(16 / 50), pytest.approx(40 / 50), 1.0]  # 7 batches: 2, 5, 7
    seen = torch.cat(labels)
    assert len(seen) == 50 and sorted(seen.tolist()) == sorted(data.val.tensors[1].tolist())
    assert len(set(labels[0].tolist())) > 2  # shuffled: the first chunk is not one or two classes
    with pytest.raises(ConfigError, match="chunks=8 needs at least 8 validation batches"):
        list(EvalData(data, batch_size=16, seed=0).validation_chunks(None, 8))


def test_evaluate_chunks_ends_at_the_whole_set(checkpoint):
    evaluator = SupernetEvaluator(checkpoint, dataset="digits", val_chunks=4, batch_size=64, threads=1)
    plain = SupernetEvaluator(checkpoint, dataset="digits", batch_size=64, threads=1)
    space = search_spaces.get("tiny")
    arch = space.sample(__import__("random").Random(0))
    results = list(evaluator.evaluate_chunks(arch))
    assert evaluator.num_chunks == 4 and len(results) == 4
    fractions = [r["fraction_evaluated"] for r in results]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and fractions[0] < 0.5
    whole = plain(arch)
    assert results[-1]["accuracy"] == pytest.approx(whole["accuracy"], abs=1e-9)
    assert results[-1]["loss"] == pytest.approx(whole["loss"], rel=1e-4)
    assert evaluator(arch)["accuracy"] == results[-1]["accuracy"]
    assert all(r["flops"] == space.flops(space.canonical(arch)) for r in results)
    with pytest.raises(ConfigError, match="val_chunks"):
        SupernetEvaluator(checkpoint, val_chunks=0)
